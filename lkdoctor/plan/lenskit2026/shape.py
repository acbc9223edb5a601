"""LensKit 2026's plan shape: the report's plan in this line (settings with their sources),
each setting, the settings LensKit rejects or ignores, and LensKit's own resolution."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from lkdoctor.model import PlanBase, StrictModel


class SettingValue(StrictModel):
    """One LensKit 2026 setting as resolved, and where its value came from."""

    value: int | bool
    source: str = Field(
        description="default, derived, the variable's name (LK_X, LK_PARALLEL__X, LK_PARALLEL) "
        "or the path of the lenskit.toml / lenskit.local.toml that set it"
    )
    line: int | None = Field(default=None, description="the line of the file that set it")
    detail: str = Field(default="", description="how the value was derived from what was set")


class SettingsProblem(StrictModel):
    """A LensKit 2026 setting the installed LensKit rejects or ignores, or a settings file
    so large that reading it costs every lenskit command (settings-file-large)."""

    kind: Literal["env-invalid", "env-ignored", "settings-file-invalid", "settings-file-large"]
    where: str = Field(description="the variable's name, or the settings file's path")
    line: int | None = Field(default=None, description="the line of the file, when known")
    value: str = ""
    message: str = Field(description="LensKit's (pydantic's, tomllib's) own message, or why")
    fails: Literal["import", "configure"] | None = Field(
        default=None,
        description="import: `import lenskit.config` fails; configure: every lenskit command "
        "(and lenskit_config()) fails; null: not fatal",
    )
    equivalent: str | None = Field(
        default=None, description="a value LensKit 2026 accepts that means what was meant"
    )


class LensKit2026Settings(StrictModel):
    """LensKit 2026's resolved parallel settings (``ParallelSettings`` after its defaults)."""

    num_cpus: int
    num_threads: int
    num_backend_threads: int
    num_batch_jobs: int
    use_ray: bool


class ThreadPlan2026(PlanBase):
    """The plan in LensKit 2026's dialect: settings with sources (variables, lenskit.toml)."""

    dialect: Literal["2026"] = Field(
        default="2026", description="the LensKit configuration dialect the plan is resolved in"
    )
    lenskit_resolved: LensKit2026Settings | None = Field(
        default=None, description="the parallel settings the installed LensKit's own code resolves"
    )
    settings: dict[str, SettingValue] = Field(
        default_factory=dict,
        description="num_cpus, num_threads, num_backend_threads, num_batch_jobs, use_ray, "
        "each with its source",
    )
    batch_mode: Literal["sequential", "thread-pool", "ray"] = Field(
        default="sequential", description="how LensKit runs batch inference"
    )
    demand_model: str = Field(default="", description="what runs at once at the peak, in words")
    project_root: str | None = Field(
        default=None, description="the folder LensKit's CLI reads lenskit.toml from"
    )
    settings_files: list[str] = Field(
        default_factory=list, description="the settings files that exist and are read"
    )
    settings_problems: list[SettingsProblem] = Field(default_factory=list)
