"""LensKit's own answer: what the installed LensKit's code resolves, level by level.

LensKit 2025.3 – 2025.8 resolve the plan in ``lenskit/parallel/config.py``:
``_resolve_parallel_config()`` reads ``os.environ`` and ``effective_cpu_count()``, and
``ParallelConfig.subprocess()`` derives each worker level. Those functions are run here
from the installed file's own source, in a private namespace whose ``os.environ`` and
``effective_cpu_count`` are the environment and CPU count being diagnosed.

LensKit is never imported: importing it would import torch and load its Rust extension
(``lenskit._accel``), and change what the other sections see. Only the file's function
and class definitions (and its standard-library imports and literal constants) are
executed, so nothing is initialized: no pool is built, no thread count is set.
"""

from __future__ import annotations
import __future__

import ast
import builtins
import contextlib
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lkdoctor.host.lenskit import lenskit_package_dirs, version_at
from lkdoctor.plan.lenskit2025.settings import LkSettings
from lkdoctor.plan.lenskit2025.shape import MAX_LEVELS, Counts
from lkdoctor.plan.line import AppliedSetup, count_or_none

CONFIG_FILE = ("parallel", "config.py")
_API = "the 2025.3 – 2025.8 parallel configuration API (_resolve_parallel_config, ParallelConfig.subprocess)"


@dataclass(frozen=True)
class LensKitAnswer:
    counts: list[Counts] | None
    version: str | None
    note: str | None = None


@dataclass(frozen=True)
class LensKitSource:
    """The installed LensKit's ``parallel/config.py``, or a note saying why there is none."""

    path: Path | None
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


def find_lenskit_config() -> LensKitSource | None:
    """Where the importable LensKit's config source is, found without importing LensKit."""
    packages = lenskit_package_dirs()
    if not packages:
        return None
    version = None
    for package in packages:
        version = version or version_at(package.parent)
        config = package.joinpath(*CONFIG_FILE)
        if config.is_file():
            return LensKitSource(path=config, version=version)
    return LensKitSource(
        path=None, version=version, note=f"LensKit {version} has no lenskit/parallel/config.py"
    )


def _is_stdlib_import(node: ast.stmt) -> bool:
    if isinstance(node, ast.Import):
        return all(alias.name.split(".")[0] in sys.stdlib_module_names for alias in node.names)
    if isinstance(node, ast.ImportFrom):
        module = node.module or ""
        return (
            node.level == 0
            and module != "__future__"
            and module.split(".")[0] in sys.stdlib_module_names
        )
    return False


def _is_literal_assignment(node: ast.stmt) -> bool:
    value = node.value if isinstance(node, ast.Assign | ast.AnnAssign) else None
    if value is None:
        return isinstance(node, ast.AnnAssign)
    try:
        ast.literal_eval(value)
    except ValueError:
        return False
    return True


def _kept(node: ast.stmt) -> bool:
    """Definitions, standard-library imports and literal constants: nothing that initializes."""
    return (
        isinstance(node, ast.FunctionDef | ast.ClassDef)
        or _is_stdlib_import(node)
        or _is_literal_assignment(node)
    )


def config_namespace(
    source: str, filename: str, environ: Mapping[str, str], cpus: int
) -> dict[str, Any]:
    """LensKit's config definitions, executed privately against ``environ`` and ``cpus``."""
    tree = ast.parse(source, filename)
    module = ast.Module(body=[node for node in tree.body if _kept(node)], type_ignores=[])
    # Annotations stay strings, so names only imported for typing are not needed.
    code = compile(
        module, filename, "exec", flags=__future__.annotations.compiler_flag, dont_inherit=True
    )
    namespace: dict[str, Any] = {"__name__": "lkdoctor._lenskit_config", "__builtins__": builtins}
    exec(code, namespace)
    namespace.update(
        os=_OsView(environ), warnings=_QuietWarnings(), effective_cpu_count=lambda: cpus
    )
    return namespace


def _supported(namespace: Mapping[str, Any]) -> bool:
    config_class = namespace.get("ParallelConfig")
    return callable(namespace.get("_resolve_parallel_config")) and callable(
        getattr(config_class, "subprocess", None)
    )


def _walk(namespace: Mapping[str, Any]) -> list[Counts]:
    config = namespace["_resolve_parallel_config"]()
    levels = [Counts(int(config.processes), int(config.threads), int(config.backend_threads))]
    while levels[-1].processes > 1 and len(levels) < MAX_LEVELS:
        config = config.subprocess()
        levels.append(
            Counts(int(config.processes), int(config.threads), int(config.backend_threads))
        )
    return levels


def _lenskit_environ(environ: Mapping[str, str], lk: LkSettings) -> dict[str, str]:
    """The environment with the LK_* values the doctor found invalid removed (planned unset)."""
    invalid = {problem.variable for problem in lk.problems}
    return {name: value for name, value in environ.items() if name not in invalid}


def answer_from_source(
    source: str,
    filename: str,
    version: str | None,
    environ: Mapping[str, str],
    lk: LkSettings,
    cpus: int,
) -> LensKitAnswer:
    """What the config code in ``source`` resolves; never raises."""
    label = f"LensKit {version or '(unknown version)'}"
    try:
        namespace = config_namespace(source, filename, _lenskit_environ(environ, lk), cpus)
    except Exception as exc:
        return LensKitAnswer(
            counts=None,
            version=version,
            note=f"{label}: reading {filename} failed: {type(exc).__name__}: {exc}",
        )
    if not _supported(namespace):
        return LensKitAnswer(counts=None, version=version, note=f"{label} does not have {_API}")
    try:
        counts = _walk(namespace)
    except Exception as exc:  # LensKit's own code raising on these inputs is a result too
        return LensKitAnswer(
            counts=None,
            version=version,
            note=f"{label}'s own resolution raised {type(exc).__name__}: {exc}",
        )
    return LensKitAnswer(counts=counts, version=version)


def lenskit_answer(environ: Mapping[str, str], lk: LkSettings, cpus: int) -> LensKitAnswer:
    """What the installed LensKit resolves for ``environ`` on ``cpus`` CPUs, at every level.

    ``counts`` is ``None`` when LensKit is absent (``note`` None) or its code cannot be
    asked (``note`` says why); this never raises.
    """
    found = find_lenskit_config()
    if found is None:
        return LensKitAnswer(counts=None, version=None)
    if found.path is None:
        return LensKitAnswer(counts=None, version=found.version, note=found.note)
    try:
        source = found.path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return LensKitAnswer(
            counts=None, version=found.version, note=f"reading {found.path} failed: {exc}"
        )
    return answer_from_source(source, str(found.path), found.version, environ, lk, cpus)


__all__ = ["LensKitAnswer", "answer_from_source", "find_lenskit_config", "lenskit_answer"]


#: What LensKit 2025's ParallelConfig offers (properties over its per-level lists).
PARALLEL_CONFIG = ("processes", "threads", "backend_threads")


def applied_setup(names: Mapping[str, object], by_cli: bool) -> AppliedSetup | None:
    """What LensKit 2025's ``initialize()`` applied: it keeps its ``ParallelConfig`` as
    ``_config`` (having one means LensKit's Rayon pool was built, so reading its size
    creates nothing new)."""
    config = names.get("_config")
    if config is None:
        return None
    values: dict[str, object] = {}
    for name in PARALLEL_CONFIG:
        with contextlib.suppress(Exception):  # a property of another release may raise
            values[name] = getattr(config, name)
    return AppliedSetup(
        settings=values,
        threads=count_or_none(values.get("threads")),
        backend_threads=count_or_none(values.get("backend_threads")),
        by_cli=by_cli,
    )
