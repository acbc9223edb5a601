"""Where the importable LensKit is, and which version, found without importing it."""

from __future__ import annotations

import contextlib
import importlib.machinery
import importlib.metadata
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path


def version_at(site: Path) -> str | None:
    """The version of the ``lenskit`` distribution installed in ``site``, if any."""
    try:
        found = importlib.metadata.distributions(name="lenskit", path=[str(site)])
        return next((str(dist.version) for dist in found), None)
    except Exception:  # broken metadata: the version is only informative
        return None


def lenskit_package_dirs() -> list[Path]:
    """The folders of the importable ``lenskit`` package, found without importing it."""
    try:
        spec = importlib.util.find_spec("lenskit")
    except (ImportError, ValueError):
        return []
    if spec is None or not spec.submodule_search_locations:
        return []
    return [Path(location) for location in spec.submodule_search_locations]


def lenskit_accel_origin() -> str | None:
    """Where lenskit._accel lives, found without importing lenskit; None when absent."""
    loaded = sys.modules.get("lenskit._accel")
    if loaded is not None:
        return str(getattr(loaded, "__file__", None) or "lenskit._accel")
    packages = lenskit_package_dirs()
    if not packages:
        return None
    spec = importlib.machinery.PathFinder.find_spec("lenskit._accel", [str(p) for p in packages])
    return spec.origin if spec is not None and spec.has_location else None


def installed_lenskit_version() -> str | None:
    """The version of the importable LensKit, read from its metadata without importing it."""
    for package in lenskit_package_dirs():
        if found := version_at(package.parent):
            return found
    return None


@dataclass(frozen=True)
class LensKitParallelState:
    """LensKit's parallelism, already set up in this process before the doctor looked."""

    settings: dict[
        str, object
    ]  # as LensKit holds them (2026 ParallelSettings, 2025 ParallelConfig)
    threads: int | None  # the Rayon pool size LensKit asked for
    backend_threads: int | None  # torch intra-op (and BLAS) threads LensKit set
    by_cli: bool  # LensKit's `lenskit` command module is loaded: its root command did it


#: What LensKit 2025's ParallelConfig offers (properties over its per-level lists).
PARALLEL_CONFIG_2025 = ("processes", "threads", "backend_threads")


def _as_dict(settings: object) -> dict[str, object]:
    dump = getattr(settings, "model_dump", None)  # 2026: a pydantic ParallelSettings
    if callable(dump):
        found = dump()
        return dict(found) if isinstance(found, dict) else {}
    values: dict[str, object] = {}
    for name in PARALLEL_CONFIG_2025:
        with contextlib.suppress(Exception):  # a property of another release may raise
            values[name] = getattr(settings, name)
    return values


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def lenskit_parallel_state() -> LensKitParallelState | None:
    """What LensKit applied when it set up its pools in this process; None when it has not.

    Read from LensKit's already-loaded module only (never imported here): 2026's
    ``init_threading()`` (run by ``configure()``, so by the root of LensKit's ``lenskit``
    command before any subcommand) keeps ``__settings``; 2025's ``initialize()`` keeps
    ``_config``. Either means LensKit's Rayon pool was built, so reading its size creates
    nothing new.
    """
    module = sys.modules.get("lenskit.parallel.config")
    if module is None:
        return None
    names = vars(module)
    applied = names.get("__settings")
    if applied is None:
        applied = names.get("_config")
    if applied is None:
        return None
    settings = _as_dict(applied)
    threads = settings.get("num_threads", settings.get("threads"))
    backend = settings.get("num_backend_threads", settings.get("backend_threads"))
    return LensKitParallelState(
        settings=settings,
        threads=_count(threads),
        backend_threads=_count(backend),
        by_cli="lenskit.cli" in sys.modules,
    )
