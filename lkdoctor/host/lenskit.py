"""Where the importable LensKit is, and which version, found without importing it."""

from __future__ import annotations

import contextlib
import importlib.machinery
import importlib.metadata
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal


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


Dialect = Literal["2025", "2026"]

#: LensKit 2026.1 and later need this Python; pip gives 2025.8 on anything older.
LENSKIT_2026_PYTHON = (3, 12, 5)


@dataclass(frozen=True)
class LensKitDialect:
    """Which configuration dialect the plan is resolved in, and why."""

    dialect: Dialect
    version: str | None  # the installed LensKit, None when none is installed
    reason: str


def installed_lenskit_version() -> str | None:
    """The version of the importable LensKit, read from its metadata without importing it."""
    for package in lenskit_package_dirs():
        if found := version_at(package.parent):
            return found
    return None


def dialect_of_version(version: str) -> Dialect | None:
    """``"2026"`` for 2026.x and later, ``"2025"`` for 2025.x; None when not a LensKit year."""
    year = version.split(".", 1)[0]
    if not year.isdigit():
        return None
    return "2026" if int(year) >= 2026 else "2025" if int(year) == 2025 else None


def detect_dialect(
    override: Dialect | None = None,
    *,
    version: str | None = None,
    python: tuple[int, int, int] | None = None,
) -> LensKitDialect:
    """The dialect of the installed LensKit; with none installed, the one pip would install.

    ``override`` (the user's choice) wins; ``version`` and ``python`` default to the
    installed LensKit's version and this interpreter's.
    """
    installed = installed_lenskit_version() if version is None else version
    if override is not None:
        why = f"chosen with --dialect {override}"
        if installed:
            why += f" (LensKit {installed} is installed)"
        return LensKitDialect(override, installed, why)
    if installed:
        dialect = dialect_of_version(installed)
        if dialect is not None:
            return LensKitDialect(dialect, installed, f"LensKit {installed} is installed")
        return LensKitDialect(
            "2026", installed, f"LensKit {installed} is installed; read as the current 2026.x"
        )
    py = python or (sys.version_info.major, sys.version_info.minor, sys.version_info.micro)
    shown = ".".join(map(str, py))
    if py >= LENSKIT_2026_PYTHON:
        return LensKitDialect(
            "2026", None, f"no LensKit installed; pip installs 2026.x on Python {shown}"
        )
    return LensKitDialect(
        "2025", None, f"no LensKit installed; pip installs 2025.8 on Python {shown} (< 3.12.5)"
    )


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
