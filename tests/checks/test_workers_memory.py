"""The batch-memory findings and the prediction they rest on, from measured numbers."""

from __future__ import annotations

from lkdoctor.checks.workers_memory import model_findings, ray_store_finding
from lkdoctor.model import (
    BatchMode,
    MemoryBudget,
    ModelCost,
    RayObjectStore,
    Severity,
    ShmMount,
    WorkerLevel,
    Workers,
)
from lkdoctor.workers.model import model_notes, peak_for, predict

MIB = 1 << 20


def workers(count: int) -> Workers:
    mode = BatchMode.PROCESS_POOL if count > 1 else BatchMode.IN_PROCESS
    return Workers(
        mode=mode,
        levels=[WorkerLevel(level=0, mode=mode, workers=count, start_method="spawn")],
    )


def measured(in_band: int = 5 * 1024, shared: int = 13 * MIB, cuda: int = 0) -> ModelCost:
    return ModelCost(
        path="model.pkl",
        status="measured",
        serializer="lenskit.parallel.serialize.SHMPickler (LensKit 2025.x)",
        shared_bytes=shared,
        shared_segments=8,
        shm_need_bytes=shared,
        in_band_bytes=in_band,
        worker_model_bytes=40 * MIB + in_band,
        worker_base_uss_bytes=300 * MIB,
        worker_base_rss_bytes=600 * MIB,
        parent_rss_bytes=700 * MIB,
        cuda_tensors=cuda,
    )


def budget(free_shm: int, available: int) -> MemoryBudget:
    return MemoryBudget(
        limit_bytes=available,
        budget_bytes=available,
        budget_source="memory.max",
        shm=ShmMount(path="/dev/shm", mounted=True, size_bytes=free_shm, free_bytes=free_shm),
    )


def ids(found: list[object]) -> set[str]:
    return {f.id for f in found}  # type: ignore[attr-defined]


def test_the_peak_counts_the_parent_once_every_worker_and_the_shared_bytes_once() -> None:
    cost = predict(measured(), workers(3), budget(64 * MIB, 8 << 30))
    per_worker = 300 * MIB + 40 * MIB + 5 * 1024
    assert cost.workers == 3
    assert cost.predicted_peak_bytes == 700 * MIB + 5 * 1024 + 3 * per_worker + 13 * MIB
    assert cost.largest_fitting_workers == 3
    assert peak_for(cost, 0) == 700 * MIB  # in-process: no copies, no segments


def test_a_small_shm_predicts_the_sigbus() -> None:
    memory = budget(8 * MIB, 8 << 30)
    cost = predict(measured(), workers(2), memory)
    found = model_findings(cost, workers(2), memory)
    too_small = next(f for f in found if f.id == "shm-too-small")
    assert too_small.severity == Severity.ERROR
    assert "--shm-size=17m" in too_small.remediation  # 13 MiB and a quarter, rounded up
    assert "emptyDir" in too_small.remediation
    # the same model beside enough /dev/shm, or in one process, is not flagged
    roomy = budget(64 * MIB, 8 << 30)
    assert "shm-too-small" not in ids(
        model_findings(predict(measured(), workers(2), roomy), workers(2), roomy)
    )
    alone = predict(measured(), workers(1), memory)
    assert "shm-too-small" not in ids(model_findings(alone, workers(1), memory))


def test_over_the_limit_the_largest_count_that_fits_is_the_export() -> None:
    # 3 workers need about 1733 MiB, 2 about 1393 MiB, one process 700 MiB
    memory = budget(64 * MIB, 1300 * MIB)
    cost = predict(measured(), workers(3), memory)
    over = next(
        f for f in model_findings(cost, workers(3), memory) if f.id == "batch-memory-over-limit"
    )
    assert over.severity == Severity.ERROR
    assert over.env == {"LK_NUM_PROCS": "1"}
    memory = budget(64 * MIB, 1500 * MIB)
    cost = predict(measured(), workers(3), memory)
    over = next(
        f for f in model_findings(cost, workers(3), memory) if f.id == "batch-memory-over-limit"
    )
    assert over.env == {"LK_NUM_PROCS": "2"}
    memory = budget(64 * MIB, 500 * MIB)
    cost = predict(measured(), workers(3), memory)
    over = next(
        f for f in model_findings(cost, workers(3), memory) if f.id == "batch-memory-over-limit"
    )
    assert over.env == {}
    assert "raise the memory limit" in over.remediation


def test_a_model_pickled_into_every_worker_is_said_with_its_bytes() -> None:
    memory = budget(64 * MIB, 8 << 30)
    torch_backed = predict(measured(in_band=200 * MIB, shared=MIB), workers(4), memory)
    copied = next(
        f
        for f in model_findings(torch_backed, workers(4), memory)
        if f.id == "model-copied-per-worker"
    )
    assert copied.severity == Severity.INFO
    assert "200.0 MiB" in copied.title and "4 workers" in copied.title
    tight = budget(64 * MIB, 2 << 30)
    heavy = predict(measured(in_band=200 * MIB, shared=MIB), workers(4), tight)
    found = {f.id: f for f in model_findings(heavy, workers(4), tight)}
    assert found["model-copied-per-worker"].severity == Severity.WARNING
    numpy_backed = predict(measured(), workers(4), memory)
    assert "model-copied-per-worker" not in ids(model_findings(numpy_backed, workers(4), memory))


def test_cuda_tensors_with_several_workers_get_a_note() -> None:
    cost = predict(measured(cuda=3), workers(2), budget(64 * MIB, 8 << 30))
    notes = model_notes(cost)
    assert len(notes) == 1
    assert "3 CUDA tensor(s)" in notes[0] and "2 worker processes" in notes[0]
    assert model_notes(predict(measured(cuda=3), workers(1), None)) == []


def test_a_model_that_failed_is_one_warning() -> None:
    failed = ModelCost(path="x.pkl", status="timeout", detail="took longer than 3 s")
    found = model_findings(failed, workers(2), None)
    assert [(f.id, f.severity) for f in found] == [("model-not-measured", Severity.WARNING)]


def test_a_watched_run_within_ten_percent_of_the_limit_is_a_warning() -> None:
    from samples import watched

    from lkdoctor.checks.workers_memory import near_limit_finding
    from lkdoctor.model import Observed, ObservedMemory

    def observed(pss: int, cgroup_peak: int | None = None, kills: int | None = None) -> Observed:
        memory = ObservedMemory(
            peak_pss_bytes=pss,
            peak_uss_bytes=pss // 2,
            peak_processes_at=3,
            cgroup_peak_bytes=cgroup_peak,
        )
        return watched(memory, oom_kills=kills)

    memory = budget(64 * MIB, 1000 * MIB)
    near = near_limit_finding(observed(910 * MIB), memory)
    assert near is not None
    assert (near.id, near.severity) == ("batch-memory-near-limit", Severity.WARNING)
    assert near_limit_finding(observed(890 * MIB), memory) is None
    # the cgroup's own peak counts too (pages the sampler missed between two looks)
    assert near_limit_finding(observed(500 * MIB, cgroup_peak=950 * MIB), memory) is not None
    assert near_limit_finding(observed(990 * MIB), MemoryBudget()) is None  # no limit
    # the run's out-of-memory kills (Observed.oom_kills, the one counter) are its evidence
    killed = near_limit_finding(observed(990 * MIB, kills=2), memory)
    assert killed is not None and "2 OOM kill(s) during the run" in killed.evidence
    assert near_limit_finding(watched(None, oom_kills=2), memory) is None  # no memory read


def ray_workers(tasks: int) -> Workers:
    return Workers(
        dialect="2026",
        mode=BatchMode.RAY,
        levels=[WorkerLevel(level=0, mode=BatchMode.RAY, workers=tasks, start_method="ray")],
    )


def test_on_ray_the_model_goes_into_the_object_store_once_and_each_ray_worker_reads_it() -> None:
    memory = budget(8 * MIB, 8 << 30)  # a /dev/shm far too small for LensKit 2025's segments
    cost = predict(measured(in_band=2 * MIB), ray_workers(3), memory)
    per_worker = 300 * MIB + 40 * MIB + 2 * MIB
    assert cost.object_store_bytes == 2 * MIB + 13 * MIB  # the pickle and its buffers
    assert cost.shm_need_bytes == 0  # Ray places its store itself (workers.ray_store)
    assert cost.predicted_peak_bytes == 700 * MIB + 15 * MIB + 3 * per_worker
    assert "shm-too-small" not in ids(model_findings(cost, ray_workers(3), memory))
    [note] = model_notes(cost, ray_workers(3))
    assert "ray.put()" in note and f"({15 * MIB} bytes" in note and "3 Ray worker(s)" in note


def test_on_ray_over_the_limit_the_export_is_the_batch_jobs_that_fit() -> None:
    # 3 Ray workers need about 1733 MiB, 2 about 1393 MiB, 1 about 1053 MiB
    memory = budget(64 * MIB, 1200 * MIB)
    cost = predict(measured(), ray_workers(3), memory)
    [over] = [
        f for f in model_findings(cost, ray_workers(3), memory) if f.id == "batch-memory-over-limit"
    ]
    assert over.env == {"LK_NUM_BATCH_JOBS": "1"}
    assert "object store" in over.evidence and "Ray task(s) at once" in over.remediation
    memory = budget(64 * MIB, 900 * MIB)  # not even one Ray worker beside the parent
    cost = predict(measured(), ray_workers(3), memory)
    [over] = [
        f for f in model_findings(cost, ray_workers(3), memory) if f.id == "batch-memory-over-limit"
    ]
    assert over.env == {} and "LK_USE_RAY=0" in over.remediation


def test_threads_share_the_model_and_say_so() -> None:
    threads = Workers(
        dialect="2026",
        mode=BatchMode.THREAD_POOL,
        levels=[WorkerLevel(level=0, mode=BatchMode.THREAD_POOL, workers=4, start_method="thread")],
    )
    memory = budget(8 * MIB, 8 << 30)
    cost = predict(measured(in_band=200 * MIB), threads, memory)
    assert (cost.workers, cost.shm_need_bytes, cost.object_store_bytes) == (0, 0, None)
    assert cost.predicted_peak_bytes == 700 * MIB  # the parent alone
    assert model_findings(cost, threads, memory) == []  # nothing copied, nothing in /dev/shm
    [note] = model_notes(cost, threads)
    assert "shared by the 4 batch threads of one process" in note


def store(**values: object) -> RayObjectStore:
    fields: dict[str, object] = {
        "status": "predicted",
        "ray_version": "2.60.0",
        "size_bytes": 6 << 30,
        "directory": "/tmp/ray",
        "in_shm": False,
        "starts": True,
        "shm_available_bytes": 256 * MIB,
        "available_memory_bytes": 20 << 30,
        "system_memory_bytes": 24 << 30,
        "ray_message": "WARNING: The object store is using /tmp/ray instead of /dev/shm",
    }
    return RayObjectStore.model_validate({**fields, **values})


def test_a_ray_store_outside_dev_shm_is_a_warning_with_the_sizes_and_the_fixes() -> None:
    found = ray_store_finding(store())
    assert found is not None
    assert (found.id, found.severity) == ("ray-object-store-in-tmp", Severity.WARNING)
    assert "/tmp/ray" in found.title and "6.0 GiB" in found.title
    assert str(6 << 30) in found.evidence and str(256 * MIB) in found.evidence
    assert "--shm-size=6759m" in found.remediation  # the store and 10%, as Ray advises
    assert "emptyDir: {medium: Memory, sizeLimit: 6759Mi}" in found.remediation
    # a store that fits the free /dev/shm (20% spare), above Ray's 75 MiB minimum
    share = float(found.env["RAY_DEFAULT_OBJECT_STORE_MEMORY_PROPORTION"])
    assert 75 * MIB <= share * (20 << 30) <= 256 * MIB * 0.8


def test_a_ray_store_in_dev_shm_or_unknown_is_not_flagged() -> None:
    assert ray_store_finding(store(directory="/dev/shm", in_shm=True, ray_message=None)) is None
    assert ray_store_finding(RayObjectStore(status="existing-cluster")) is None
    assert ray_store_finding(RayObjectStore(status="failed", detail="no ray")) is None


def test_a_ray_store_ray_refuses_is_an_error_and_no_share_below_ray_minimum() -> None:
    refused = ray_store_finding(
        store(starts=False, directory=None, in_shm=None, shm_available_bytes=64 * MIB)
    )
    assert refused is not None and refused.severity == Severity.ERROR
    assert "refuse to start" in refused.title
    assert "RAY_OBJECT_STORE_ALLOW_SLOW_STORAGE=1" in refused.remediation
    # 80% of 64 MiB is under Ray's 75 MiB minimum: no store size to suggest
    assert refused.env == {}
