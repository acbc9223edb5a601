"""collect → analyse → mask: build the report, one section at a time.

The one writer of the ``Report``: each section collector returns its section (and the
errors it went on past), and :func:`_section` puts both into the report under the one
guard, so a section whose collector fails becomes an ``errors[]`` entry and the rest of
the report is still produced. A single machine and a Ray cluster (``--ray``) go through
the same steps, and the same masking, whatever the output format.

The diagnosed process is read once, at the start, into a :class:`~lkdoctor.target.Target`
that every collector is handed. :func:`diagnose` owns every mode of ``lenskit doctor``
(this process, ``--pid``, ``--ray``, ``-- COMMAND``, ``--compare``, ``--verify``) and
returns the report with the exit status; :func:`run` is the report alone, for
``lkdoctor.collect()``.

:class:`Request` holds the options of ``lenskit doctor`` and of ``lkdoctor.collect()``,
and :meth:`Request.conflict` is the one place where options that exclude each other are
refused.
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, overload

from lkdoctor._native import load_probe
from lkdoctor.collected import Collected, describe_failure, guard
from lkdoctor.host.proc import LIVE_ROOT, process_exists
from lkdoctor.model import (
    MIN_PAIRS,
    BatchMode,
    Bench,
    Comparison,
    CpuBudget,
    ErrorEntry,
    ModelCost,
    Observed,
    Section,
    ToolInfo,
    Verdict,
    Workers,
)
from lkdoctor.report import Report, ThreadPlan
from lkdoctor.target import Target, read_target
from lkdoctor.version import __version__

if TYPE_CHECKING:
    from lkdoctor.output import FailOn
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
    compare: bool = False  # --compare: the command under both variants, compared
    repeat: int | None = None  # --repeat: runs of each variant (default MIN_PAIRS)

    def conflict(self) -> str | None:
        """Why these options cannot be used together, or None when they can."""
        if self.compare and not self.command:
            return "--compare needs a command to run: --compare -- COMMAND [ARGS]..."
        if self.repeat is not None and not self.compare:
            return "--repeat needs --compare"
        # asked first: --verify would otherwise be reported as conflicting with --no-bench
        if self.compare and (self.apply or self.pid is not None or self.ray_address or self.verify):
            return "--compare cannot be combined with --apply, --pid, --ray or --verify"
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
    ray = workers.mode == BatchMode.RAY
    cost = run_model_child(request.model, request.model_timeout, ray=ray)
    cost = predict(cost, workers, workers.memory)
    workers.notes.extend(model_notes(cost, workers))
    return cost


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
) -> Report:
    """The report ``request`` asks for, analysed and masked (see :func:`collect`).

    ``exit_if_connect_hangs`` (the command line, which owns its process) ends the process
    when connecting to a Ray cluster hangs for longer than ``request.ray_timeout``.
    """
    problem = request.conflict()
    if problem:
        raise OptionConflict(problem)
    if request.ray_address is not None:
        return _cluster_report(request, environ, exit_if_connect_hangs)
    if request.pid is not None and not process_exists(root, request.pid):
        raise ProcessLookupError(f"no process with pid {request.pid}")
    target = read_target(root, pid=request.pid, environ=environ)
    return _report(request, target, progress=progress, observation=observation)


@dataclass(frozen=True)
class Outcome:
    """A finished ``lenskit doctor``: its report and the exit status it ends with."""

    report: Report
    exit_status: int
    #: the report goes to stderr: a command's own output has stdout
    on_stderr: bool = False


class Stopped(Exception):
    """The doctor ends without a report: why (one line), and the exit status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def diagnose(request: Request, fail_on: FailOn = "never") -> Outcome:
    """Every mode of ``lenskit doctor``: the report on this process, ``--pid`` or a Ray
    cluster, on ``-- COMMAND``'s run or on ``--compare``'s runs, with the progress lines a
    terminal shows; the exit status is a failing command's own, else 1 when a finding
    meets ``fail_on``. OptionConflict before anything runs; Stopped when there is nothing
    to report on (no such process, no cluster, a command that cannot be started)."""
    from lkdoctor.cluster.ray import ClusterUnavailable, stdout_to_stderr
    from lkdoctor.output import exit_code
    from lkdoctor.render.progress import bench_status

    problem = request.conflict()
    if problem:  # before a command runs, not after
        raise OptionConflict(problem)
    if request.compare:
        return _compared(request, fail_on)
    if request.command:
        return _observed(request, fail_on)
    # stdout carries the report only: what Ray prints goes to stderr
    quiet = stdout_to_stderr() if request.ray_address is not None else nullcontext()
    try:
        with quiet, bench_status(enabled=request.bench_skipped() is None) as progress:
            report = run(request, progress=progress, exit_if_connect_hangs=True)
    except (ProcessLookupError, ClusterUnavailable) as exc:
        raise Stopped(str(exc), 2) from None
    return Outcome(report, exit_code(report, fail_on))


def _cannot_run(command: Sequence[str], exc: OSError) -> Stopped:
    """As a shell says it: 127 when the command is not found, 126 when it cannot run."""
    status = 127 if isinstance(exc, FileNotFoundError) else 126
    return Stopped(f"cannot run {command[0]}: {exc.strerror}", status)


def _cpu_budget(target: Target) -> Collected[CpuBudget | None]:
    from lkdoctor.cpu.budget import collect_cpu

    return guard(Section.CPU, lambda: collect_cpu(target))


def _observed(request: Request, fail_on: FailOn) -> Outcome:
    """``-- COMMAND``: run it and observe its tree; the report describes the run."""
    # the command inherits this process's environment, folder, CPUs and cgroup
    target = read_target()
    from lkdoctor.observe.command import run_command
    from lkdoctor.output import exit_code
    from lkdoctor.render.progress import observe_status

    command = list(request.command)
    cpu = _cpu_budget(target)
    try:
        with observe_status(command) as progress:
            observed = run_command(command, cpus=_effective(cpu), progress=progress)
    except OSError as exc:
        raise _cannot_run(command, exc) from None
    report = _report(request, target, observation=observed.observed, cpu=cpu)
    return Outcome(report, observed.exit_status or exit_code(report, fail_on), on_stderr=True)


def _compared(request: Request, fail_on: FailOn) -> Outcome:
    """``--compare -- COMMAND``: the command under both variants; the report carries the
    comparison, the exit status is the failing run's."""
    target = read_target()  # as for -- COMMAND: each run inherits it
    from lkdoctor.bench.verify import nothing_to_suggest, suggested_environ
    from lkdoctor.observe.compare import compare_command
    from lkdoctor.output import exit_code
    from lkdoctor.render.progress import compare_status

    command = list(request.command)
    # the runs are the measurement: no benchmark of this process; the command's script is
    # checked as -- COMMAND's is
    request = replace(request, command=(), bench=False, script_command=tuple(command))
    cpu = _cpu_budget(target)
    environ = dict(target.environ)
    plan = plan_for_environ(target, environ, request.dialect, request.project_root)
    suggested = None
    if nothing_to_suggest(plan, environ) is None:
        suggested = plan_for_environ(
            target, suggested_environ(plan, environ), request.dialect, request.project_root
        )
    try:
        with compare_status(command) as starting:
            compared = compare_command(
                command,
                plan,
                environ,
                repeat=MIN_PAIRS if request.repeat is None else request.repeat,
                cpus=_effective(cpu),
                suggested_plan=suggested,
                starting=starting,
            )
    except OSError as exc:
        raise _cannot_run(command, exc) from None
    report = _report(request, target, comparison=compared.comparison, cpu=cpu)
    return Outcome(report, compared.exit_status or exit_code(report, fail_on), on_stderr=True)


def _effective(cpu: Collected[CpuBudget | None]) -> int | None:
    return cpu.value.effective if cpu.value is not None else None


def _report(
    request: Request,
    target: Target,
    *,
    progress: Callable[[str], None] | None = None,
    observation: Collected[Observed | None] | None = None,
    comparison: Comparison | None = None,
    cpu: Collected[CpuBudget | None] | None = None,
) -> Report:
    """The report on ``target`` (or on the run ``observation`` describes; ``comparison``:
    a ``--compare`` already measured, which the report then carries), analysed and masked;
    ``cpu``: its CPU budget when already collected."""
    # Imports can write to os.environ (threadpoolctl sets KMP_DUPLICATE_LIB_OK): inspection
    # undoes that, so the caller's environment is left as found; --apply keeps its changes.
    with _environ_kept(enabled=not request.apply):
        report = _collect_here(request, target, progress, observation=observation, cpu=cpu)
        if comparison is not None:  # the command's runs are the measurement
            report.comparison = comparison
            report.bench = Bench(
                verdict=Verdict.SKIPPED,
                reason="not run with --compare: the command's runs are measured",
            )
        return _analysed(report, request, target.environ)


def _cluster_report(
    request: Request, environ: Mapping[str, str] | None, exit_if_connect_hangs: bool
) -> Report:
    """``--ray``: every node's report, analysed and masked."""
    env = dict(os.environ) if environ is None else environ  # as found, before any import
    exit_after = request.ray_timeout if exit_if_connect_hangs else None
    with _environ_kept(enabled=not request.apply):
        report, node_hosts = _collect_cluster(request, env, exit_after)
        return _analysed(report, request, env, node_hosts)


def _analysed(
    report: Report, request: Request, env: Mapping[str, str], node_hosts: Sequence[str] = ()
) -> Report:
    """``report`` with its findings, masked here, once, so every format and every caller
    gets the masked model."""
    from lkdoctor.checks import analyse
    from lkdoctor.redact import redact_report

    _section(report, Section.CHECKS, lambda: analyse(report))
    return redact_report(
        report,
        environs=[env, os.environ],
        hide_identity=request.redact,
        other_hosts=list(node_hosts),
    )


def _collect_here(
    request: Request,
    target: Target,
    progress: Callable[[str], None] | None,
    *,
    observation: Collected[Observed | None] | None = None,
    cpu: Collected[CpuBudget | None] | None = None,
) -> Report:
    """Every section of ``target`` (or of the run ``observation`` describes), before
    analysis; ``cpu``: its CPU budget when already collected."""
    from lkdoctor.bench.run import DEFAULT_BUDGET, collect_bench, skipped
    from lkdoctor.environment.info import collect_environment
    from lkdoctor.observe.plan import lenskit_environ, with_plan
    from lkdoctor.observe.sampler import observe_target
    from lkdoctor.plan.lines import dialect_named
    from lkdoctor.pools.live import collect_live
    from lkdoctor.workers.facts import collect_workers
    from lkdoctor.workers.memory import collect_memory

    pid, env = target.pid, target.environ
    report = Report(tool=tool_info())
    if target.environ_error is not None:  # --pid: another user's process
        report.errors.append(
            ErrorEntry(section=Section.POOLS, message=describe_failure(target.environ_error))
        )
    _, probe_error = load_probe()
    if probe_error:
        report.errors.append(ErrorEntry(section=Section.PROBE, message=probe_error))

    budget = report.cpu = _section(
        report, Section.CPU, lambda: cpu if cpu is not None else _cpu_budget(target)
    )
    pending: list[AttachAnswer] = []
    # -- COMMAND: LensKit ran with the environment of its own process, not the doctor's
    found = lenskit_environ(env, observation.value) if observation is not None else None
    plan_env = env if found is None else found[0]
    if budget is not None:
        report.plan = _section(
            report,
            Section.PLAN,
            lambda: _plan(
                budget.lenskit_effective, budget.effective, plan_env, request, target, pending
            ),
        )
    plan = report.plan
    verification = None
    if request.verify and request.bench_skipped() is None:
        # the children start up (import torch) while the rest is collected
        from lkdoctor.bench.verify import Verification

        bench_budget = request.bench_time or DEFAULT_BUDGET
        verification = _section(
            report,
            Section.VERIFICATION,
            lambda: Verification(
                plan,
                env,
                budget=bench_budget,
                resolve=lambda environ: plan_for_environ(
                    target, environ, request.dialect, request.project_root
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
            lambda: collect_live(
                level_zero, target.root, env, apply=request.apply, dialect=dialect
            ),
        )
    else:  # --pid: its tree, or with --single-process the process alone
        cpus = budget.effective if budget is not None else None
        report.observed = _section(
            report,
            Section.OBSERVED,
            lambda: observe_target(target, request.sample_time, cpus=cpus, tree=request.tree),
        )
    for attach in pending:  # LensKit's own answer is in before the benchmarks it would disturb
        _section(report, Section.PLAN, attach)
    # --pid: the script the target runs, where it runs
    script_command: Sequence[str] = (
        target.command if pid is not None else request.command or request.script_command
    )
    report.workers = _section(
        report,
        Section.WORKERS,
        lambda: collect_workers(
            report.plan, request.script, script_command, report.observed, target.cwd, env
        ),
    )
    if report.workers is not None:
        report.workers.memory = _section(
            report, Section.WORKERS, lambda: collect_memory(target.root, pid, target.cgroup)
        )
        if report.workers.mode == BatchMode.RAY:
            from lkdoctor.workers.ray_store import collect_ray_store

            report.workers.ray_store = _section(
                report, Section.WORKERS, lambda: collect_ray_store(env)
            )
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
            lambda: collect_bench(budget, plan, budget=request.bench_time, progress=progress),
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
    return report


def _plan(
    lenskit_cpus: int,
    effective: int,
    env: Mapping[str, str],
    request: Request,
    target: Target,
    pending: list[AttachAnswer],
    *,
    ask_lenskit: bool = True,
) -> ThreadPlan:
    """The plan in the installed LensKit's dialect, in the target's folder.

    LensKit's own answer is started and added to ``pending``, to run while the other
    sections are collected; without ``ask_lenskit`` LensKit's own code is not asked.
    """
    from lkdoctor.plan.line import PlanRequest
    from lkdoctor.plan.lines import detect_dialect

    chosen = detect_dialect(request.dialect)
    plan_request = PlanRequest(
        lenskit_cpus=lenskit_cpus,
        effective=effective,
        environ=env,
        reason=chosen.reason,
        version=chosen.version,
        cwd=target.cwd,
        project_root=request.project_root,
        foreign=target.foreign,
        # LensKit counts the CPUs of the process it runs in: the target's, not ours
        affinity=target.foreign_affinity(),
        ask_lenskit=ask_lenskit,
    )
    plan = chosen.line.collect(plan_request, ask=False)
    attach = chosen.line.start_answer(plan, plan_request) if ask_lenskit else None
    if attach is not None:
        pending.append(attach)
    return plan


def plan_for_environ(
    target: Target,
    env: Mapping[str, str],
    dialect: str | None = None,
    project_root: Path | None = None,
) -> ThreadPlan:
    """The plan ``target`` would resolve under ``env`` (the doctor's model only; LensKit
    itself is not asked): what a child of it started with ``env`` plans, e.g. under
    suggested exports."""
    from lkdoctor.cpu.budget import collect_cpu

    cpu = collect_cpu(replace(target, environ=env))
    request = Request(dialect=dialect, project_root=project_root)
    return _plan(cpu.lenskit_effective, cpu.effective, env, request, target, [], ask_lenskit=False)


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
