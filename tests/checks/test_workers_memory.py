"""The batch-memory findings and the prediction they rest on, from measured numbers."""

from __future__ import annotations

from lkdoctor.checks.workers_memory import model_findings
from lkdoctor.model import (
    BatchMode,
    MemoryBudget,
    ModelCost,
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
    from lkdoctor.checks.workers_memory import near_limit_finding
    from lkdoctor.model import ObservedMemory

    def observed(pss: int, cgroup_peak: int | None = None) -> ObservedMemory:
        return ObservedMemory(
            peak_pss_bytes=pss,
            peak_uss_bytes=pss // 2,
            peak_processes_at=3,
            cgroup_peak_bytes=cgroup_peak,
        )

    memory = budget(64 * MIB, 1000 * MIB)
    near = near_limit_finding(observed(910 * MIB), memory)
    assert near is not None
    assert (near.id, near.severity) == ("batch-memory-near-limit", Severity.WARNING)
    assert near_limit_finding(observed(890 * MIB), memory) is None
    # the cgroup's own peak counts too (pages the sampler missed between two looks)
    assert near_limit_finding(observed(500 * MIB, cgroup_peak=950 * MIB), memory) is not None
    assert near_limit_finding(observed(990 * MIB), MemoryBudget()) is None  # no limit
