"""The whole report: the sections of :mod:`lkdoctor.model`, with the thread plan in the shape
of one of the registered LensKit lines.

The plan's type is the union of the `plan_shape` of every line in
`lkdoctor.plan.lines.LINES`, told apart by the ``dialect`` key, so registering a line
with a plan shape of its own is all the report model (and its JSON Schema) needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias, Union

from pydantic import Field

from lkdoctor.model import (
    SCHEMA_VERSION,
    Bench,
    ClusterSummary,
    Comparison,
    CpuBudget,
    EnvironmentInfo,
    ErrorEntry,
    Finding,
    Observed,
    PlanBase,
    PlanSignature,
    Pools,
    Severity,
    StrictModel,
    ToolInfo,
    Verdict,
    Workers,
    plan_signature,
    worst_severity,
)
from lkdoctor.plan.lines import LINES


def plan_union(shapes: Sequence[type[PlanBase]]) -> Any:
    """One type for the plans of ``shapes``, told apart by their ``dialect`` key."""
    if len(shapes) == 1:  # a discriminator needs a union of two or more
        return shapes[0]
    # Union[...] of a tuple: the members are known only at run time, so `A | B` cannot say it
    return Annotated[Union[tuple(shapes)], Field(discriminator="dialect")]  # noqa: UP007


if TYPE_CHECKING:  # the registry is read at run time: type checkers see what every plan has
    ThreadPlan: TypeAlias = PlanBase
else:
    #: The plan, one shape per registered LensKit line.
    ThreadPlan = plan_union([line.plan_shape() for line in LINES])


class ClusterNode(StrictModel):
    """One alive Ray node and the report its own collector produced there."""

    node_id: str
    ip: str
    hostname: str | None = None
    is_head: bool = False
    ray_resources: dict[str, float] = Field(
        default_factory=dict, description="the resources this node advertises to Ray"
    )
    ray_cpus: float | None = Field(default=None, description="ray_resources['CPU']")
    status: Literal["ok", "timeout", "failed"] = Field(
        description="ok: report collected; timeout/failed: see errors[] (section cluster)"
    )
    seconds: float | None = Field(default=None, description="time until the node answered")
    report: Report | None = Field(
        default=None, description="the single-machine report collected on that node"
    )

    @property
    def short_id(self) -> str:
        """The start of the node id, enough to tell a cluster's nodes apart."""
        return self.node_id[:8]

    @property
    def label(self) -> str:
        """How every message names the node: ``1a2b3c4d (10.0.0.1, head)``."""
        return f"{self.short_id} ({self.ip}{', head' if self.is_head else ''})"


class ClusterReport(StrictModel):
    """``--ray``: one report per alive node of an existing Ray cluster."""

    address: str = Field(description="the cluster address connected to")
    ray_version: str | None = None
    nodes: list[ClusterNode] = Field(default_factory=list)
    summary: ClusterSummary


class Report(StrictModel):
    schema_version: str = SCHEMA_VERSION
    tool: ToolInfo
    cpu: CpuBudget | None = None
    plan: ThreadPlan | None = None
    pools: Pools | None = None
    bench: Bench = Field(default_factory=lambda: Bench(verdict=Verdict.SKIPPED))
    environment: EnvironmentInfo | None = None
    cluster: ClusterReport | None = Field(
        default=None, description="--ray: every node of a Ray cluster; null otherwise"
    )
    observed: Observed | None = Field(
        default=None, description="--pid's process tree or -- COMMAND's run, as observed"
    )
    workers: Workers | None = Field(
        default=None,
        description="batch workers: how the installed LensKit runs batch work, the start "
        "method of each part, scripts checked and workers observed",
    )
    comparison: Comparison | None = Field(
        default=None,
        description="--compare -- COMMAND: the command under the current settings and under "
        "the suggested exports; null otherwise",
    )
    findings: list[Finding] = Field(default_factory=list)
    errors: list[ErrorEntry] = Field(default_factory=list)

    def worst_severity(self) -> Severity | None:
        findings = list(self.findings)
        if self.cluster is not None:  # --ray: every node's own findings count too
            findings += [f for n in self.cluster.nodes if n.report for f in n.report.findings]
        return worst_severity(findings)

    def plan_signature(self) -> PlanSignature:
        """The shape of this report's thread plan; ``()`` when it has none."""
        return plan_signature(self.plan.levels) if self.plan is not None else ()


ClusterNode.model_rebuild()  # its `report` field refers to Report, defined after it


def report_json_schema() -> dict[str, Any]:
    """The JSON Schema of `Report`, as `--json-schema` prints it."""
    schema = Report.model_json_schema(mode="serialization")
    if "$ref" in schema:  # Report is recursive (cluster nodes hold reports): inline the root
        schema.update(schema["$defs"][schema.pop("$ref").rsplit("/", 1)[-1]])
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = f"lkdoctor report {SCHEMA_VERSION}"
    return schema
