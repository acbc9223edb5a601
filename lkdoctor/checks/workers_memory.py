"""Findings about batch workers' memory (the workers section's memory part): leftover
segments, ``/dev/shm`` too small for the model, the batch run over the memory budget, and
a model copied into every worker."""

from __future__ import annotations

import shlex

from lkdoctor.checks.common import human_bytes
from lkdoctor.model import (
    Finding,
    MemoryBudget,
    ModelCost,
    Observed,
    RayObjectStore,
    Section,
    Severity,
    Workers,
)
from lkdoctor.report import Report

SECTION = Section.WORKERS

#: The in-band pickle (copied into every worker) at or above this is worth saying.
COPIED_INFO_BYTES = 1 << 20
#: … and a warning when the copies together take this share of the budget or more.
COPIED_WARNING_SHARE = 0.25

#: A watched run whose peak comes this close to the memory limit is a warning.
NEAR_LIMIT_SHARE = 0.9

#: Ray's smallest object store (ray_constants.OBJECT_STORE_MINIMUM_MEMORY_BYTES).
RAY_MINIMUM_STORE_BYTES = 75 * 1024 * 1024

RAY_STORE_ID = "ray-object-store-in-tmp"
#: The suggested store takes at most this share of the free /dev/shm.
RAY_SHM_SPARE = 0.8

#: At most this many names in the ``rm`` line; the rest are counted.
_RM_NAMES = 20


def check(report: Report) -> list[Finding]:
    workers = report.workers
    if workers is None:
        return []
    findings: list[Finding] = []
    memory = workers.memory
    if memory is not None and memory.leftovers:
        findings.append(leftovers_finding(memory))
    if workers.ray_store is not None:
        store = ray_store_finding(workers.ray_store)
        if store is not None:
            findings.append(store)
    model = workers.model
    if model is not None:
        findings += model_findings(model, workers, memory)
    if report.observed is not None:
        near = near_limit_finding(report.observed, memory)
        if near is not None:
            findings.append(near)
    return findings


def near_limit_finding(watched: Observed, memory: MemoryBudget | None) -> Finding | None:
    """A watched run whose peak (sum of PSS, or the cgroup's own peak) came within 10% of
    the memory limit: the next, slightly larger run is killed."""
    observed = watched.memory
    if observed is None:
        return None
    limit = observed.cgroup_limit_bytes or (memory.limit_bytes if memory is not None else None)
    if limit is None:
        return None
    peak = max(observed.peak_pss_bytes, observed.cgroup_peak_bytes or 0)
    if peak < limit * NEAR_LIMIT_SHARE:
        return None
    return Finding(
        id="batch-memory-near-limit",
        severity=Severity.WARNING,
        title=f"the run peaked at {human_bytes(peak)}, within "
        f"{100 - round(100 * NEAR_LIMIT_SHARE)}% of the {human_bytes(limit)} memory limit",
        evidence=f"peak sum of PSS {observed.peak_pss_bytes} bytes over "
        f"{observed.peak_processes_at} process(es); cgroup peak {observed.cgroup_peak_bytes} "
        f"bytes ({observed.cgroup_path}); limit {limit} bytes"
        + (f"; {watched.oom_kills} OOM kill(s) during the run" if watched.oom_kills else ""),
        remediation="run fewer worker processes (LK_NUM_PROCS), or raise the limit; "
        "`--model PATH` predicts the peak for each count",
        section=SECTION,
    )


def leftovers_finding(memory: MemoryBudget) -> Finding:
    total = sum(s.size_bytes for s in memory.leftovers)
    names = [s.name for s in memory.leftovers]
    shown = " ".join(shlex.quote(f"/dev/shm/{name}") for name in names[:_RM_NAMES])
    more = f" (and {len(names) - _RM_NAMES} more)" if len(names) > _RM_NAMES else ""
    oldest = max(s.age_s for s in memory.leftovers)
    return Finding(
        id="shm-leftovers",
        severity=Severity.WARNING,
        title=f"{len(names)} shared-memory segment(s) of dead processes fill /dev/shm "
        f"({human_bytes(total)})",
        evidence=f"no live process holds {', '.join(names[:5])}"
        + (", …" if len(names) > 5 else "")
        + f"; the oldest was last written {oldest:.0f} s ago",
        remediation=f"rm -f {shown}{more}",
        section=SECTION,
    )


def model_findings(
    model: ModelCost, workers: Workers, memory: MemoryBudget | None
) -> list[Finding]:
    if model.status != "measured":
        return [
            Finding(
                id="model-not-measured",
                severity=Severity.WARNING,
                title=f"--model {model.path} could not be measured",
                evidence=model.detail,
                remediation="pass a pipeline or component saved with pickle by the same "
                "LensKit and Python, or raise --model-timeout",
                section=SECTION,
            )
        ]
    findings = []
    count = model.workers or 0
    shm = memory.shm if memory is not None else None
    need = model.shm_need_bytes or 0
    free = shm.free_bytes if shm is not None else None
    if count > 0 and need and free is not None and need > free:
        findings.append(shm_too_small_finding(model, need, free, shm.size_bytes if shm else None))
    budget = memory.budget_bytes if memory is not None else None
    peak = model.predicted_peak_bytes
    if budget is not None and peak is not None and peak > budget:
        findings.append(over_limit_finding(model, memory, peak, budget))
    # the in-band pickle is the copy; worker_model_bytes also holds the modules it imports
    copied = model.in_band_bytes or 0
    if count > 1 and copied >= COPIED_INFO_BYTES:
        total = copied * count
        heavy = budget is not None and total >= budget * COPIED_WARNING_SHARE
        findings.append(
            Finding(
                id="model-copied-per-worker",
                severity=Severity.WARNING if heavy else Severity.INFO,
                title=f"{human_bytes(copied)} of the model is copied into each of "
                f"{count} workers ({human_bytes(total)} in all)",
                evidence=f"{model.serializer}: {model.in_band_bytes} bytes stay in the pickle "
                f"every worker receives (unpickled they add {model.worker_model_bytes} bytes "
                f"to a worker), {model.shared_bytes} bytes go to shared memory once",
                remediation="keep the model's large arrays in numpy (LensKit shares those "
                "between workers); torch CPU tensors are pickled into every worker",
                section=SECTION,
            )
        )
    return findings


def shm_too_small_finding(model: ModelCost, need: int, free: int, size: int | None) -> Finding:
    return Finding(
        id="shm-too-small",
        severity=Severity.ERROR,
        title=f"/dev/shm has {human_bytes(free)} free; the model needs {human_bytes(need)} "
        "there: the batch run will die with SIGBUS",
        evidence=f"{model.shared_segments} segment(s), {model.shared_bytes} bytes "
        f"({model.serializer}); /dev/shm size {size} bytes, free {free} bytes. Python's "
        "SharedMemory only truncates the file, so the copy into a full tmpfs kills the "
        "parent with SIGBUS ('Bus error'), without a traceback",
        remediation=f"give /dev/shm at least {human_bytes(need + need // 4)}: Docker "
        f"`--shm-size={-(-(need + need // 4) // (1 << 20))}m`; Kubernetes a volume "
        "`emptyDir: {medium: Memory, sizeLimit: …}` mounted at /dev/shm; or run the batch "
        "in one process (LK_NUM_PROCS=1), which uses no shared memory",
        section=SECTION,
    )


def ray_store_finding(store: RayObjectStore) -> Finding | None:
    """Ray's object store outside /dev/shm (slow), or a store ray.init() refuses."""
    if store.status != "predicted" or store.size_bytes is None:
        return None
    if store.starts is not False and store.in_shm is not False:
        return None
    size, free = store.size_bytes, store.shm_available_bytes
    # Ray's own advice: /dev/shm more than the store (it says 10% more)
    shm_mib = -(-(size + size // 10) // (1 << 20))
    env = {}
    if free is not None and store.available_memory_bytes:
        # the share of Ray's available memory whose store fits the free /dev/shm, with room
        # for the memory Ray sees available to grow by a quarter before it starts
        share = int(free * RAY_SHM_SPARE / store.available_memory_bytes * 1000) / 1000
        if share > 0 and store.available_memory_bytes * share >= RAY_MINIMUM_STORE_BYTES:
            env["RAY_DEFAULT_OBJECT_STORE_MEMORY_PROPORTION"] = f"{share:g}"
    measured = (
        f"Ray {store.ray_version} sizes its object store at {size} bytes (30% of the "
        f"{store.available_memory_bytes} bytes it sees available); /dev/shm has {free} bytes "
        f"free. Ray says: {store.ray_message or '(nothing)'}"
    )
    remediation = (
        f"give /dev/shm at least {human_bytes(size + size // 10)}: Docker "
        f"`--shm-size={shm_mib}m`; Kubernetes a volume `emptyDir: {{medium: Memory, "
        f"sizeLimit: {shm_mib}Mi}}` mounted at /dev/shm"
        + (
            "; or shrink Ray's store to fit /dev/shm (the export below; Ray reads it when "
            "it starts), or start Ray yourself with ray.init(object_store_memory=…) before "
            "LensKit, which then reuses it"
            if env
            else ""
        )
    )
    refused = store.starts is False
    if refused:
        title = (
            f"Ray will refuse to start: its {human_bytes(size)} object store does not fit "
            f"/dev/shm ({human_bytes(free or 0)} free)"
        )
        remediation += (
            "; or export RAY_OBJECT_STORE_ALLOW_SLOW_STORAGE=1 to let it use its temp folder (slow)"
        )
    else:
        title = (
            f"Ray's {human_bytes(size)} object store will live in {store.directory}, not "
            f"/dev/shm ({human_bytes(free or 0)} free): every object moves through files, slowly"
        )
    return Finding(
        id=RAY_STORE_ID,
        severity=Severity.ERROR if refused else Severity.WARNING,
        title=title,
        evidence=measured,
        remediation=remediation,
        section=SECTION,
        env=env,
    )


def over_limit_finding(
    model: ModelCost, memory: MemoryBudget | None, peak: int, budget: int
) -> Finding:
    fitting = model.largest_fitting_workers
    ray = model.object_store_bytes is not None
    # Ray tasks at once follow LensKit 2026's batch jobs; 2025's workers its processes
    knob = "LK_NUM_BATCH_JOBS" if ray else "LK_NUM_PROCS"
    env = {knob: str(fitting)} if fitting else {}
    source = memory.budget_source if memory is not None else ""
    per_worker = (model.worker_base_uss_bytes or 0) + (model.worker_model_bytes or 0)
    return Finding(
        id="batch-memory-over-limit",
        severity=Severity.ERROR,
        title=f"the batch run needs about {human_bytes(peak)} with {model.workers} worker(s); "
        f"{human_bytes(budget)} is available: a worker will be killed (BrokenProcessPool)",
        evidence=(
            f"predicted peak = parent {model.parent_rss_bytes} + object store "
            f"{model.object_store_bytes} + {model.workers} Ray worker(s) x (worker "
            f"{model.worker_base_uss_bytes} + model {model.worker_model_bytes}) bytes"
            if ray
            else f"predicted peak = parent {model.parent_rss_bytes} + in-band "
            f"{model.in_band_bytes} + {model.workers} x (worker {model.worker_base_uss_bytes} "
            f"+ model {model.worker_model_bytes}) + shared {model.shm_need_bytes} bytes"
        )
        + f"; budget from {source}; each worker costs {human_bytes(per_worker)}",
        remediation=(
            f"run with at most {fitting} {'Ray task(s) at once' if ray else 'process(es)'}"
            if fitting
            else "even one Ray worker does not fit: run without Ray (LK_USE_RAY=0; threads "
            "share the model) or raise the memory limit"
            if ray
            else "even one process does not fit: raise the memory limit"
        )
        + "; keep the model's large arrays in numpy-backed storage, which workers share "
        "instead of copying",
        section=SECTION,
        env=env,
    )
