"""The "Batch workers" section in text (Rich) and Markdown: the same facts, two formats."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from lkdoctor.checks.common import human_bytes
from lkdoctor.model import (
    BatchMode,
    MemoryBudget,
    ModelCost,
    Observed,
    ObservedMemory,
    RayObjectStore,
    ScriptCheck,
    Workers,
)
from lkdoctor.report import Report

MODE_WORDS = {
    BatchMode.PROCESS_POOL: "a process pool (worker processes)",
    BatchMode.IN_PROCESS: "this process (no workers)",
    BatchMode.THREAD_POOL: "a thread pool of this process",
    BatchMode.RAY: "Ray tasks",
    BatchMode.UNKNOWN: "unknown (no LensKit line resolved)",
}


def mode_line(workers: Workers) -> str:
    """One sentence: how batch work runs, under which LensKit."""
    who = f"LensKit {workers.lenskit_version}" if workers.lenskit_version else "LensKit"
    return f"{who} runs batch work in {MODE_WORDS[workers.mode]}"


def script_line(check: ScriptCheck) -> str:
    """One line per checked script: its path and what the check found."""
    words = {
        "protected": "protected (process work only under the __main__ guard)",
        "unprotected": f"UNPROTECTED ({len(check.unguarded)} module-level call(s))",
        "no-process-work": "starts no processes",
        "not-checked": "not checked",
        "inline": "safe",
    }[check.status]
    shown = check.detail and check.status in ("not-checked", "inline", "no-process-work")
    detail = f": {check.detail}" if shown else ""
    return f"{check.path} ({check.found_by}): {words}{detail}"


def _size(n_bytes: int | None) -> str:
    return human_bytes(n_bytes) if n_bytes is not None else "unknown"


def memory_lines(memory: MemoryBudget) -> list[str]:
    """The memory budget, /dev/shm and its leftovers, one fact a line."""
    if memory.limit_bytes is not None:
        limit = f"memory limit {_size(memory.limit_bytes)} ({memory.limit_path})"
        if memory.usage_bytes is not None:
            limit += f", {_size(memory.usage_bytes)} in use"
    else:
        limit = f"no cgroup memory limit; host {_size(memory.host_available_bytes)} available"
    lines = [limit]
    if memory.budget_bytes is not None:
        lines.append(f"a batch run may use {_size(memory.budget_bytes)} ({memory.budget_source})")
    shm = memory.shm
    if shm is not None:
        where = f"{shm.fstype} from {shm.mount_source}" if shm.mounted else "not a mount of its own"
        lines.append(f"/dev/shm: {_size(shm.size_bytes)}, {_size(shm.free_bytes)} free ({where})")
    for segment in memory.leftovers:
        owner = f", pid {segment.owner_pid} gone" if segment.owner_pid else ""
        lines.append(
            f"leftover /dev/shm/{segment.name}: {_size(segment.size_bytes)}, "
            f"{segment.age_s:.0f} s old{owner}"
        )
    return lines


def ray_store_lines(store: RayObjectStore) -> list[str]:
    """Ray's object store as the installed Ray would make it here."""
    if store.status != "predicted":
        return [f"Ray object store: {store.status}: {store.detail}"]
    if store.starts is False:
        where = "ray.init() refuses it"
    else:
        where = f"in {store.directory}" + ("" if store.in_shm else " (not /dev/shm: slow)")
    return [
        f"Ray {store.ray_version} object store: {_size(store.size_bytes)} {where}; "
        f"/dev/shm {_size(store.shm_available_bytes)} free, "
        f"{_size(store.available_memory_bytes)} available as Ray sees it"
    ]


def model_lines(model: ModelCost, observed: str | None) -> list[str]:
    """--model: what it costs, the prediction and, beside it, what a watched run used
    (its :func:`observed_line`)."""
    if model.status != "measured":
        return [f"model {model.path}: {model.status}: {model.detail}"]
    once = (
        f"Ray's object store once: {_size(model.object_store_bytes)} (the pickle and "
        f"{_size(model.shared_bytes)} of out-of-band buffers)"
        if model.object_store_bytes is not None
        else f"shared memory once: {_size(model.shared_bytes)} in {model.shared_segments} "
        f"segment(s) ({_size(model.shm_need_bytes)} of /dev/shm at level 0)"
    )
    workers = "Ray worker(s)" if model.object_store_bytes is not None else "worker process(es)"
    lines = [
        f"model {model.path} ({model.object_type}), measured with {model.serializer}",
        once,
        f"copied into every worker: {_size(model.in_band_bytes)} of pickle, "
        f"{_size(model.worker_model_bytes)} once unpickled",
        f"a worker after LensKit's imports: {_size(model.worker_base_uss_bytes)} USS "
        f"({_size(model.worker_base_rss_bytes)} RSS); the parent: "
        f"{_size(model.parent_rss_bytes)} RSS",
        f"predicted peak with {model.workers} {workers}: "
        f"{_size(model.predicted_peak_bytes)} (sum of PSS)",
    ]
    if model.largest_fitting_workers is not None:
        lines.append(f"the most processes that fit: {model.largest_fitting_workers}")
    if observed is not None:
        lines.append(f"observed peak: {observed}")
    return lines


def observed_line(observed: ObservedMemory, oom_kills: int | None = None) -> str:
    """The watched tree's peak memory, /dev/shm and the cgroup's counters in one line, with
    the out-of-memory kills counted during the window (``Observed.oom_kills``)."""
    line = (
        f"{_size(observed.peak_pss_bytes)} (sum of PSS; USS {_size(observed.peak_uss_bytes)}) "
        f"over {observed.peak_processes_at} process(es), segments "
        f"{_size(observed.peak_segments_bytes)}"
    )
    if observed.peak_shm_used_bytes is not None:
        line += f", /dev/shm at most {_size(observed.peak_shm_used_bytes)} used"
    if observed.cgroup_peak_bytes is not None:
        line += f", cgroup peak {_size(observed.cgroup_peak_bytes)}"
    if oom_kills:
        line += f", {oom_kills} OOM kill(s)"
    return line


def all_memory_lines(report: Report, watched: Observed | None = None) -> list[str]:
    """Every memory line of the section, in the order both formats show them; the
    observed peak is the report's own (``--pid``, ``-- COMMAND``) unless given."""
    workers = report.workers
    if workers is None:
        return []
    watched = watched or report.observed
    seen = (
        observed_line(watched.memory, watched.oom_kills)
        if watched is not None and watched.memory is not None
        else None
    )
    lines = memory_lines(workers.memory) if workers.memory is not None else []
    if workers.ray_store is not None:
        lines += ray_store_lines(workers.ray_store)
    if workers.model is not None:
        lines += model_lines(workers.model, seen)
    elif seen is not None:
        lines.append(f"observed peak: {seen}")
    return lines


def render_workers(report: Report, full: bool = False) -> RenderableType | None:
    workers = report.workers
    if workers is None:
        return None
    parts: list[RenderableType] = [Text(mode_line(workers), style="bold")]
    if workers.mode_source:
        parts.append(Text(f"  from {workers.mode_source}", style="dim"))
    if workers.levels:
        table = Table(box=None, pad_edge=False, show_edge=False)
        for column in ("level", "runs in", "workers", "start method", "count from"):
            table.add_column(column, overflow="fold")
        for level in workers.levels:
            table.add_row(
                str(level.level),
                str(level.mode),
                str(level.workers),
                level.start_method or "-",
                level.source,
            )
        parts.append(table)
    methods = Table(box=None, pad_edge=False, show_edge=False, show_header=False)
    methods.add_column("part", style="bold", no_wrap=True)
    methods.add_column("method", no_wrap=True)
    methods.add_column("source", overflow="fold", style="dim")
    for method in workers.start_methods:
        methods.add_row(method.part, method.method, method.source)
    parts.append(methods)
    parts.extend(Text(f"· {note}") for note in workers.notes)
    parts.extend(Text(line) for line in all_memory_lines(report))
    parts.extend(
        Text(f"script {script_line(check)}")
        for check in workers.scripts
        if full or check.status != "inline"  # inline code is safe: said only in full
    )
    for process in workers.processes:
        rerun = " re-runs the script" if process.reruns_script else ""
        parts.append(Text(f"worker {process.pid} ({process.kind}, {process.start_method}){rerun}"))
    for death in workers.deaths:
        who = f"{death.who} {death.pid}" if death.pid is not None else death.who
        parts.append(Text(f"{who} killed by {death.signal}: {death.cause}", style="bold red"))
    return Group(*parts)
