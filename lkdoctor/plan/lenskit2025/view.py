"""What LensKit 2025's plan shows beside its levels: that they follow the documented rule,
and the levels the installed LensKit's own code resolves."""

from __future__ import annotations

from lkdoctor.plan.lenskit2025.checks import lenskit_agrees
from lkdoctor.plan.lenskit2025.shape import ThreadPlan2025
from lkdoctor.plan.view import OwnAnswer, PlanDetails


def details(plan: ThreadPlan2025) -> PlanDetails:
    own = plan.lenskit_resolved
    answer = None
    if own is not None:
        answer = OwnAnswer(
            version=plan.lenskit_version, noun="plan", agrees=bool(lenskit_agrees(plan)), levels=own
        )
    return PlanDetails(basis=f"As documented (resolved with {plan.cpu_count} CPUs)", answer=answer)
