"""LensKit's own answer: what the installed LensKit's code resolves, level by level.

LensKit 2025.3 – 2025.8 resolve the plan in ``lenskit.parallel.config``:
``_resolve_parallel_config()`` reads ``os.environ`` and ``effective_cpu_count()``, and
``ParallelConfig.subprocess()`` derives each worker level. Both are pure apart from those
two reads, so they are run here as they are, on copies whose globals give them the
environment and CPU count being diagnosed. Nothing is initialized: no pool is built, no
thread count is set, and LensKit's module state is untouched.

Importing LensKit imports torch, so this module is only imported when the answer is needed.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from lkdoctor.plan import MAX_LEVELS, Counts
from lkdoctor.plan_env import LK_LISTS, LkSettings

_CONFIG_MODULE = "lenskit.parallel.config"


@dataclass(frozen=True)
class LensKitAnswer:
    counts: list[Counts] | None
    version: str | None
    note: str | None = None


class _OsView:
    """``os`` as LensKit's config code sees it, with the environment being diagnosed."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ

    def __getattr__(self, name: str) -> Any:
        import os

        return getattr(os, name)


class _QuietWarnings:
    """Collects LensKit's deprecation warnings without touching the warnings filters."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def warn(self, message: object, *args: object, **kwargs: object) -> None:
        self.messages.append(str(message))


def _rebound(function: Any, overrides: dict[str, Any]) -> Callable[..., Any]:
    """A copy of ``function`` whose module globals include ``overrides``."""
    code = function.__code__
    globals_ = {**function.__globals__, **overrides}
    copy = types.FunctionType(
        code, globals_, function.__name__, function.__defaults__, function.__closure__
    )
    copy.__kwdefaults__ = function.__kwdefaults__
    return copy


def _lenskit_environ(environ: Mapping[str, str], lk: LkSettings) -> dict[str, str]:
    """The environment with the LK_* values the doctor found invalid removed (planned unset)."""
    invalid = {problem.variable for problem in lk.problems}
    return {name: value for name, value in environ.items() if name not in invalid}


def _import_config() -> tuple[Any, str | None] | str:
    """LensKit's config module and version, or a note saying why it is unavailable."""
    try:
        import lenskit
    except ImportError as exc:
        if exc.name == "lenskit":
            return "absent"
        return f"importing lenskit failed: {type(exc).__name__}: {exc}"
    except Exception as exc:  # a broken install must not take the report down
        return f"importing lenskit failed: {type(exc).__name__}: {exc}"
    version = getattr(lenskit, "__version__", None)
    try:
        import importlib

        module = importlib.import_module(_CONFIG_MODULE)
    except Exception as exc:
        return f"LensKit {version}: importing {_CONFIG_MODULE} failed: {type(exc).__name__}: {exc}"
    return module, str(version) if version is not None else None


def _supported(module: Any) -> bool:
    resolve = getattr(module, "_resolve_parallel_config", None)
    config_class = getattr(module, "ParallelConfig", None)
    return (
        isinstance(resolve, types.FunctionType)
        and isinstance(getattr(config_class, "subprocess", None), types.FunctionType)
        and hasattr(module, "effective_cpu_count")
    )


def _walk(module: Any, environ: Mapping[str, str], cpus: int) -> list[Counts]:
    overrides = {
        "os": _OsView(environ),
        "effective_cpu_count": lambda: cpus,
        "warnings": _QuietWarnings(),
    }
    resolve = _rebound(module._resolve_parallel_config, overrides)
    subprocess = _rebound(module.ParallelConfig.subprocess, overrides)
    config = resolve()
    levels = [Counts(int(config.processes), int(config.threads), int(config.backend_threads))]
    while levels[-1].processes > 1 and len(levels) < MAX_LEVELS:
        config = subprocess(config)
        levels.append(
            Counts(int(config.processes), int(config.threads), int(config.backend_threads))
        )
    return levels


def lenskit_answer(environ: Mapping[str, str], lk: LkSettings, cpus: int) -> LensKitAnswer:
    """What the installed LensKit resolves for ``environ`` on ``cpus`` CPUs, at every level.

    ``counts`` is ``None`` when LensKit is absent (``note`` None) or its code cannot be
    asked (``note`` says why); this never raises.
    """
    imported = _import_config()
    if imported == "absent":
        return LensKitAnswer(counts=None, version=None)
    if isinstance(imported, str):
        return LensKitAnswer(counts=None, version=None, note=imported)
    module, version = imported
    if not _supported(module):
        return LensKitAnswer(
            counts=None,
            version=version,
            note=f"LensKit {version} does not have the 2025.3 – 2025.8 parallel configuration "
            f"API ({_CONFIG_MODULE}._resolve_parallel_config, ParallelConfig.subprocess)",
        )
    try:
        counts = _walk(module, _lenskit_environ(environ, lk), cpus)
    except Exception as exc:  # LensKit's own code raising on these inputs is a result too
        return LensKitAnswer(
            counts=None,
            version=version,
            note=f"LensKit {version}'s own resolution raised {type(exc).__name__}: {exc}",
        )
    return LensKitAnswer(counts=counts, version=version)


__all__ = ["LK_LISTS", "LensKitAnswer", "lenskit_answer"]
