"""collect → analyse: build the report, one section at a time.

A section whose collector fails becomes an ``errors[]`` entry and the rest of
the report is still produced.
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from lkdoctor._native import load_probe
from lkdoctor.collected import guard
from lkdoctor.host.lenskit import Dialect
from lkdoctor.model import Bench, ErrorEntry, Report, ThreadPlan, ToolInfo
from lkdoctor.version import __version__

if TYPE_CHECKING:
    from lkdoctor.plan.plan2026 import PendingAnswer

T = TypeVar("T")


def _guarded(report: Report, section: str, collector: Callable[[], T]) -> T | None:
    collected = guard(section, collector)
    report.errors.extend(collected.errors)
    return collected.value


def tool_info() -> ToolInfo:
    probe, _ = load_probe()
    return ToolInfo(
        version=__version__,
        python=platform.python_version(),
        platform=f"{platform.system()} {platform.release()} {platform.machine()}",
        probe_version=getattr(probe, "__version__", None),
        probe_build=dict(probe.build_info) if probe is not None else None,
    )


@contextmanager
def _environ_kept(enabled: bool) -> Iterator[None]:
    """Restore ``os.environ`` on exit to what it was on entry."""
    saved = dict(os.environ)
    try:
        yield
    finally:
        if enabled and dict(os.environ) != saved:
            os.environ.clear()
            os.environ.update(saved)


def _check_target(root: Path, pid: int, apply: bool) -> None:
    """``--pid`` is read-only and must name a live process."""
    from lkdoctor.host.proc import process_exists

    if apply:
        raise ValueError(
            "apply cannot be combined with pid: another process is inspected read-only"
        )
    if not process_exists(root, pid):
        raise ProcessLookupError(f"no process with pid {pid}")


def _plan(
    lenskit_cpus: int,
    effective: int,
    env: Mapping[str, str],
    dialect: Dialect | None,
    root: Path,
    pid: int | None,
    project_root: Path | None,
    pending: list[PendingAnswer | None],
) -> ThreadPlan:
    """The plan in the installed LensKit's dialect (2026: in the diagnosed folder)."""
    from lkdoctor.host.lenskit import detect_dialect
    from lkdoctor.plan.plan2026 import collect_plan_2026, start_answer
    from lkdoctor.plan.resolve import collect_plan

    chosen = detect_dialect(dialect)
    if chosen.dialect == "2025":
        plan = collect_plan(lenskit_cpus, effective, env)
        plan.dialect_reason = chosen.reason
        return plan
    cwd = None
    if pid is not None:
        try:
            cwd = Path(os.readlink(root / "proc" / str(pid) / "cwd"))
        except OSError:
            cwd = None
    plan = collect_plan_2026(
        lenskit_cpus, effective, env, chosen, cwd=cwd, project_root=project_root, ask=False
    )
    if pid is None or cwd is not None:
        # LensKit's own answer runs in a child process while the other sections are collected.
        pending.append(start_answer(plan, env, cwd, project_root))
    return plan


def collect(
    *,
    bench: bool = False,
    apply: bool = False,
    pid: int | None = None,
    root: Path | str = "/",
    environ: Mapping[str, str] | None = None,
    sample_time: float = 1.0,
    bench_time: float | None = None,
    progress: Callable[[str], None] | None = None,
    packages: bool = False,
    paths: bool = False,
    redact: bool = False,
    dialect: Dialect | None = None,
    project_root: Path | None = None,
) -> Report:
    """Collect and analyse a full report on this process (or ``pid``).

    Without ``apply`` the caller's process is left exactly as it was found.
    ``pid`` is inspected read-only, its threads sampled over ``sample_time``
    seconds; a ``pid`` that does not exist raises ProcessLookupError.
    ``bench`` runs the micro-benchmarks within ``bench_time`` seconds (default 1),
    reporting what it measures to ``progress``; it too leaves the process's pools as found.
    ``packages`` / ``paths`` add those lists to the environment section; secrets are
    always masked, and ``redact`` also hides the user name, host name and home folder.
    ``dialect`` forces the LensKit configuration dialect of the plan (default: the installed
    LensKit's); ``project_root`` is where LensKit 2026's settings files are (``-R``).
    """
    root_path = Path(root)
    if pid is not None:
        _check_target(root_path, pid, apply)
    # Imports can write to os.environ (threadpoolctl sets KMP_DUPLICATE_LIB_OK): inspection
    # undoes that, so the caller's environment is left as found; --apply keeps its changes.
    env = dict(os.environ) if environ is None else environ  # as found, before any import
    with _environ_kept(enabled=not apply):
        from lkdoctor.bench.run import bench_section
        from lkdoctor.checks import analyse
        from lkdoctor.cpu.budget import collect_cpu
        from lkdoctor.environment.info import collect_environment
        from lkdoctor.plan.plan2026 import attach_answers
        from lkdoctor.pools.live import collect_live
        from lkdoctor.pools.process import collect_process, target_environ
        from lkdoctor.redact import redact_report

        report = Report(tool=tool_info())
        if pid is not None and environ is None:
            env = _guarded(report, "pools", lambda: target_environ(root_path, pid)) or {}
        _, probe_error = load_probe()
        if probe_error:
            report.errors.append(ErrorEntry(section="probe", message=probe_error))

        report.cpu = _guarded(report, "cpu", lambda: collect_cpu(root_path, env, pid))
        cpu = report.cpu
        pending: list[PendingAnswer | None] = []
        if cpu is not None:
            report.plan = _guarded(
                report,
                "plan",
                lambda: _plan(
                    cpu.lenskit_effective,
                    cpu.effective,
                    env,
                    dialect,
                    root_path,
                    pid,
                    project_root,
                    pending,
                ),
            )
        if pid is None:
            _guarded(report, "pools", lambda: collect_live(report, root_path, env, apply=apply))
        else:
            _guarded(
                report, "pools", lambda: collect_process(report, root_path, pid, sample_time, env)
            )
        plan = report.plan
        if plan is not None:  # finished before the benchmarks, which it would disturb
            _guarded(report, "plan", lambda: attach_answers(plan, pending))
        report.bench = _guarded(
            report,
            "bench",
            lambda: bench_section(
                report, requested=bench, pid=pid, budget=bench_time, progress=progress
            ),
        ) or Bench(verdict="inconclusive", reason="the benchmarks failed (see errors)")
        report.environment = _guarded(
            report,
            "environment",
            lambda: collect_environment(env, packages=packages, paths=paths),
        )
        _guarded(report, "checks", lambda: analyse(report))
        # Secrets are masked here, once, so every format and every caller gets the masked model.
        return redact_report(report, environs=[env, os.environ], hide_identity=redact)


if __name__ == "__main__":  # pragma: no cover - debugging aid
    sys.stdout.write(collect().model_dump_json(indent=2) + "\n")
