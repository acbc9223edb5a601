"""Which Python script a command line runs: ``python PATH``, ``python -m module``, through
``env`` and ``bash -c`` / ``sh -c`` wrappers. Nothing is imported to find a module: its
file is looked up on the search path the command's Python would use (its folder first).
"""

from __future__ import annotations

import importlib.machinery
import os
import re
import shlex
import sys
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

#: python, python3, python3.13, python3.13t, pypy3 …, by the executable's file name.
PYTHON_NAME = re.compile(r"^(python|pypy)(\d+(\.\d+)?t?)?$")

#: Python's own options that take the next argument.
OPTIONS_WITH_VALUE = {"-X", "-W", "--check-hash-based-pycs"}

SHELLS = {"bash", "sh", "dash", "zsh"}
#: Wrappers that run the rest of the line as a command.
PASS_THROUGH = {"exec", "nice", "time", "nohup", "command", "stdbuf", "setsid"}
#: Options of those wrappers that take the next argument.
WRAPPER_VALUES = {"nice": {"-n", "--adjustment"}, "time": {"-o", "-f"}}
SHELL_SEPARATORS = {"&&", "||", ";", "|", "&"}


@dataclass(frozen=True)
class ScriptRun:
    """What Python runs as ``__main__``: a file, a module's file, or inline code."""

    kind: Literal["file", "module", "inline", "unknown"]
    path: Path | None
    detail: str


def _strip_env(args: list[str]) -> list[str]:
    """``env [-i] [-u NAME] [NAME=VALUE]… COMMAND``: the command."""
    rest = args[1:]
    while rest:
        head = rest[0]
        if head in ("-u", "--unset", "-C", "--chdir"):
            rest = rest[2:]
        elif head.startswith("-") or "=" in head:
            rest = rest[1:]
        else:
            break
    return rest


def _module_file(module: str, cwd: Path, safe_path: bool) -> Path | None:
    """The file ``python -m module`` runs, found without importing anything: the package's
    ``__main__.py`` for a package. ``safe_path`` (``-P``, ``PYTHONSAFEPATH``) leaves the
    current folder off the search path, as Python does."""
    search = [*([] if safe_path else [str(cwd)]), *[p for p in sys.path if p]]
    spec = None
    for depth, part in enumerate(module.split(".")):
        path = search if depth == 0 else list(spec.submodule_search_locations or []) if spec else []
        spec = importlib.machinery.PathFinder.find_spec(part, path)
        if spec is None:
            return None
    if spec is None:
        return None
    if spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            main = Path(location) / "__main__.py"
            if main.is_file():
                return main
        return None
    return Path(spec.origin) if spec.origin and spec.has_location else None


def _python_run(args: list[str], cwd: Path, safe_path: bool) -> ScriptRun:
    rest = args[1:]
    while rest:
        head = rest[0]
        if head == "-c":
            return ScriptRun("inline", None, "python -c: inline code, which workers cannot re-run")
        if head == "-m":
            if len(rest) < 2:
                return ScriptRun("unknown", None, "python -m without a module")
            found = _module_file(rest[1], cwd, safe_path or "-P" in args[1:])
            if found is None:
                return ScriptRun("unknown", None, f"python -m {rest[1]}: its file was not found")
            return ScriptRun("module", found, f"python -m {rest[1]}")
        if head.startswith("-m") and len(head) > 2:
            return _python_run([args[0], "-m", head[2:], *rest[1:]], cwd, safe_path)
        if head == "-":
            return ScriptRun("inline", None, "stdin: inline code, which workers cannot re-run")
        if head in OPTIONS_WITH_VALUE:
            rest = rest[2:]
            continue
        if head.startswith("-"):
            rest = rest[1:]
            continue
        path = Path(head) if Path(head).is_absolute() else cwd / head
        if path.suffix == ".ipynb":
            return ScriptRun("inline", None, "a notebook: its cells are not a main module")
        return ScriptRun("file", path, f"python {head}")
    return ScriptRun("inline", None, "stdin: inline code, which workers cannot re-run")


def script_of(
    command: Sequence[str],
    cwd: Path | None = None,
    depth: int = 0,
    environ: Mapping[str, str] | None = None,
) -> ScriptRun | None:
    """The script ``command`` runs (in ``cwd``, with ``environ``: default ours), or None
    when it does not start Python."""
    here = cwd or Path(os.getcwd())
    env = os.environ if environ is None else environ
    args = list(command)
    while args and depth < 8:
        name = Path(args[0]).name
        if name == "env":
            args = _strip_env(args)
        elif name in PASS_THROUGH:
            args = _leading_options_dropped(args[1:], WRAPPER_VALUES.get(name, set()))
        elif name == "timeout":  # timeout [OPTIONS] DURATION COMMAND
            args = _leading_options_dropped(args[1:], {"-s", "--signal", "-k"})[1:]
        elif name in SHELLS and "-c" in args[1:]:
            script = args[args.index("-c") + 1 :]
            if not script:
                return None
            try:
                words = shlex.split(script[0])
            except ValueError:
                return None
            for segment in _segments(words):
                if segment[0] == "cd" and len(segment) > 1:  # later relative paths start there
                    here = here / segment[1]
                    continue
                found = script_of(segment, here, depth + 1, env)
                if found is not None:
                    return found
            return None
        elif name == "uv" and args[1:2] == ["run"]:
            args = _leading_options_dropped(args[2:])
        elif PYTHON_NAME.match(name):
            return _python_run(args, here, bool(env.get("PYTHONSAFEPATH")))
        else:
            return None
        depth += 1
    return None


def _leading_options_dropped(args: list[str], with_value: Collection[str] = ()) -> list[str]:
    while args and args[0].startswith("-"):
        args = args[2:] if args[0] in with_value else args[1:]
    return args


def _segments(words: list[str]) -> list[list[str]]:
    """A shell line split at ``&&``, ``;``, ``|`` …: one command each."""
    segments: list[list[str]] = [[]]
    for word in words:
        if word in SHELL_SEPARATORS:
            segments.append([])
        else:
            segments[-1].append(word)
    return [s for s in segments if s]
