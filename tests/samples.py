"""Characteristic reports built from model objects, for the rendering snapshots.

Deterministic by construction (no collector runs), so a snapshot changes only when a
renderer or the model changes. Findings are written the way the checks phrase them.
"""

from __future__ import annotations

from lkdoctor.model import (
    Bench,
    CgroupInfo,
    CpuBudget,
    CpuLimit,
    EnvironmentInfo,
    ErrorEntry,
    Finding,
    Observed,
    ObservedMemory,
    PlanLevel,
    Pools,
    RayonPool,
    ThreadsSnapshot,
    ToolInfo,
    TorchPool,
)
from lkdoctor.plan.lenskit2025.shape import ThreadPlan2025
from lkdoctor.report import Report

TOOL = ToolInfo(
    version="0.1.0",
    python="3.11.7",
    platform="Linux 6.1.0 x86_64",
    probe_version="0.1.0",
    probe_build={"pyo3": "0.30", "rayon": "1.12", "profile": "release"},
)
VERSIONS = {"lenskit": "2025.8.1", "numpy": "2.4.6", "torch": "2.13.0", "threadpoolctl": "3.8.0"}


def _limits(logical: int, affinity: int, quota: float | None) -> list[CpuLimit]:
    rows = [
        CpuLimit(source="logical", value=logical, detail="os.cpu_count()", limits=False),
        CpuLimit(source="affinity", value=affinity, detail="os.sched_getaffinity(0)"),
        CpuLimit(
            source="cgroup-quota",
            value=quota,
            detail="/sys/fs/cgroup/cpu.max" if quota else "no CPU quota",
        ),
        CpuLimit(source="rust", value=affinity, detail="available_parallelism()", limits=False),
    ]
    binding = "cgroup-quota" if quota is not None and quota < affinity else "affinity"
    for row in rows:
        row.binding = row.source == binding
    return rows


def _level(level: int, processes: int, threads: int, backend: int, instances: int) -> PlanLevel:
    return PlanLevel(
        level=level,
        processes=processes,
        threads=threads,
        backend_threads=backend,
        instances=instances,
        demand=instances * threads * backend,
    )


def _pools(intra: int, blas_threads: int, rayon: int, threads: int) -> Pools:
    return Pools(
        blas=[
            {
                "user_api": "blas",
                "internal_api": "openblas",
                "prefix": "libscipy_openblas",
                "filepath": "/venv/lib/libscipy_openblas64_.so",
                "version": "0.3.31",
                "threading_layer": "pthreads",
                "architecture": "SkylakeX",
                "num_threads": blas_threads,
            }
        ],
        torch=TorchPool(version="2.13.0", intra_op=intra, inter_op=intra, backend="OpenMP"),
        rayon=RayonPool(default_threads=rayon, source="available_parallelism"),
        threads=ThreadsSnapshot(count=threads, states={"R": 1, "S": threads - 1}),
    )


def fitting() -> Report:
    """A 4-CPU laptop with LensKit's defaults: everything fits."""
    return Report(
        tool=TOOL,
        cpu=CpuBudget(
            logical=4,
            physical=4,
            effective=4,
            lenskit_effective=4,
            limits=_limits(4, 4, None),
            cgroup=CgroupInfo(version="v2", path="/user.slice"),
        ),
        plan=ThreadPlan2025(
            inputs={"LK_NUM_PROCS": "2,1", "LK_NUM_THREADS": "2,1", "LK_NUM_BACKEND_THREADS": "1"},
            cpu_count=4,
            effective=4,
            levels=[_level(0, 2, 2, 1, 1), _level(1, 1, 1, 1, 2)],
            lenskit_resolved=[_level(0, 2, 2, 1, 1), _level(1, 1, 1, 1, 2)],
            lenskit_version="2025.8.1",
            peak_threads=2,
            oversubscription=0.5,
        ),
        pools=_pools(intra=4, blas_threads=4, rayon=4, threads=3),
        bench=Bench(verdict="ok", reason="4 threads ran 3.9× as fast as 1"),
        environment=EnvironmentInfo(
            variables={
                "LK_NUM_BACKEND_THREADS": "1",
                "LK_NUM_PROCS": "2,1",
                "LK_NUM_THREADS": "2,1",
            },
            versions=VERSIONS,
            processor="Intel(R) Core(TM) i7-8565U CPU @ 1.80GHz",
        ),
        findings=[
            Finding(
                id="cpu-smt",
                severity="info",
                section="cpu",
                title="SMT: 4 logical CPUs on 4 physical cores",
                evidence="1 hardware thread per core",
            )
        ],
    )


def oversubscribed() -> Report:
    """``docker --cpus=2`` on a 64-core host: LensKit plans for 64."""
    suggested = {"LK_NUM_PROCS": "1", "LK_NUM_THREADS": "2", "LK_NUM_BACKEND_THREADS": "1"}
    return Report(
        tool=TOOL,
        cpu=CpuBudget(
            logical=64,
            physical=32,
            effective=2,
            lenskit_effective=64,
            limits=_limits(64, 64, 2.0),
            cgroup=CgroupInfo(version="v2", path="/docker/4f2a", quota=2.0),
            smt=True,
        ),
        plan=ThreadPlan2025(
            inputs={},
            cpu_count=64,
            effective=2,
            levels=[_level(0, 4, 8, 4, 1), _level(1, 1, 4, 4, 4)],
            lenskit_resolved=[_level(0, 4, 8, 4, 1), _level(1, 1, 4, 4, 4)],
            lenskit_version="2025.8.1",
            peak_threads=64,
            oversubscription=32.0,
            suggested_env=suggested,
        ),
        pools=_pools(intra=32, blas_threads=64, rayon=64, threads=97),
        bench=Bench(
            verdict="oversubscribed",
            reason="8 threads ran slower than 2 (0.61×); the cgroup throttled 41% of periods",
        ),
        environment=EnvironmentInfo(variables={}, versions=VERSIONS),
        findings=[
            Finding(
                id="cpu-count-mismatch",
                severity="warning",
                section="cpu",
                title="LensKit will plan for 64 CPUs but only 2 are available",
                evidence="lenskit_effective=64 (affinity), effective=2 (cgroup-quota=2.0)",
                remediation="set LensKit's thread counts explicitly so they fit the real budget:",
                env=suggested,
            ),
            Finding(
                id="plan-oversubscribed",
                severity="error",
                section="plan",
                title="The thread plan asks for 64 threads on 2 CPUs",
                evidence="level 1: 4 processes × 4 threads × 4 backend threads = 64 "
                "(oversubscription 32.00)",
                remediation="use the suggested plan",
                env=suggested,
            ),
            Finding(
                id="bench-oversubscribed",
                severity="warning",
                section="bench",
                title="More threads made the benchmark slower",
                evidence="8 threads: 0.61× the speed of 2",
                remediation="keep every pool at or below 2 threads",
            ),
        ],
    )


def bad_env() -> Report:
    """Malformed and deprecated LensKit variables, two OpenMP runtimes, a failed section."""
    return Report(
        tool=TOOL.model_copy(update={"probe_version": None, "probe_build": None}),
        cpu=CpuBudget(
            logical=8,
            physical=8,
            effective=8,
            lenskit_effective=8,
            limits=_limits(8, 8, None),
        ),
        plan=ThreadPlan2025(
            inputs={"LK_NUM_THREADS": "abc", "LK_NUM_CHILD_THREADS": "2"},
            cpu_count=8,
            effective=8,
            levels=[_level(0, 4, 8, 1, 1), _level(1, 1, 2, 2, 4)],
            peak_threads=16,
            oversubscription=2.0,
            suggested_env={"LK_NUM_BACKEND_THREADS": "1,2"},
        ),
        pools=None,
        environment=EnvironmentInfo(
            variables={
                "LK_NUM_CHILD_THREADS": "2",
                "LK_NUM_THREADS": "abc",
                "OMP_NUM_THREADS": "0",
                "PYTHONPATH": "/opt/site",
            },
            versions=VERSIONS,
        ),
        findings=[
            Finding(
                id="env-invalid",
                severity="error",
                section="plan",
                title="LK_NUM_THREADS has an invalid value",
                evidence="LK_NUM_THREADS='abc': LensKit raises ValueError on it",
                remediation="set LK_NUM_THREADS to a positive integer or a comma-separated "
                "list of them (e.g. 4 or 4,2), or unset it",
            ),
            Finding(
                id="env-deprecated",
                severity="warning",
                section="plan",
                title="LK_NUM_CHILD_THREADS is deprecated",
                evidence="LK_NUM_CHILD_THREADS=2",
                remediation="use the list form instead",
                env={"LK_NUM_BACKEND_THREADS": "1,2"},
            ),
            Finding(
                id="multiple-openmp",
                severity="error",
                section="pools",
                title="Two OpenMP runtimes are loaded: libgomp and libiomp5",
                evidence="threadpoolctl: libgomp.so.1, libiomp5.so",
                remediation="install numpy, scipy and torch from the same channel",
                env={"KMP_DUPLICATE_LIB_OK": "FALSE"},
            ),
        ],
        errors=[
            ErrorEntry(section="pools", message="OSError: /proc/self/task unreadable"),
            ErrorEntry(section="probe", message="lkdoctor._probe is missing: rebuild"),
        ],
    )


SAMPLES = {"fitting": fitting, "oversubscribed": oversubscribed, "bad_env": bad_env}


def watched(memory: ObservedMemory | None, oom_kills: int | None = None, cpus: int = 4) -> Observed:
    """A watched run (``--pid``, ``-- COMMAND``) of one idle process, with its memory and
    the out-of-memory kills counted during the window."""
    return Observed(
        root_pid=100,
        seconds=2.0,
        cpus=cpus,
        samples=20,
        interval=0.1,
        avg_runnable=0.0,
        avg_running=0.0,
        avg_waiting=0.0,
        cpu_seconds=0.0,
        wait_seconds=0.0,
        wait_share=0.0,
        oversubscribed_share=0.0,
        peak_runnable=0.0,
        memory=memory,
        oom_kills=oom_kills,
    )
