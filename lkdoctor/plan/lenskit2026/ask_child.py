"""LensKit 2026's own answer: run in a child process by lkdoctor, prints one JSON line.

This file is run as a script (``python -P -c <source> [--affinity=CPUS] [--parsed-files]
[PROJECT_ROOT]``) by the Python
that has LensKit installed, in the diagnosed folder and environment. It imports nothing
from lkdoctor. It resolves the settings exactly as LensKit's ``lenskit`` command does
before any subcommand (``-R`` / ``LK_PROJECT_ROOT`` / ``locate_configuration_root()``,
then ``configure()``), but without ``init_threading``: LensKit's own
``lenskit.schemas.settings`` is imported for real (that is where flat ``LK_*`` variables
are read, and rejected), and LensKit's own ``_load_settings``, ``locate_configuration_root``,
``effective_cpu_count`` and ``is_free_threaded`` are executed from their source, so
neither torch nor LensKit's logging is imported (``lenskit.config`` would import both).

With ``--parsed-files`` it also prints what LensKit's own parse of each settings file gave
(its ``parallel`` table, or the error), so that the doctor need not parse a large file again.
"""

from __future__ import annotations

import ast
import datetime
import json
import os
import sys
import tomllib
import types
import warnings
from pathlib import Path
from typing import Any


def _emit(**fields: object) -> None:
    sys.stdout.write(json.dumps(fields, default=str) + "\n")


def _json_value(value: object) -> object:
    """A TOML value as JSON; dates and times tagged, so the doctor gets them back as such."""
    if isinstance(value, dict):
        return {key: _json_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_value(item) for item in value]
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return {"__toml__": type(value).__name__, "iso": value.isoformat()}
    return value


def _record_parsed_files(parsed: dict[str, object]) -> None:
    """Keep, by real path, what each ``tomllib.load`` (pydantic-settings' reader of
    LensKit's settings files) returns or raises; the parse itself is unchanged."""
    load = tomllib.load

    def recording_load(fp: Any, /, **kwargs: Any) -> dict[str, Any]:
        name = os.path.realpath(str(getattr(fp, "name", "")))
        try:
            data = load(fp, **kwargs)
        except Exception as exc:
            parsed[name] = {"error": f"{type(exc).__name__}: {exc}"}
            raise
        parsed[name] = {"parallel": _json_value(data["parallel"])} if "parallel" in data else {}
        return data

    tomllib.load = recording_load


def _failure(stage: str, exc: Exception, parsed: dict[str, object]) -> None:
    errors: list[dict[str, object]] | None = None
    if hasattr(exc, "errors"):
        try:
            errors = [
                {"loc": [str(part) for part in e.get("loc", ())], "msg": e.get("msg", "")}
                for e in exc.errors()
            ]
        except Exception:
            errors = None
    _emit(
        ok=False,
        stage=stage,
        error=type(exc).__name__,
        message=str(exc),
        errors=errors,
        parsed_files=parsed,
    )


class _QuietLog:
    def bind(self, **_kw: object) -> _QuietLog:
        return self

    def __getattr__(self, _name: str) -> Any:
        return lambda *a, **k: None


def _functions(path: Path, names: tuple[str, ...], namespace: dict[str, Any]) -> dict[str, Any]:
    """Execute LensKit's own definitions of ``names`` from ``path`` into ``namespace``."""
    tree = ast.parse(Path(path).read_text(encoding="utf-8"), str(path))
    found = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name in names]
    missing = set(names) - {node.name for node in found}
    body: list[ast.stmt] = list(found)
    if missing:
        raise LookupError(f"{path} does not define {', '.join(sorted(missing))}")
    module = ast.Module(body=body, type_ignores=[])
    flags = __import__("__future__").annotations.compiler_flag
    exec(compile(module, str(path), "exec", flags=flags, dont_inherit=True), namespace)
    return namespace


def _lenskit_2026_3() -> tuple[Any, Any, Any, Any]:
    """LensKit 2026.3+: the settings schema is importable without torch."""
    import lenskit  # type: ignore[import-not-found, unused-ignore]
    import lenskit.schemas.settings as schema  # type: ignore[import-not-found, unused-ignore]
    from pydantic_settings import TomlConfigSettingsSource

    package = Path(lenskit.__file__).parent
    parallel: Any = types.ModuleType("lenskit.parallel")
    namespace = _functions(
        package / "parallel" / "config.py",
        ("effective_cpu_count", "is_free_threaded"),
        {"os": os, "sys": sys, "sysconfig": __import__("sysconfig"), "_log": _QuietLog()},
    )
    parallel.effective_cpu_count = namespace["effective_cpu_count"]
    parallel.is_free_threaded = namespace["is_free_threaded"]
    sys.modules["lenskit.parallel"] = parallel
    config = _functions(
        package / "config" / "__init__.py",
        ("_load_settings", "locate_configuration_root"),
        {
            "Path": Path,
            "PathLike": os.PathLike,
            "TomlConfigSettingsSource": TomlConfigSettingsSource,
            "_log": _QuietLog(),
        },
    )
    return (
        schema.LenskitSettings,
        config["_load_settings"],
        config["locate_configuration_root"],
        parallel,
    )


def main(argv: list[str]) -> None:
    stage = "import"
    args = argv[1:]
    if args and args[0].startswith("--affinity="):
        # the diagnosed process's CPUs (--pid), before LensKit counts them
        cpus = {int(cpu) for cpu in args.pop(0).split("=", 1)[1].split(",")}
        os.sched_setaffinity(0, cpus)
    parsed: dict[str, object] = {}
    if args and args[0] == "--parsed-files":
        args.pop(0)
        _record_parsed_files(parsed)
    try:
        try:
            settings_cls, load, locate, parallel = _lenskit_2026_3()
        except ModuleNotFoundError as exc:
            if not (exc.name or "").startswith("lenskit.schemas"):
                raise
            # LensKit 2026.1 – 2026.2: the schema lives in lenskit.config (imports torch).
            import lenskit.config as config  # type: ignore[import-not-found, unused-ignore]
            import lenskit.parallel as parallel  # type: ignore[import-not-found, unused-ignore]

            settings_cls = config.LenskitSettings
            load, locate = config._load_settings, config.locate_configuration_root  # type: ignore[attr-defined, unused-ignore]
        stage = "project-root"
        if args and args[0]:
            root, how = Path(args[0]), "argument"
        elif os.environ.get("LK_PROJECT_ROOT"):
            root, how = Path(os.environ["LK_PROJECT_ROOT"]), "LK_PROJECT_ROOT"
        else:
            root, how = locate(), "search"
        stage = "configure"
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            settings = load(root, settings_cls)
        par = settings.parallel
        _emit(
            ok=True,
            project_root=None if root is None else str(root),
            project_root_from=how if root is not None else None,
            parallel={
                "num_cpus": par.num_cpus,
                "use_ray": par.use_ray,
                "num_batch_jobs": par.num_batch_jobs,
                "num_procs": par.num_procs,
                "num_threads": par.num_threads,
                "num_backend_threads": par.num_backend_threads,
                "tune_jobs": getattr(par, "tune_jobs", None),
            },
            effective_cpu_count=parallel.effective_cpu_count(),
            free_threaded=bool(parallel.is_free_threaded()),
            warnings=[str(w.message) for w in caught],
            parsed_files=parsed,
        )
    except Exception as exc:
        _failure(stage, exc, parsed)


if __name__ == "__main__":
    main(sys.argv)
