"""The environment section: threading-relevant variables, library versions, search paths.

Parity with LensKit's own ``lenskit doctor`` (relevant variables, ``--packages``,
``--paths``), widened to every variable that changes a thread count. Values are stored
as found; secrets are masked for every format by :mod:`lkdoctor.redact`.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path

from lkdoctor.collected import Collected
from lkdoctor.environment.compute import collect_compute, python_runtime
from lkdoctor.host.modules import import_if_installed
from lkdoctor.host.proc import LIVE_ROOT
from lkdoctor.model import EnvironmentInfo, ErrorEntry, PackageVersion, SearchPaths, Section
from lkdoctor.pools.kinds import THREADING_ENV_PREFIXES

#: Prefixes of variables that size a thread pool, pick a CPU count or steer the backends:
#: a process's threading environment (LensKit's and every pool kind's), then the rest.
THREADING_PREFIXES = (
    *THREADING_ENV_PREFIXES,
    "KMP_",
    "GOMP_",
    "GOTO_",
    "VECLIB_",
    "TORCH_",
    "PYTORCH_",
    "TBB_",
    "RAY_",
    "JOBLIB_",
    "LOKY_",
    "POLARS_",
    "ARROW_",
    "SLURM_",
    "SLURMD_",
    "PBS_",
    "LSB_",
)
#: Whole names that matter without a prefix of their own.
THREADING_NAMES = frozenset({"PYTHON_CPU_COUNT", "NCPUS", "NSLOTS", "CUDA_VISIBLE_DEVICES"})
#: Python's own variables (PYTHONPATH, PYENV_ROOT, ...): LensKit's doctor lists every ``PY*``.
PYTHON_PREFIXES = ("PY", "VIRTUAL_ENV", "CONDA_PREFIX", "CONDA_DEFAULT_ENV")

#: Distributions whose version decides how threads are used, in report order.
KEY_DISTRIBUTIONS = (
    "lenskit",
    "lkdoctor",
    "numpy",
    "scipy",
    "torch",
    "threadpoolctl",
    "pandas",
    "pyarrow",
    "ray",
)

_NAME_SORT = re.compile(r"[-_.]+")


def is_threading_variable(name: str) -> bool:
    return name in THREADING_NAMES or name.startswith(THREADING_PREFIXES)


def is_python_variable(name: str) -> bool:
    return name.startswith(PYTHON_PREFIXES)


def relevant_variables(environ: Mapping[str, str]) -> dict[str, str]:
    """Threading and Python variables that are set, sorted by name."""
    return {
        name: environ[name]
        for name in sorted(environ)
        if is_threading_variable(name) or is_python_variable(name)
    }


def key_versions() -> dict[str, str]:
    """Installed versions of the libraries that take part in threading (metadata only)."""
    versions = {}
    for name in KEY_DISTRIBUTIONS:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def installed_packages() -> list[PackageVersion]:
    """Every installed distribution once (the first on sys.path wins, as for imports)."""
    seen: dict[str, PackageVersion] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"] or "UNNAMED"
        key = _NAME_SORT.sub("-", name).lower()
        if key not in seen:
            seen[key] = PackageVersion(name=name, version=dist.version or "?")
    return [seen[key] for key in sorted(seen)]


def search_paths(environ: Mapping[str, str]) -> SearchPaths:
    path = environ.get("PATH", "")
    return SearchPaths(
        executable=sys.executable,
        prefix=sys.prefix,
        base_prefix=sys.base_prefix,
        cwd=_cwd(),
        sys_path=list(sys.path),
        path=[entry for entry in path.split(os.pathsep) if entry],
    )


def _cwd() -> str:
    try:
        return os.getcwd()
    except OSError as exc:  # the working directory was deleted under us
        return f"<unavailable: {exc.strerror}>"


def processor_name(root: Path) -> str | None:
    """The CPU model from ``/proc/cpuinfo`` (x86 ``model name``, some ARM ``Hardware``)."""
    try:
        text = (root / "proc" / "cpuinfo").read_text(errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "Hardware", "cpu model") and value.strip():
            return value.strip()
    return None


def collect_environment(
    environ: Mapping[str, str],
    *,
    packages: bool = False,
    paths: bool = False,
    root: Path = LIVE_ROOT,
    foreign: bool = False,
    power: bool = False,
    project_root: Path | None = None,
) -> Collected[EnvironmentInfo]:
    """The environment section; ``packages`` and ``paths`` add the long lists, ``power``
    LensKit's own power measurement (with its settings in ``project_root``, else found as
    LensKit finds them).

    ``foreign`` (``--pid``, ``-- COMMAND``): the subject is another process, so this
    interpreter, its torch and the GPUs torch sees are not described as if they were its.
    """
    errors: list[ErrorEntry] = []
    torch, torch_problem = import_if_installed("torch") if not foreign else (None, None)
    compute, problems = collect_compute(torch, root=root, foreign=foreign)
    if torch_problem:  # already an error of the pools section, which imports torch first
        compute.gpu_note = torch_problem
    errors.extend(ErrorEntry(section=Section.ENVIRONMENT, message=p) for p in problems)
    if power:
        from lkdoctor.environment.power import collect_power

        try:
            compute.power = collect_power(project_root)
        except Exception as exc:  # the rest of the section stays
            errors.append(ErrorEntry(section=Section.ENVIRONMENT, message=f"power: {exc}"))
    info = EnvironmentInfo(
        variables=relevant_variables(environ),
        versions=key_versions(),
        processor=processor_name(root),
        packages=installed_packages() if packages else None,
        paths=search_paths(environ) if paths else None,
        python=None if foreign else python_runtime(),
        compute=compute,
    )
    return Collected(info, errors)
