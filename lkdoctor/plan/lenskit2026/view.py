"""What LensKit 2026's plan shows beside its levels: each setting with its source, how batch
work runs, and the settings the installed LensKit's own code resolves."""

from __future__ import annotations

from lkdoctor.plan.lenskit2026.checks import differing_settings
from lkdoctor.plan.lenskit2026.shape import ThreadPlan2026
from lkdoctor.plan.view import DetailRow, OwnAnswer, PlanDetails


def details(plan: ThreadPlan2026) -> PlanDetails:
    rows = [
        DetailRow(
            label=name,
            value=str(setting.value),
            source=setting.source + (f":{setting.line}" if setting.line else ""),
            how=setting.detail,
        )
        for name, setting in plan.settings.items()
    ]
    facts = [DetailRow(label="batch work", value=plan.demand_model)] if plan.demand_model else []
    own = plan.lenskit_resolved
    answer = None
    if own is not None:
        differing = differing_settings(plan)
        answer = OwnAnswer(
            version=plan.lenskit_version,
            noun="settings",
            agrees=not differing,
            rows=[DetailRow(label=n, value=str(v)) for n, v in own.model_dump().items()],
            differing=[DetailRow(label=n, value=str(getattr(own, n))) for n in differing],
        )
    return PlanDetails(rows=rows, noun="setting", facts=facts, answer=answer)
