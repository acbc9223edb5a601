"""LensKit 2026's own answer: its settings code run in a child process (``ask_child.py``)
in the diagnosed folder and environment, so the doctor's process imports nothing of LensKit's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lkdoctor.host.lenskit import lenskit_package_dirs
from lkdoctor.plan.lenskit2026.settings import REPORTED
from lkdoctor.plan.lenskit2026.shape import LensKit2026Settings, ThreadPlan2026
from lkdoctor.plan.line import AppliedSetup, count_or_none

CHILD_SCRIPT = Path(__file__).with_name("ask_child.py")
#: Hard limit for LensKit's own answer (it imports pydantic-settings, not torch).
CHILD_TIMEOUT = 30.0


@dataclass(frozen=True)
class ChildAnswer:
    """What LensKit's own code printed (``data``), or why there is nothing (``note``)."""

    data: dict[str, Any] | None
    note: str | None = None


class PendingAnswer:
    """LensKit's own answer, running in a child process while the doctor goes on."""

    def __init__(
        self,
        environ: Mapping[str, str],
        cwd: Path,
        project_root: Path | None = None,
        python: str | None = None,
        timeout: float = CHILD_TIMEOUT,
        affinity: set[int] | None = None,
        parsed_files: bool = False,
    ) -> None:
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout
        command = [python or sys.executable, "-P", str(CHILD_SCRIPT)]
        if affinity:
            command.append("--affinity=" + ",".join(map(str, sorted(affinity))))
        if parsed_files:  # what LensKit's parse of each settings file gave, too
            command.append("--parsed-files")
        if project_root is not None:
            command.append(str(project_root))
        self.process: subprocess.Popen[str] | None = None
        self.failed: ChildAnswer | None = None
        try:
            self.process = subprocess.Popen(
                command,
                cwd=cwd,
                env=dict(environ),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        except OSError as exc:
            self.failed = ChildAnswer(None, f"could not run {command[0]}: {exc}")

    def result(self) -> ChildAnswer:
        """Wait (until the deadline, then kill the child) for the answer; never raises."""
        if self.process is None:
            return self.failed or ChildAnswer(None, "LensKit's settings code did not start")
        try:
            out, err = self.process.communicate(timeout=max(self.deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.communicate()
            return ChildAnswer(
                None, f"LensKit's settings code did not answer within {self.timeout:.0f} s"
            )
        lines = [line for line in out.splitlines() if line.startswith("{")]
        if not lines:
            tail = (err.strip().splitlines() or ["no output"])[-1]
            code = self.process.returncode
            return ChildAnswer(None, f"LensKit's settings code failed (exit {code}): {tail}")
        try:
            data = json.loads(lines[-1])
        except ValueError:
            return ChildAnswer(None, "LensKit's settings code printed something that is not JSON")
        return ChildAnswer(data if isinstance(data, dict) else None)


def ask_lenskit(
    environ: Mapping[str, str],
    cwd: Path,
    project_root: Path | None = None,
    python: str | None = None,
    timeout: float = CHILD_TIMEOUT,
) -> ChildAnswer:
    """Run LensKit's settings code in a child process with ``environ`` in ``cwd``; never raises."""
    return PendingAnswer(environ, cwd, project_root, python, timeout).result()


def attach_answer(plan: ThreadPlan2026, answer: ChildAnswer) -> None:
    """Put LensKit's own answer into the plan."""
    plan.lenskit_resolved = lenskit_resolved(answer)
    plan.lenskit_note = failure_message(answer)


def start_answer(
    plan: ThreadPlan2026,
    environ: Mapping[str, str],
    cwd: Path | None,
    project_root: Path | None,
    affinity: set[int] | None = None,
) -> PendingAnswer | None:
    """Start asking the installed LensKit (None when there is none to ask, or when the plan
    already holds its answer); the answer is put in with :func:`attach_answer`.
    ``affinity``: the CPUs of the diagnosed process when it is not this one (``--pid``)."""
    if plan.lenskit_resolved is not None or plan.lenskit_note is not None:
        return None
    return ask_in_background(plan.lenskit_version, environ, cwd, project_root, affinity)


def ask_in_background(
    version: str | None,
    environ: Mapping[str, str],
    cwd: Path | None,
    project_root: Path | None,
    affinity: set[int] | None = None,
    parsed_files: bool = False,
) -> PendingAnswer | None:
    """LensKit's answer started in a child (None where no LensKit 2026 is installed);
    ``parsed_files``: with what its parse of each settings file gave."""
    if version is None or not lenskit_package_dirs():
        return None
    folder = Path(os.getcwd()) if cwd is None else cwd
    return PendingAnswer(
        environ, folder, project_root, affinity=affinity, parsed_files=parsed_files
    )


def parsed_by_lenskit(answer: ChildAnswer) -> dict[str, dict[str, Any]]:
    """What LensKit's own parse of each settings file gave, by real path."""
    parsed = answer.data.get("parsed_files") if answer.data is not None else None
    if not isinstance(parsed, dict):
        return {}
    return {path: entry for path, entry in parsed.items() if isinstance(entry, dict)}


def lenskit_resolved(answer: ChildAnswer) -> LensKit2026Settings | None:
    if answer.data is None or not answer.data.get("ok"):
        return None
    par = answer.data["parallel"]
    return LensKit2026Settings(**{name: par[name] for name in REPORTED})


def failure_message(answer: ChildAnswer) -> str | None:
    """LensKit's own error message when its settings do not load."""
    if answer.data is None or answer.data.get("ok"):
        return answer.note
    error = f"{answer.data.get('error')}: {answer.data.get('message')}"
    if answer.data.get("error") in ("ImportError", "ModuleNotFoundError", "LookupError"):
        return f"LensKit's settings code could not be run: {error}"
    return f"LensKit failed at {answer.data.get('stage')}: {error}"


def applied_setup(names: Mapping[str, object], by_cli: bool) -> AppliedSetup | None:
    """What LensKit 2026's ``init_threading()`` applied (run by ``configure()``, so by the
    root of LensKit's ``lenskit`` command before any subcommand): it keeps its
    ``ParallelSettings`` as ``__settings`` (having them means LensKit's Rayon pool was
    built, so reading its size creates nothing new)."""
    settings = names.get("__settings")
    if settings is None:
        return None
    dump = getattr(settings, "model_dump", None)
    found = dump() if callable(dump) else None
    values: dict[str, object] = dict(found) if isinstance(found, dict) else {}
    return AppliedSetup(
        settings=values,
        threads=count_or_none(values.get("num_threads")),
        backend_threads=count_or_none(values.get("num_backend_threads")),
        by_cli=by_cli,
    )
