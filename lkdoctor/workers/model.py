"""``--model PATH``: measure a saved model in a child process and predict the batch run's
peak memory and ``/dev/shm`` need.

The child (:mod:`.model_child`) runs under the same user with a hard time limit; its
whole process group is killed when the limit passes, so a pickle that sleeps, crashes or
blows up takes only the child with it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from lkdoctor.model import BatchMode, MemoryBudget, ModelCost, Workers

DEFAULT_MODEL_TIMEOUT = 60.0

#: Lines of the child's stderr kept when it fails without an answer.
_STDERR_TAIL = 400


def _signal_name(code: int) -> str:
    try:
        return signal.Signals(code).name
    except ValueError:
        return f"signal {code}"


def run_model_child(path: Path, timeout: float, ray: bool = False) -> ModelCost:
    """Load and measure ``path`` in a child process; never raises for what the file does.
    With ``ray`` the measured worker imports Ray too, as a Ray worker process has."""
    started = time.monotonic()
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lkdoctor.workers.model_child",
            str(path),
            *(["ray", "lenskit.parallel.ray"] if ray else []),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group: the spawned worker dies with it
    )
    try:
        stdout, stderr = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(child)
        child.communicate()
        return ModelCost(
            path=str(path),
            status="timeout",
            detail=f"loading and measuring took longer than --model-timeout {timeout:g} s; "
            "the child was killed",
            wall_s=round(time.monotonic() - started, 2),
        )
    finally:
        _kill_group(child)  # a worker probe left behind by a crashed child
    wall = round(time.monotonic() - started, 2)
    lines = stdout.decode(errors="replace").strip().splitlines()
    answer = _answer(lines[-1]) if lines else None
    if answer is None:
        if child.returncode < 0:
            name = _signal_name(-child.returncode)
            why = f"the child loading the model was killed by {name}"
            if name == "SIGKILL":
                why += " (out of memory, or killed from outside)"
        else:
            why = f"the child loading the model exited with status {child.returncode}"
        tail = stderr.decode(errors="replace").strip()[-_STDERR_TAIL:]
        return ModelCost(
            path=str(path),
            status="failed",
            detail=why + (f": {tail.splitlines()[-1]}" if tail else ""),
            wall_s=wall,
        )
    answer.setdefault("wall_s", wall)
    try:
        return ModelCost.model_validate({"path": str(path), **answer})
    except ValueError as exc:
        return ModelCost(path=str(path), status="failed", detail=f"unexpected answer: {exc}")


def _answer(line: str) -> dict[str, object] | None:
    try:
        found = json.loads(line)
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


def _kill_group(child: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(OSError):  # already gone
        os.killpg(child.pid, signal.SIGKILL)


def process_workers(workers: Workers) -> int:
    """Worker processes a batch run starts at plan level 0 (0 when it runs in-process or
    on threads; Ray: the Ray workers that run batch tasks at once)."""
    if workers.mode not in (BatchMode.PROCESS_POOL, BatchMode.RAY):
        return 0
    level = next((lv for lv in workers.levels if lv.level == 0), None)
    return level.workers if level is not None else 0


def peak_for(cost: ModelCost, workers: int) -> int | None:
    """The batch run's predicted peak with ``workers`` processes (0: in-process)."""
    if cost.parent_rss_bytes is None:
        return None
    if workers <= 0:
        return cost.parent_rss_bytes
    per_worker = (cost.worker_base_uss_bytes or 0) + (cost.worker_model_bytes or 0)
    if cost.object_store_bytes is not None:
        # Ray: ray.put() copies the serialized model into the object store once (its pages
        # count against the memory limit wherever the store lives); each Ray worker reads
        # it from there and holds what unpickling makes private
        return cost.parent_rss_bytes + cost.object_store_bytes + workers * per_worker
    # the parent keeps the in-band pickle for the pool's start-up arguments
    return (
        cost.parent_rss_bytes
        + (cost.in_band_bytes or 0)
        + workers * per_worker
        + (cost.shm_need_bytes or 0)
    )


def predict(cost: ModelCost, workers: Workers, memory: MemoryBudget | None) -> ModelCost:
    """Fill in the prediction for the plan's worker count and the memory budget."""
    if cost.status != "measured":
        return cost
    count = process_workers(workers)
    cost.workers = count
    ray = workers.mode == BatchMode.RAY
    if ray:
        cost.object_store_bytes = (cost.in_band_bytes or 0) + (cost.shared_bytes or 0)
    if count == 0 or ray:
        # in-process and threads: nothing goes to shared memory; Ray: its object store,
        # sized against /dev/shm by Ray itself (workers.ray_store), not LensKit's segments
        cost.shm_need_bytes = 0
    cost.predicted_peak_bytes = peak_for(cost, count)
    budget = memory.budget_bytes if memory is not None else None
    if budget is not None and cost.predicted_peak_bytes is not None:
        # Ray: one task at a time still needs one Ray worker; 2025: one process runs in
        # the parent (LK_NUM_PROCS=1)
        lowest = 0 if ray else 1
        fitting = [n for n in range(count, lowest, -1) if (peak_for(cost, n) or 0) <= budget]
        if fitting:
            cost.largest_fitting_workers = fitting[0]
        elif not ray and (peak_for(cost, 0) or 0) <= budget:
            cost.largest_fitting_workers = 1  # LK_NUM_PROCS=1 runs in the parent process
        else:
            cost.largest_fitting_workers = 0
    return cost


def model_notes(cost: ModelCost, workers: Workers | None = None) -> list[str]:
    """Facts about the model the section says in words."""
    notes = []
    if cost.status == "measured" and workers is not None:
        if workers.mode == BatchMode.THREAD_POOL:
            level = workers.levels[0].workers if workers.levels else 0
            notes.append(
                f"the model is shared by the {level} batch threads of one process: nothing is "
                "copied per job and nothing goes to /dev/shm, so the prediction is the parent "
                "process alone"
            )
        elif workers.mode == BatchMode.RAY:
            notes.append(
                f"Ray: ray.put() copies the model into the object store once "
                f"({cost.object_store_bytes} bytes, serialized with pickle protocol 5); each of "
                f"the {cost.workers} Ray worker(s) running batch tasks reads it from there and "
                "holds what unpickling makes private; Ray's own processes (GCS, raylet, idle "
                "workers) are not counted"
            )
    if cost.cuda_tensors and (cost.workers or 0) > 1:
        notes.append(
            f"the model holds {cost.cuda_tensors} CUDA tensor(s): each of the "
            f"{cost.workers} worker processes creates its own CUDA context (a fixed cost "
            "of GPU and host memory per worker); on Windows CUDA tensors cannot be shared "
            "between processes at all"
        )
    return notes
