"""What the toy line shows beside its level: its one setting with its source, and a fact."""

from __future__ import annotations

from lkdoctor.plan.view import DetailRow, PlanDetails

from .shape import ThreadPlan2099

TOY_FACT = "one process, no backend pools"


def details(plan: ThreadPlan2099) -> PlanDetails:
    threads = DetailRow(
        label="threads", value=str(plan.levels[0].threads), source=plan.threads_source
    )
    return PlanDetails(
        rows=[threads], noun="setting", facts=[DetailRow(label="toy pool", value=TOY_FACT)]
    )
