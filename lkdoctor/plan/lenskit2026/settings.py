"""LensKit 2026's parallel settings, resolved with provenance, as its own code does.

Read from LensKit 2026.4's code (``lenskit/schemas/settings.py``, ``lenskit/config/``,
``lenskit/parallel/config.py``, ``lenskit/batch/``, ``lenskit/cli/__init__.py``):

* ``ParallelSettings`` is a pydantic-settings class with ``env_prefix="LK_"``; its default
  instance is built when ``lenskit.schemas.settings`` is imported, so the flat ``LK_X``
  variables are read (and a bad one makes ``import lenskit.config`` fail) at import.
* ``LenskitSettings`` (``env_nested_delimiter="__"``, ``nested_model_default_partial_update``)
  reads ``LK_PARALLEL`` (JSON) and ``LK_PARALLEL__X``, then ``lenskit.local.toml``, then
  ``lenskit.toml``; the flat values only fill what none of those set. So, highest first:
  ``LK_PARALLEL__X`` > ``LK_PARALLEL`` > local toml > toml > ``LK_X`` > defaults.
  Variable names are matched case-insensitively. Files are read only by ``configure()``
  (which LensKit's ``lenskit`` command calls before any subcommand), from the project root:
  ``-R``, else ``LK_PROJECT_ROOT``, else the first folder from the working folder up that
  has ``lenskit.toml`` (stopping at one with ``pyproject.toml`` or ``.git``); with none
  found, the working folder itself.
* ``resolve_defaults``: ``num_cpus`` ≤ 0 → ``effective_cpu_count()``; threads 0 →
  min(cpus, 8), < 0 → cpus; backend 0 → max(min(cpus // threads, 4), 1), < 0 left as is
  (LensKit leaves the backends alone); batch jobs 0 → threads on a free-threaded build or
  with Ray, else 1, < 0 → cpus. ``num_procs`` is parsed and never used.

Demand model (what runs at once), with ``t`` threads, ``b`` backend threads (``b`` < 0:
the backends keep their own default, one per CPU, counted as ``cpus``) and ``j`` batch jobs:

* sequential (``j`` ≤ 1, no Ray): LensKit's own ``total_threads`` = ``t × b``: the Rayon
  pool's ``t`` workers (training, k-NN inference), each of which may drive backend work.
* thread pool (``j`` > 1, no Ray): one process; ``j`` job threads share the Rayon pool of
  ``t`` but each drives its own backend team of ``b`` (OpenMP gives every calling thread its
  own team), and a job waiting on Rayon is blocked: peak = max(``t × b``, ``j × b``,
  ``(j − 1) × b + t``).
* Ray: tasks ask ``num_cpus = b or 1`` on a node of ``effective_cpu_count()`` CPUs (not
  ``num_cpus``), so ``min(j, node // max(b, 1))`` tasks run at once, each in a worker
  process that gets ``LK_NUM_THREADS``/``LK_NUM_BACKEND_THREADS`` (its own Rayon pool of
  ``t``, backends of ``b``): peak = tasks × ``t × b``.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import TypeAdapter, ValidationError

from lkdoctor.host.undecodable import cut
from lkdoctor.plan.lenskit2026.shape import SettingsProblem, SettingValue
from lkdoctor.plan.lenskit2026.toml_table import parallel_part

#: ParallelSettings' fields and their types, in LensKit's order.
FIELD_TYPES: dict[str, Any] = {
    "num_cpus": int,
    "use_ray": bool,
    "num_batch_jobs": int,
    "num_procs": int,
    "num_threads": int,
    "num_backend_threads": int,
    "tune_jobs": int | None,
}
#: The settings the plan reports (SPEC §5).
REPORTED = ("num_cpus", "num_threads", "num_backend_threads", "num_batch_jobs", "use_ray")
#: Variables LensKit 2026 parses but never uses, or no longer reads at all.
IGNORED = {
    "LK_NUM_PROCS": "parsed into num_procs, which LensKit 2026 never uses (no worker processes)",
    "LK_NUM_CHILD_THREADS": "no longer read by LensKit 2026",
}
SETTINGS_FILES = ("lenskit.local.toml", "lenskit.toml")  # highest first
#: Bytes beyond any real settings file (LensKit's are a few hundred): such a file costs
#: every lenskit command a parse of it, and the doctor reads only its [parallel] table.
LARGE_SETTINGS_FILE = 1_000_000


def flat_name(name: str) -> str:
    return f"LK_{name.upper()}"


def nested_name(name: str) -> str:
    return f"LK_PARALLEL__{name.upper()}"


@cache
def _adapter(name: str) -> TypeAdapter[Any]:
    return TypeAdapter(FIELD_TYPES[name])


def validate(name: str, raw: object) -> tuple[Any, str | None]:
    """``raw`` as pydantic reads it into field ``name`` (lax), or pydantic's own message."""
    try:
        return _adapter(name).validate_python(raw), None
    except ValidationError as exc:
        first = exc.errors()[0]
        return None, f"{first['msg']} [type={first['type']}, input_value={cut(repr(raw))}]"


def single_equivalent(name: str, raw: str) -> str | None:
    """The 2026 single value for a 2025-style list (``8,1`` → ``8``: level 0)."""
    first = raw.split(",")[0].strip()
    if "," in raw and validate(name, first)[1] is None:
        return first
    return None


# --- where the settings files are -------------------------------------------------------


def locate_configuration_root(cwd: Path) -> Path | None:
    """LensKit's ``locate_configuration_root()``: up from ``cwd`` to a ``lenskit.toml``."""
    folder = cwd.resolve()
    while True:
        if (folder / "lenskit.toml").exists():
            return folder
        if (folder / "pyproject.toml").exists() or (folder / ".git").exists():
            return None
        if folder.parent == folder:
            return None
        folder = folder.parent


def project_root_of(
    cwd: Path, environ: Mapping[str, str], project_root: Path | None = None
) -> tuple[Path | None, str]:
    """The root LensKit's CLI reads the files from, and how it was chosen."""
    if project_root is not None:
        return cwd / project_root, "-R/--project-root"
    if environ.get("LK_PROJECT_ROOT"):
        return cwd / environ["LK_PROJECT_ROOT"], "LK_PROJECT_ROOT"
    found = locate_configuration_root(cwd)
    return found, "search from the working folder" if found else "none found"


def large_settings_files(
    environ: Mapping[str, str], cwd: Path, project_root: Path | None = None
) -> bool:
    """Whether a settings file LensKit would read there is over :data:`LARGE_SETTINGS_FILE`."""
    root, _ = project_root_of(cwd, environ, project_root)
    for name in SETTINGS_FILES:
        try:
            if (root or cwd).joinpath(name).stat().st_size > LARGE_SETTINGS_FILE:
                return True
        except OSError:
            continue
    return False


# --- one settings file -----------------------------------------------------------------

# Possessive quantifiers, which never give characters back, keep each match linear in the
# line's length: with ``^\s*(...\s...+?)\s*=`` a line of 2,000 spaces (valid inside a
# multi-line string) took 19 s, cubic in its length. The key's own whitespace is stripped
# from the group instead of matched around it.
_TABLE = re.compile(r"^\s*+\[\s*+([^\]\s]++)\s*+\]")
_KEY = re.compile(r"^([A-Za-z0-9_.\-\s\"']++)=")
_TOML_AT = re.compile(r"at line (\d++)")


def key_lines(text: str) -> dict[str, int]:
    """The line of each ``[parallel]`` key (``[parallel]`` table or ``parallel.x`` keys)."""
    lines: dict[str, int] = {}
    table = ""
    for number, line in enumerate(text.splitlines(), start=1):
        if header := _TABLE.match(line):
            table = header.group(1).strip()
            continue
        if key := _KEY.match(line):
            dotted = [part.strip().strip("\"'") for part in key.group(1).split(".")]
            full = [*table.split("."), *dotted] if table else dotted
            if full[0] == "parallel":
                lines.setdefault(full[1] if len(full) > 1 else "", number)
    return lines


@dataclass
class SettingsFile:
    path: Path
    values: dict[str, tuple[object, int | None]] = field(default_factory=dict)
    problems: list[SettingsProblem] = field(default_factory=list)


def _large_file(path: Path, size: int, how: str) -> SettingsProblem:
    return SettingsProblem(
        kind="settings-file-large",
        where=str(path),
        value=f"{size:,} bytes",
        message="LensKit parses the whole file (with tomllib) in every lenskit command and "
        f"every lenskit_config(); {how}",
    )


#: How the doctor read a large file, for the settings-file-large problem.
FROM_LENSKIT = "lkdoctor took its [parallel] table from LensKit's own parse (one parse for both)"
SCANNED = "lkdoctor read only its [parallel] table, so the rest is not checked here"
PARSED_WHOLE = "lkdoctor parsed all of it too"


def _toml_value(value: object) -> object:
    """A value of LensKit's parse as the child printed it, dates and times restored."""
    if isinstance(value, dict):
        if set(value) == {"__toml__", "iso"} and value["__toml__"] in _TOML_TIMES:
            return _TOML_TIMES[value["__toml__"]](value["iso"])
        return {key: _toml_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_toml_value(item) for item in value]
    return value


_TOML_TIMES: dict[str, Any] = {
    "datetime": datetime.datetime.fromisoformat,
    "date": datetime.date.fromisoformat,
    "time": datetime.time.fromisoformat,
}


def _invalid(path: Path, message: str) -> SettingsProblem:
    at = _TOML_AT.search(message)
    return SettingsProblem(
        kind="settings-file-invalid",
        where=str(path),
        line=int(at.group(1)) if at else None,
        message=message,
        fails="configure",
    )


def read_settings_file(
    path: Path, parsed_by_lenskit: Mapping[str, object] | None = None
) -> SettingsFile:
    """The ``[parallel]`` values of one file with their lines; problems as LensKit meets them.

    A file over :data:`LARGE_SETTINGS_FILE` is a problem of its own, and is not parsed
    again: its ``[parallel]`` table comes from ``parsed_by_lenskit`` (what LensKit's own
    parse of it gave: ``{"parallel": table}``, ``{}`` or ``{"error": message}``), else from
    the statements that define ``parallel`` alone."""
    found = SettingsFile(path)
    try:
        size = path.stat().st_size
        large = size > LARGE_SETTINGS_FILE
        if large and parsed_by_lenskit is not None:
            found.problems.append(_large_file(path, size, FROM_LENSKIT))
            if "error" in parsed_by_lenskit:
                found.problems.append(_invalid(path, str(parsed_by_lenskit["error"])))
                return found
            # only for the lines of the keys; LensKit's parse said whether it decodes
            text = path.read_bytes().decode("utf-8", "replace")
            data: dict[str, Any] = {}
            if "parallel" in parsed_by_lenskit:
                data["parallel"] = _toml_value(parsed_by_lenskit["parallel"])
        else:
            text = path.read_bytes().decode("utf-8")
            part = parallel_part(text) if large else None
            if large:
                found.problems.append(
                    _large_file(path, size, PARSED_WHOLE if part is None else SCANNED)
                )
            if part is not None:
                text = part
            data = tomllib.loads(text)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        found.problems.append(_invalid(path, f"{type(exc).__name__}: {exc}"))
        return found
    lines = key_lines(text)
    table = data.get("parallel", {})
    if not isinstance(table, dict):
        found.problems.append(
            SettingsProblem(
                kind="settings-file-invalid",
                where=str(path),
                line=lines.get(""),
                value=cut(repr(table)),
                message="parallel: Input should be a valid dictionary or instance of "
                "ParallelSettings",
                fails="configure",
            )
        )
        return found
    for key, raw in table.items():
        line = lines.get(key)
        if key not in FIELD_TYPES:
            found.problems.append(
                SettingsProblem(
                    kind="settings-file-invalid",
                    where=str(path),
                    line=line,
                    value=f"{key} = {cut(repr(raw))}",
                    message=f"parallel.{key}: Extra inputs are not permitted "
                    f"(ParallelSettings has no {key!r}; known: {', '.join(FIELD_TYPES)})",
                    fails="configure",
                )
            )
            continue
        value, error = validate(key, raw)
        if error is not None:
            found.problems.append(
                SettingsProblem(
                    kind="settings-file-invalid",
                    where=str(path),
                    line=line,
                    value=f"{key} = {cut(repr(raw))}",
                    message=f"parallel.{key}: {error}",
                    fails="configure",
                )
            )
            continue
        found.values[key] = (value, line)
    return found


# --- the variables -----------------------------------------------------------------------


@dataclass
class Explicit:
    """Values set somewhere, by field: (value, source, line), and what was wrong."""

    values: dict[str, tuple[Any, str, int | None]] = field(default_factory=dict)
    flat: dict[str, tuple[str, Any]] = field(default_factory=dict)  # field → (variable, value)
    problems: list[SettingsProblem] = field(default_factory=list)


def _lowered(environ: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """pydantic-settings matches names case-insensitively; the last spelling wins."""
    return {name.lower(): (name, value) for name, value in environ.items()}


def _env_problem(variable: str, raw: str, message: str, fails: str, name: str) -> SettingsProblem:
    return SettingsProblem(
        kind="env-invalid",
        where=variable,
        value=cut(raw),
        message=message,
        fails="import" if fails == "import" else "configure",
        equivalent=single_equivalent(name, raw),
    )


def read_flat(env: dict[str, tuple[str, str]], into: Explicit) -> None:
    for name in FIELD_TYPES:
        if (found := env.get(flat_name(name).lower())) is None:
            continue
        variable, raw = found
        value, error = validate(name, raw)
        if error is not None:
            into.problems.append(_env_problem(variable, raw, f"{name}: {error}", "import", name))
        else:
            into.flat[name] = (variable, value)
        if variable.upper() in IGNORED:
            into.problems.append(
                SettingsProblem(
                    kind="env-ignored",
                    where=variable,
                    value=cut(raw),
                    message=IGNORED[variable.upper()],
                )
            )
    if (child := env.get("lk_num_child_threads")) is not None:
        into.problems.append(
            SettingsProblem(
                kind="env-ignored",
                where=child[0],
                value=cut(child[1]),
                message=IGNORED["LK_NUM_CHILD_THREADS"],
            )
        )


def read_nested(
    env: dict[str, tuple[str, str]],
) -> tuple[dict[str, tuple[Any, str]], list[SettingsProblem]]:
    """``LK_PARALLEL`` (JSON) overlaid by ``LK_PARALLEL__X``: field → (value, variable)."""
    raw_values: dict[str, tuple[object, str]] = {}
    problems: list[SettingsProblem] = []
    if (whole := env.get("lk_parallel")) is not None:
        variable, raw = whole
        try:
            decoded = json.loads(raw)
        except ValueError:
            decoded = None
        if not isinstance(decoded, dict):
            problems.append(
                SettingsProblem(
                    kind="env-invalid",
                    where=variable,
                    value=cut(raw),
                    message='error parsing value for field "parallel" from source '
                    '"EnvSettingsSource" (not a JSON object)',
                    fails="configure",
                )
            )
        else:
            raw_values.update({key: (value, variable) for key, value in decoded.items()})
    prefix = "lk_parallel__"
    for lowered, (name, text) in env.items():
        if lowered.startswith(prefix):
            raw_values[lowered[len(prefix) :]] = (text, name)
    values: dict[str, tuple[Any, str]] = {}
    for key, (given, setter) in raw_values.items():
        if key not in FIELD_TYPES:
            problems.append(
                SettingsProblem(
                    kind="env-invalid",
                    where=setter,
                    value=str(given),
                    message=f"parallel.{key}: Extra inputs are not permitted",
                    fails="configure",
                )
            )
            continue
        value, error = validate(key, given)
        if error is not None:
            problems.append(
                _env_problem(setter, str(given), f"parallel.{key}: {error}", "configure", key)
            )
        else:
            values[key] = (value, setter)
    return values, problems


# --- the resolution ----------------------------------------------------------------------


@dataclass
class Resolution:
    """LensKit 2026's settings with their sources, and everything LensKit would reject."""

    settings: dict[str, SettingValue]
    num_procs: int
    project_root: Path | None
    project_root_how: str
    files: list[Path]
    problems: list[SettingsProblem]
    explicit: dict[str, tuple[Any, str, int | None]]
    flat: dict[str, tuple[str, Any]]

    @property
    def threads(self) -> int:
        return int(self.settings["num_threads"].value)

    @property
    def backend(self) -> int:
        return int(self.settings["num_backend_threads"].value)

    @property
    def batch_jobs(self) -> int:
        return int(self.settings["num_batch_jobs"].value)

    @property
    def use_ray(self) -> bool:
        return bool(self.settings["use_ray"].value)

    @property
    def fails(self) -> bool:
        return any(problem.fails for problem in self.problems)


def _explicit(
    environ: Mapping[str, str],
    folder: Path,
    parsed_files: Mapping[str, Mapping[str, object]] | None = None,
) -> tuple[Explicit, list[Path]]:
    env = _lowered(environ)
    explicit = Explicit()
    read_flat(env, explicit)
    # Lowest precedence first, so later sources overwrite.
    for name, (variable, value) in explicit.flat.items():
        explicit.values[name] = (value, variable, None)
    files = []
    for file_name in reversed(SETTINGS_FILES):
        path = folder / file_name
        if not path.is_file():
            continue
        files.append(path)
        parsed = None if parsed_files is None else parsed_files.get(os.path.realpath(path))
        read = read_settings_file(path, parsed)
        explicit.problems.extend(read.problems)
        for name, (value, line) in read.values.items():
            explicit.values[name] = (value, str(path), line)
    nested, problems = read_nested(env)
    explicit.problems.extend(problems)
    for name, (value, variable) in nested.items():
        explicit.values[name] = (value, variable, None)
    return explicit, files


def _setting(explicit: Explicit, name: str, default: Any) -> SettingValue:
    if name in explicit.values:
        value, source, line = explicit.values[name]
        return SettingValue(value=value, source=source, line=line)
    return SettingValue(value=default, source="default")


def resolve_defaults(
    raw: dict[str, SettingValue], cpus: int, free_threaded: bool
) -> dict[str, SettingValue]:
    """LensKit's ``ParallelSettings.resolve_defaults``, keeping each value's source."""
    out = dict(raw)

    def derive(name: str, value: int, why: str) -> None:
        was = out[name]
        source = "derived" if was.source == "default" else was.source
        detail = why if was.source == "default" else f"set to {was.value}: {why}"
        out[name] = SettingValue(value=value, source=source, line=was.line, detail=detail)

    ncpus = int(out["num_cpus"].value)
    if ncpus <= 0:
        derive("num_cpus", cpus, "effective_cpu_count() (affinity, PYTHON_CPU_COUNT)")
        if raw["num_cpus"].source == "default":
            out["num_cpus"] = out["num_cpus"].model_copy(update={"source": "default"})
        ncpus = cpus
    threads = int(out["num_threads"].value)
    if threads == 0:
        threads = min(ncpus, 8)
        derive("num_threads", threads, f"min(num_cpus={ncpus}, 8)")
    elif threads < 0:
        threads = ncpus
        derive("num_threads", threads, f"negative: num_cpus={ncpus}")
    if int(out["num_backend_threads"].value) == 0:
        backend = max(min(ncpus // threads, 4), 1)
        derive(
            "num_backend_threads",
            backend,
            f"max(min(num_cpus={ncpus} // num_threads={threads}, 4), 1)",
        )
    elif int(out["num_backend_threads"].value) < 0:
        was = out["num_backend_threads"]
        out["num_backend_threads"] = was.model_copy(
            update={"detail": "negative: LensKit leaves the backends' thread pools alone"}
        )
    jobs = int(out["num_batch_jobs"].value)
    if jobs == 0:
        if free_threaded or bool(out["use_ray"].value):
            why = "free-threaded Python" if free_threaded else "use_ray"
            derive("num_batch_jobs", threads, f"num_threads={threads} ({why})")
        else:
            derive("num_batch_jobs", 1, "1 (no Ray, Python has a GIL)")
    elif jobs < 0:
        derive("num_batch_jobs", ncpus, f"negative: num_cpus={ncpus}")
    return out


def resolve_settings(
    environ: Mapping[str, str],
    cwd: Path,
    cpus: int,
    *,
    project_root: Path | None = None,
    free_threaded: bool = False,
    parsed_files: Mapping[str, Mapping[str, object]] | None = None,
) -> Resolution:
    """Resolve LensKit 2026's parallel settings as its ``lenskit`` command would in ``cwd``.

    Invalid values are reported in ``problems`` and resolved here as if unset.
    ``parsed_files``: what LensKit's own parse gave of each settings file, by real path
    (see :func:`read_settings_file`).
    """
    root, how = project_root_of(cwd, environ, project_root)
    explicit, files = _explicit(environ, root if root is not None else cwd, parsed_files)
    raw = {name: _setting(explicit, name, 0) for name in FIELD_TYPES if name != "tune_jobs"}
    raw["use_ray"] = _setting(explicit, "use_ray", False)
    resolved = resolve_defaults(raw, max(cpus, 1), free_threaded)
    return Resolution(
        settings={name: resolved[name] for name in REPORTED},
        num_procs=int(resolved["num_procs"].value),
        project_root=root,
        project_root_how=how,
        files=files,
        problems=explicit.problems,
        explicit=explicit.values,
        flat=explicit.flat,
    )


# --- how batch work runs, and its peak ------------------------------------------------------


BatchMode = Literal["sequential", "thread-pool", "ray"]


def batch_mode(use_ray: bool, jobs: int) -> BatchMode:
    return "ray" if use_ray else "thread-pool" if jobs > 1 else "sequential"


def counted_backend(backend: int, cpus: int) -> int:
    """Backend threads that run per driving thread (< 1: the backends' default, one per CPU)."""
    return backend if backend >= 1 else cpus


def ray_tasks(jobs: int, backend: int, node_cpus: int) -> int:
    """Ray tasks at once: ``num_batch_jobs`` throttled by the node's CPUs / task CPUs."""
    return max(min(jobs, node_cpus // max(backend, 1)), 1)


def peak_demand(
    threads: int, backend: int, jobs: int, use_ray: bool, cpus: int, node_cpus: int
) -> int:
    """The peak of the module docstring's model."""
    b = counted_backend(backend, cpus)
    if use_ray:
        return ray_tasks(jobs, backend, node_cpus) * threads * b
    if jobs > 1:
        return max(threads * b, jobs * b, (jobs - 1) * b + threads)
    return threads * b


def fit(
    threads: int, backend: int, jobs: int, use_ray: bool, effective: int, node_cpus: int
) -> tuple[int, int, int]:
    """(threads, backend, jobs) shrunk so the peak ≤ ``effective``; values that fit are kept."""
    effective = max(effective, 1)
    t = max(min(threads, effective), 1)
    b = max(min(counted_backend(backend, effective), effective // t), 1)
    j = max(jobs, 1)
    if use_ray:
        while j > 1 and ray_tasks(j, b, node_cpus) * t * b > effective:
            j -= 1
    elif j > 1:
        j = max(min(j, effective // b, (effective - t) // b + 1), 1)
    return t, b, j


__all__ = [
    "FIELD_TYPES",
    "IGNORED",
    "REPORTED",
    "Resolution",
    "batch_mode",
    "fit",
    "flat_name",
    "large_settings_files",
    "nested_name",
    "peak_demand",
    "read_settings_file",
    "resolve_settings",
    "validate",
]
