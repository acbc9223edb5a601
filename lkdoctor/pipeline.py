"""collect → analyse → mask: build the report, one section at a time.

The one writer of the ``Report``: each section collector returns its section (and the
errors it went on past), and :func:`_section` puts both into the report under the one
guard, so a section whose collector fails becomes an ``errors[]`` entry and the rest of
the report is still produced. A single machine and a Ray cluster (``--ray``) go through
the same steps, and the same masking, whatever the output format.

:class:`Request` holds the options of ``lenskit doctor`` and of ``lkdoctor.collect()``,
and :meth:`Request.conflict` is the one place where options that exclude each other are
refused.
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, overload

from lkdoctor._native import load_probe
from lkdoctor.collected import Collected, guard
from lkdoctor.host.proc import LIVE_ROOT
from lkdoctor.model import (
    Bench,
    Comparison,
    ErrorEntry,
    ModelCost,
    Observed,
    Section,
    ToolInfo,
    Verdict,
    Workers,
)
from lkdoctor.report import Report, ThreadPlan
from lkdoctor.version import __version__

if TYPE_CHECKING:
    from lkdoctor.plan.line import AttachAnswer

T = TypeVar("T")

#: With ``--ray``: how long each node may take to answer, by default.
DEFAULT_RAY_TIMEOUT = 60.0


class OptionConflict(ValueError):
    """Options that cannot be used together (the command line makes it a usage error)."""


@dataclass(frozen=True)
class Request:
    """What to collect: the options shared by the command line and ``lkdoctor.collect()``."""

    bench: bool = False
    bench_time: float | None = None
    apply: bool = False
    pid: int | None = None
    sample_time: float = 1.0
    packages: bool = False
    paths: bool = False
    redact: bool = False
    ray_address: str | None = None
    ray_timeout: float = DEFAULT_RAY_TIMEOUT
    tree: bool = True  # --pid covers the process tree; False with --single-process
    command: tuple[str, ...] = ()  # -- COMMAND: run and observed by the command line
    dialect: str | None = None  # the plan's LensKit dialect; None: the installed one's
    project_root: Path | None = None  # where LensKit 2026's settings files are (-R)
    verify: bool = False  # --verify: measure the suggested exports against the current ones
    power: bool = False  # --power: LensKit's own power measurement
    script: Path | None = None  # --script: checked statically for unprotected process work
    #: --compare's command, whose script is checked like -- COMMAND's
    script_command: tuple[str, ...] = ()
    model: Path | None = None  # --model: a saved model, loaded and measured in a child
    model_timeout: float = 60.0  # --model-timeout: the child's hard time limit

    def conflict(self) -> str | None:
        """Why these options cannot be used together, or None when they can."""
        if self.verify and (self.command or self.pid is not None or self.ray_address):
            return "--verify measures this machine; it cannot be combined with -- COMMAND, --pid or --ray"
        if self.verify and not self.bench:
            return "--verify is a benchmark; it cannot be combined with --no-bench"
        if self.command and (self.apply or self.pid is not None or self.ray_address):
            return "-- COMMAND cannot be combined with --apply, --pid or --ray"
        if not self.tree and self.pid is None:
            return "--single-process needs --pid"
        if self.apply and self.pid is not None:
            return (
                "--apply changes this process; it cannot be combined with --pid "
                "(another process is inspected read-only)"
            )
        if self.model is not None and self.ray_address is not None:
            return "--model is measured on this machine; it cannot be combined with --ray"
        if self.ray_address is not None and (self.apply or self.pid is not None):
            return "--ray cannot be combined with --apply or --pid"
        return None

    def bench_skipped(self) -> str | None:
        """Why the benchmarks do not run, or None when they do."""
        if self.ray_address is not None:
            return "not run in cluster mode (--ray)"
        if not self.bench:
            return "benchmarks were not requested (--no-bench)"
        if self.pid is not None:
            return (
                f"--pid {self.pid} is inspected read-only; the benchmarks only measure this process"
            )
        return None


def tool_info() -> ToolInfo:
    probe, _ = load_probe()
    return ToolInfo(
        version=__version__,
        python=platform.python_version(),
        platform=f"{platform.system()} {platform.release()} {platform.machine()}",
        probe_version=getattr(probe, "__version__", None),
        probe_build=dict(probe.build_info) if probe is not None else None,
    )


@overload
def _section(
    report: Report, section: Section, collector: Callable[[], Collected[T]]
) -> T | None: ...
@overload
def _section(report: Report, section: Section, collector: Callable[[], T]) -> T | None: ...
def _section(report: Report, section: Section, collector: Callable[[], Any]) -> Any:
    """Run a section collector under the one guard; keep its errors, return its section."""
    guarded = guard(section, collector)
    report.errors.extend(guarded.errors)
    found = guarded.value
    if isinstance(found, Collected):
        report.errors.extend(found.errors)
        return found.value
    return found


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


def _model_cost(request: Request, workers: Workers | None) -> ModelCost | None:
    """``--model``: measured in a child, then predicted for the plan's workers."""
    from lkdoctor.workers.model import model_notes, predict, run_model_child

    if request.model is None or workers is None:
        return None
    cost = predict(run_model_child(request.model, request.model_timeout), workers, workers.memory)
    workers.notes.extend(model_notes(cost))
    return cost


def effective_cpus(root: Path = LIVE_ROOT) -> int | None:
    """This process's effective CPUs (a command it starts inherits them), None if unknown."""
    from lkdoctor.cpu.budget import collect_cpu

    budget = guard(Section.CPU, lambda: collect_cpu(root, os.environ, None)).value
    return budget.effective if budget is not None else None


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
    ray: str | None = None,
    ray_timeout: float = DEFAULT_RAY_TIMEOUT,
    tree: bool = True,
    observation: Collected[Observed | None] | None = None,
    dialect: str | None = None,
    project_root: Path | None = None,
    verify: bool = False,
    power: bool = False,
    script: Path | str | None = None,
    model: Path | str | None = None,
    model_timeout: float = 60.0,
) -> Report:
    """Collect and analyse a full report on this process (or ``pid``, or a Ray cluster).

    Without ``apply`` the caller's process is left exactly as it was found.
    ``pid`` is inspected read-only, its threads sampled over ``sample_time``
    seconds; a ``pid`` that does not exist raises ProcessLookupError.
    ``bench`` runs the micro-benchmarks within ``bench_time`` seconds (default 1),
    reporting what it measures to ``progress``; it too leaves the process's pools as found.
    ``packages`` / ``paths`` add those lists to the environment section; secrets are
    always masked, and ``redact`` also hides the user name, host name and home folder.
    ``ray`` (an address, or ``"auto"``) reports every node of that running Ray cluster
    instead, each given ``ray_timeout`` seconds; ``ClusterUnavailable`` when none runs there.
    Options that exclude each other raise `OptionConflict` (a ValueError).
    ``pid`` covers its whole process tree unless ``tree`` is false. ``observation`` is a
    run already observed (``-- COMMAND``); the report then describes that run.
    ``dialect`` forces the LensKit configuration dialect of the plan (default: the installed
    LensKit's); ``project_root`` is where LensKit 2026's settings files are (``-R``).
    ``verify`` (with ``bench``) also measures the suggested exports against the current
    settings, in fresh child processes (``bench.verification``).
    ``power`` asks LensKit's own power measurement (``environment.compute.power``).
    ``script`` is a Python script checked statically (never run) for module-level process
    work that spawned batch workers would run again (``workers.scripts``).
    ``model`` (a saved LensKit pipeline or component, pickled) is loaded and measured in a
    child process killed after ``model_timeout`` seconds: what a batch run copies into
    shared memory and into every worker, and the run's predicted peak.
    """
    request = Request(
        bench=bench,
        bench_time=bench_time,
        apply=apply,
        pid=pid,
        sample_time=sample_time,
        packages=packages,
        paths=paths,
        redact=redact,
        ray_address=ray,
        ray_timeout=ray_timeout,
        tree=tree,
        dialect=dialect,
        project_root=project_root,
        verify=verify,
        power=power,
        script=Path(script) if script is not None else None,
        model=Path(model) if model is not None else None,
        model_timeout=model_timeout,
    )
    return run(
        request, root=Path(root), environ=environ, progress=progress, observation=observation
    )


def run(
    request: Request,
    *,
    root: Path = LIVE_ROOT,
    environ: Mapping[str, str] | None = None,
    progress: Callable[[str], None] | None = None,
    exit_if_connect_hangs: bool = False,
    observation: Collected[Observed | None] | None = None,
    comparison: Comparison | None = None,
) -> Report:
    """The report ``request`` asks for, analysed and masked (see :func:`collect`);
    ``comparison`` is a ``--compare`` already measured, which the report then carries.

    ``exit_if_connect_hangs`` (the command line, which owns its process) ends the process
    when connecting to a Ray cluster hangs for longer than ``request.ray_timeout``.
    """
    problem = request.conflict()
    if problem:
        raise OptionConflict(problem)
    if request.pid is not None:
        from lkdoctor.host.proc import process_exists

        if not process_exists(root, request.pid):
            raise ProcessLookupError(f"no process with pid {request.pid}")
    # Imports can write to os.environ (threadpoolctl sets KMP_DUPLICATE_LIB_OK): inspection
    # undoes that, so the caller's environment is left as found; --apply keeps its changes.
    env = dict(os.environ) if environ is None else environ  # as found, before any import
    with _environ_kept(enabled=not request.apply):
        node_hosts: list[str] = []
        if request.ray_address is not None:
            exit_after = request.ray_timeout if exit_if_connect_hangs else None
            report, node_hosts = _collect_cluster(request, env, exit_after)
        else:
            report, env = _collect_here(
                request, root, env, progress, target_env=environ is None, observation=observation
            )
            if comparison is not None:  # the command's runs are the measurement
                report.comparison = comparison
                report.bench = Bench(
                    verdict=Verdict.SKIPPED,
                    reason="not run with --compare: the command's runs are measured",
                )
        from lkdoctor.checks import analyse
        from lkdoctor.redact import redact_report

        _section(report, Section.CHECKS, lambda: analyse(report))
        # Masked here, once, so every format and every caller gets the masked model.
        return redact_report(
            report,
            environs=[env, os.environ],
            hide_identity=request.redact,
            other_hosts=node_hosts,
        )


def _collect_here(
    request: Request,
    root: Path,
    env: Mapping[str, str],
    progress: Callable[[str], None] | None,
    *,
    target_env: bool,
    observation: Collected[Observed | None] | None = None,
) -> tuple[Report, Mapping[str, str]]:
    """Every section of this process (or of ``request.pid``, or of the run ``observation``
    describes), before analysis, and the environment it was read with (with
    ``target_env``, ``request.pid``'s own)."""
    from lkdoctor.bench.run import DEFAULT_BUDGET, collect_bench, skipped
    from lkdoctor.cpu.budget import collect_cpu
    from lkdoctor.environment.info import collect_environment
    from lkdoctor.observe.plan import lenskit_environ, with_plan
    from lkdoctor.observe.sampler import observe_pid
    from lkdoctor.plan.lines import dialect_named
    from lkdoctor.pools.live import collect_live
    from lkdoctor.pools.process import target_environ
    from lkdoctor.workers.facts import collect_workers
    from lkdoctor.workers.memory import collect_memory

    pid = request.pid
    report = Report(tool=tool_info())
    if pid is not None and target_env:
        env = _section(report, Section.POOLS, lambda: target_environ(root, pid)) or {}
    _, probe_error = load_probe()
    if probe_error:
        report.errors.append(ErrorEntry(section=Section.PROBE, message=probe_error))

    cpu = report.cpu = _section(report, Section.CPU, lambda: collect_cpu(root, env, pid))
    pending: list[AttachAnswer] = []
    # -- COMMAND: LensKit ran with the environment of its own process, not the doctor's
    found = lenskit_environ(env, observation.value) if observation is not None else None
    plan_env = env if found is None else found[0]
    if cpu is not None:
        report.plan = _section(
            report,
            Section.PLAN,
            lambda: _plan(cpu.lenskit_effective, cpu.effective, plan_env, request, root, pending),
        )
    plan = report.plan
    verification = None
    if request.verify and request.bench_skipped() is None:
        # the children start up (import torch) while the rest is collected
        from lkdoctor.bench.verify import Verification

        budget = request.bench_time or DEFAULT_BUDGET
        verification = _section(
            report,
            Section.VERIFICATION,
            lambda: Verification(
                plan,
                env,
                budget=budget,
                resolve=lambda environ: plan_for_environ(
                    environ, request.dialect, request.project_root
                ),
            ),
        )
    if observation is not None:  # -- COMMAND: the run is the subject, not this process
        report.observed = _section(report, Section.OBSERVED, lambda: observation)
        if report.observed is not None and found is not None:
            report.observed.plan_environ_pid = found[1]
    elif pid is None:
        level_zero = plan.levels[0] if plan is not None and plan.levels else None
        dialect = dialect_named(plan.dialect) if plan is not None else None
        report.pools = _section(
            report,
            Section.POOLS,
            lambda: collect_live(level_zero, root, env, apply=request.apply, dialect=dialect),
        )
    else:  # --pid: its tree, or with --single-process the process alone
        cpus = cpu.effective if cpu is not None else None
        report.observed = _section(
            report,
            Section.OBSERVED,
            lambda: observe_pid(pid, request.sample_time, cpus=cpus, tree=request.tree, root=root),
        )
    for attach in pending:  # LensKit's own answer is in before the benchmarks it would disturb
        _section(report, Section.PLAN, attach)
    script_command: Sequence[str] = request.command or request.script_command
    script_cwd = None
    if pid is not None:  # --pid: the script the target runs, where it runs
        from lkdoctor.workers.command import command_of_process

        script_command, script_cwd = command_of_process(root, pid)
    report.workers = _section(
        report,
        Section.WORKERS,
        lambda: collect_workers(
            report.plan, request.script, script_command, report.observed, script_cwd, env
        ),
    )
    if report.workers is not None:
        report.workers.memory = _section(report, Section.WORKERS, lambda: collect_memory(root, pid))
        if request.model is not None:
            report.workers.model = _section(
                report, Section.WORKERS, lambda: _model_cost(request, report.workers)
            )
    if report.observed is not None and plan is not None:
        report.observed = with_plan(report.observed, plan)
    skip = request.bench_skipped()
    if skip is not None:
        report.bench = skipped(skip)
    else:
        if verification is not None:  # their start-up must not disturb the benchmark
            verification.wait_ready()
        report.bench = _section(
            report,
            Section.BENCH,
            lambda: collect_bench(cpu, plan, budget=request.bench_time, progress=progress),
        ) or Bench(verdict=Verdict.INCONCLUSIVE, reason="the benchmarks failed (see errors)")
    if verification is not None:
        report.bench.verification = _section(
            report, Section.VERIFICATION, lambda: verification.measure(progress)
        )
    report.environment = _section(
        report,
        Section.ENVIRONMENT,
        lambda: collect_environment(
            env,
            packages=request.packages,
            paths=request.paths,
            foreign=pid is not None or observation is not None,
            power=request.power,
            project_root=request.project_root,
        ),
    )
    return report, env


def _plan(
    lenskit_cpus: int,
    effective: int,
    env: Mapping[str, str],
    request: Request,
    root: Path,
    pending: list[AttachAnswer],
    *,
    ask_lenskit: bool = True,
) -> ThreadPlan:
    """The plan in the installed LensKit's dialect, in the diagnosed folder.

    LensKit's own answer is started and added to ``pending``, to run while the other
    sections are collected; without ``ask_lenskit`` LensKit's own code is not asked.
    """
    from lkdoctor.plan.line import PlanRequest
    from lkdoctor.plan.lines import detect_dialect

    chosen = detect_dialect(request.dialect)
    cwd = None
    affinity = None
    if request.pid is not None:
        try:
            cwd = Path(os.readlink(root / "proc" / str(request.pid) / "cwd"))
            # LensKit counts the CPUs of the process it runs in: the target's, not ours
            affinity = os.sched_getaffinity(request.pid) if root == LIVE_ROOT else None
        except OSError:
            cwd = None
    plan_request = PlanRequest(
        lenskit_cpus=lenskit_cpus,
        effective=effective,
        environ=env,
        reason=chosen.reason,
        version=chosen.version,
        cwd=cwd,
        project_root=request.project_root,
        foreign=request.pid is not None,
        affinity=affinity,
    )
    plan = chosen.line.collect(plan_request, ask=False)
    attach = chosen.line.start_answer(plan, plan_request) if ask_lenskit else None
    if attach is not None:
        pending.append(attach)
    return plan


def plan_for_environ(
    env: Mapping[str, str], dialect: str | None = None, project_root: Path | None = None
) -> ThreadPlan:
    """The plan this process would resolve under ``env`` (the doctor's model only; LensKit
    itself is not asked): what a child started with ``env`` plans, e.g. under suggested
    exports."""
    from lkdoctor.cpu.budget import collect_cpu

    cpu = collect_cpu(LIVE_ROOT, env, None)
    request = Request(dialect=dialect, project_root=project_root)
    return _plan(
        cpu.lenskit_effective, cpu.effective, env, request, LIVE_ROOT, [], ask_lenskit=False
    )


def _collect_cluster(
    request: Request, env: Mapping[str, str], exit_after: float | None
) -> tuple[Report, list[str]]:
    """The cluster section, and the nodes' host names (``--redact`` hides them too)."""
    from lkdoctor.bench.run import skipped
    from lkdoctor.cluster.ray import collect_cluster, connected

    # Request.bench_skipped() always has a reason under --ray; the nodes run no benchmarks.
    report = Report(tool=tool_info(), bench=skipped(request.bench_skipped() or ""))
    with connected(request.ray_address, environ=env, exit_after=exit_after) as (ray, address):
        report.cluster = _section(
            report,
            Section.CLUSTER,
            lambda: collect_cluster(
                ray, address, _node_task(request.redact), timeout=request.ray_timeout
            ),
        )
    cluster = report.cluster
    hosts = [node.hostname for node in cluster.nodes if node.hostname] if cluster else []
    return report, hosts


def _node_task(redact: bool) -> Callable[[], dict[str, Any]]:
    """What each node of a cluster runs: this pipeline, there, masked there (its secrets
    and, with ``redact``, its identity are known only there)."""

    # Nested, so cloudpickle ships it by value: a node without lkdoctor then fails with
    # a clear "No module named 'lkdoctor'" instead of an unpickling error.
    def collect_on_node() -> dict[str, Any]:
        from lkdoctor.pipeline import collect as collect_on_this_node

        return collect_on_this_node(bench=False, redact=redact).model_dump(mode="json")

    return collect_on_node


if __name__ == "__main__":  # pragma: no cover - debugging aid
    sys.stdout.write(collect().model_dump_json(indent=2) + "\n")
