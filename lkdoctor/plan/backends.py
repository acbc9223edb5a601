"""What the backends' own thread variables (OMP_NUM_THREADS, OPENBLAS_NUM_THREADS, ...) do
to LensKit's plan: the same in every dialect, since LensKit sizes the backends the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from lkdoctor.model import BackendSetting, EnvProblem
from lkdoctor.plan.parse import BACKEND_VARIABLES, parse_backend, shown
from lkdoctor.pools.kinds import Blas, OpenMP, PlanContext, owner_of


def _blas_fallback(environ: Mapping[str, str], cpus: int) -> tuple[int, str]:
    """Threads OpenBLAS starts without a usable OPENBLAS_NUM_THREADS: OMP's, else one per CPU."""
    variable = OpenMP.variables[0]
    omp = parse_backend(variable, environ.get(variable.name)).first
    if omp is not None:
        return omp, variable.name
    return cpus, "one per CPU"


def _invalid_blas_setting(name: str, value: str, context: PlanContext) -> BackendSetting:
    """An unusable OPENBLAS_ / MKL_NUM_THREADS: LensKit still skips its limit (it tests
    presence, not value), and the library starts its own default."""
    fallback, source = context.blas_fallback
    what = "empty" if not value else "not a usable count"
    return BackendSetting(
        variable=name,
        value=shown(value),
        threads=fallback,
        counted=True,
        effect=f"LensKit skips its BLAS limit (threadpoolctl) because {name} is set, and it is "
        f"{what}, so the library starts {fallback} threads ({source}) per process at every level",
    )


def _setting(name: str, value: str, number: int | None, context: PlanContext) -> BackendSetting:
    if number is None:
        return BackendSetting(
            variable=name,
            value=shown(value),
            threads=None,
            counted=False,
            effect="ignored by the library, which uses its own default",
        )
    found = owner_of(name).plan_effect(name, number, context)
    return BackendSetting(
        variable=name,
        value=value,
        threads=found.threads,
        counted=found.counted,
        effect=found.effect,
    )


def backend_settings(
    environ: Mapping[str, str], cpus: int
) -> tuple[list[BackendSetting], list[EnvProblem]]:
    """What each backend variable that is set does to LensKit's plan (LensKit's process pool)."""
    # LensKit tests presence, not value: an empty OPENBLAS_NUM_THREADS still skips the limit.
    context = PlanContext(
        environ=environ,
        cpus=cpus,
        blas_skipped=any(name in environ for name in Blas.LENSKIT_SKIPS_WHEN_SET),
        blas_fallback=_blas_fallback(environ, cpus),
    )
    settings, problems = [], []
    for variable in BACKEND_VARIABLES:
        if variable.name not in environ:
            continue
        value = environ[variable.name]
        parsed = parse_backend(variable, value)
        if parsed.problem is not None:
            problems.append(parsed.problem)
        if variable.name in Blas.LENSKIT_SKIPS_WHEN_SET and parsed.first is None:
            settings.append(_invalid_blas_setting(variable.name, value, context))
        elif value or variable.name in Blas.LENSKIT_SKIPS_WHEN_SET:
            settings.append(_setting(variable.name, value, parsed.first, context))
    return settings, problems


def backend_floor(settings: Sequence[BackendSetting]) -> int:
    """The largest backend pool the backends' own variables start in every process."""
    return max((s.threads or 0 for s in settings if s.counted), default=0)


def plan_inputs(environ: Mapping[str, str], lenskit_variables: Sequence[str]) -> dict[str, str]:
    """The LensKit variables (``lenskit_variables``, unset or empty omitted) and the backend
    variables (unset omitted) as set."""
    lk = {name: environ[name] for name in lenskit_variables if environ.get(name)}
    backends = {v.name: environ[v.name] for v in BACKEND_VARIABLES if v.name in environ}
    return {**lk, **backends}
