"""The report model: the single source of truth for the JSON output and its schema.

Every section is optional so that a collector that fails leaves ``None`` and an
``errors[]`` entry instead of a crash, and a section not yet collected is absent
rather than faked.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

#: Bumped MAJOR for removed or retyped keys, MINOR for added keys.
SCHEMA_VERSION = "2.2"


class Severity(StrEnum):
    """How much a finding matters, least first."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


SEVERITY_RANK: dict[str, int] = {severity: rank for rank, severity in enumerate(Severity)}

#: A plan reduced to what two plans are compared on: (processes, threads, backend) per level.
PlanSignature = tuple[tuple[int, int, int], ...]


class Verdict(StrEnum):
    """What the micro-benchmarks say about the plan on this machine."""

    OK = "ok"
    OVERSUBSCRIBED = "oversubscribed"
    CONTENDED = "contended"
    UNDERSUBSCRIBED = "undersubscribed"
    INCONCLUSIVE = "inconclusive"
    SKIPPED = "skipped"


class Section(StrEnum):
    """The parts of a report, as findings and errors name them (report order first)."""

    CPU = "cpu"
    PLAN = "plan"
    POOLS = "pools"
    OBSERVED = "observed"
    WORKERS = "workers"  # the processes (or threads) LensKit's batch work runs on
    COMPARISON = "comparison"  # --compare -- COMMAND
    BENCH = "bench"
    VERIFICATION = "verification"  # --verify
    ENVIRONMENT = "environment"
    CLUSTER = "cluster"
    PROBE = "probe"  # the Rust extension could not be loaded
    CHECKS = "checks"  # a check failed


class StrictModel(BaseModel):
    """A report part: unknown keys are refused, so a renamed key cannot slip through."""

    model_config = ConfigDict(extra="forbid")


class ToolInfo(StrictModel):
    name: str = "lkdoctor"
    version: str
    python: str
    platform: str
    probe_version: str | None = Field(
        default=None, description="version of the bundled Rust probe, null when it is missing"
    )
    probe_build: dict[str, str] | None = Field(
        default=None, description="pyo3 and rayon versions and build profile of the probe"
    )


class EnvProblem(StrictModel):
    """An environment value that could not be used as it stands."""

    variable: str
    value: str
    expected: str = Field(description="the accepted form")
    consequence: str = Field(default="", description="what happens with this value")


class CpuLimit(StrictModel):
    source: str = Field(description="logical, affinity, cgroup-quota, slurm, rust, ...")
    value: float | int | None = Field(
        description="CPUs this source allows (a quota may be fractional)"
    )
    detail: str = Field(description="the file or variable the value came from")
    binding: bool = Field(default=False, description="this source sets `effective`")
    limits: bool = Field(
        default=True, description="false for informational rows (logical, physical, rust)"
    )


class CgroupInfo(StrictModel):
    version: Literal["v1", "v2", "hybrid", "none"]
    path: str | None = Field(default=None, description="the process's own cgroup (cpu controller)")
    quota: float | None = Field(
        default=None, description="tightest CPU quota over the cgroup and its ancestors"
    )
    quota_path: str | None = None
    cpuset: str | None = None
    cpuset_path: str | None = None
    memory_limit_bytes: int | None = Field(
        default=None, description="tightest memory limit over the cgroup and its ancestors"
    )
    memory_path: str | None = None
    notes: list[str] = Field(
        default_factory=list, description="cgroup files that exist but could not be used"
    )


class CpuBudget(StrictModel):
    logical: int
    physical: int | None
    effective: int
    lenskit_effective: int
    limits: list[CpuLimit]
    cgroup: CgroupInfo | None = None
    host_memory_bytes: int | None = None
    smt: bool | None = Field(default=None, description="more logical than physical CPUs")
    env_problems: list[EnvProblem] = Field(default_factory=list)


class PlanLevel(StrictModel):
    level: int
    processes: int = Field(description="worker processes each process at this level spawns")
    threads: int = Field(
        description="LensKit's explicit threads per process (Rayon, torch inter-op)"
    )
    backend_threads: int = Field(description="backend (BLAS, torch intra-op) threads per thread")
    demand: int = Field(
        description="threads this level can keep busy at once, over all its processes"
    )
    instances: int = Field(
        default=1, description="processes running at this level: P0 × … × P(k-1)"
    )
    counted_backend_threads: int | None = Field(
        default=None,
        description="backend threads counted in the demand: the larger of backend_threads "
        "and the pools the backends' own variables (OPENBLAS_NUM_THREADS, ...) set",
    )

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(processes, threads, backend_threads)``: what two plans are compared on."""
        return self.processes, self.threads, self.backend_threads


def plan_signature(levels: Sequence[PlanLevel]) -> PlanSignature:
    """The shape of every level: equal for two plans that run the same threads."""
    return tuple(level.shape for level in levels)


def oversubscription(peak: int, effective: int) -> float:
    """``peak / effective`` to 3 decimals, bounded so absurd inputs stay a finite float."""
    effective = max(effective, 1)
    if peak > 10**12 * effective:
        return float(10**12)
    return round(peak / effective, 3)


class BackendSetting(StrictModel):
    """A backend's own thread variable and what it does to LensKit's plan."""

    variable: str
    value: str
    threads: int | None = Field(description="threads per process it sets, null when ignored")
    counted: bool = Field(description="counted in the demand (a pool of this size runs)")
    effect: str


class PlanBase(StrictModel):
    """What a thread plan holds in every LensKit dialect."""

    dialect: str = Field(description="the LensKit configuration dialect the plan is resolved in")
    dialect_reason: str = Field(default="", description="why this dialect")
    inputs: dict[str, str] = Field(
        description="the LK_* and backend variables as set (unset omitted)"
    )
    cpu_count: int = Field(description="the CPU count LensKit resolves with (lenskit_effective)")
    effective: int = Field(description="the CPUs really available; demand is judged against this")
    levels: list[PlanLevel]
    peak_threads: int
    oversubscription: float
    lenskit_version: str | None = None
    lenskit_note: str | None = Field(
        default=None, description="why lenskit_resolved is null although lenskit is installed"
    )
    suggested_env: dict[str, str] = Field(default_factory=dict)
    suggestion_fits_as_is: bool = Field(
        default=False, description="the current plan already fits; suggested_env only pins it"
    )
    suggested_unset: list[str] = Field(
        default_factory=list,
        description="variables to unset beside suggested_env (no value of them is accepted)",
    )
    env_problems: list[EnvProblem] = Field(default_factory=list)
    backend_env: list[BackendSetting] = Field(default_factory=list)

    @staticmethod
    def judged(levels: Sequence[PlanLevel], effective: int) -> tuple[int, float]:
        """``peak_threads`` and ``oversubscription`` of ``levels`` on ``effective`` CPUs: the
        one rule every line's plan is judged by (the peak is the busiest level's demand)."""
        peak = max((level.demand for level in levels), default=0)
        return peak, oversubscription(peak, effective)

    def line_fields(self) -> dict[str, Any]:
        """What this line's plan shape holds beyond every plan's fields (and its dialect),
        as JSON values: what a report shows of a line no renderer knows in detail."""
        own = set(type(self).model_fields) - set(PlanBase.model_fields)
        return self.model_dump(mode="json", include=own)


class TorchPool(StrictModel):
    """Torch's thread pools, as torch's own functions report them."""

    version: str
    intra_op: int = Field(description="torch.get_num_threads()")
    inter_op: int = Field(description="torch.get_num_interop_threads()")
    backend: str | None = Field(default=None, description="ATen parallel backend")
    openmp_max_threads: int | None = None
    openmp_version: str | None = None
    mkl_max_threads: int | None = None
    mkl_version: str | None = None
    mkldnn_version: str | None = None
    hardware_concurrency: int | None = Field(
        default=None, description="std::thread::hardware_concurrency() as torch saw it"
    )
    cpu_capability: str | None = None
    env_seen: dict[str, str] = Field(
        default_factory=dict, description="OMP_NUM_THREADS / MKL_NUM_THREADS as torch saw them"
    )
    parallel_info: dict[str, str] = Field(
        default_factory=dict, description="every `key : value` of torch.__config__.parallel_info()"
    )


class RayonPool(StrictModel):
    default_threads: int = Field(description="the size a global Rayon pool would get here")
    source: str = Field(
        description="RAYON_NUM_THREADS, RAYON_RS_NUM_CPUS, available_parallelism or fallback"
    )
    lenskit_accel: bool = Field(default=False, description="lenskit._accel is installed")
    lenskit_accel_loaded: bool = Field(default=False, description="lenskit._accel is imported")
    lenskit_threads: int | None = Field(
        default=None,
        description="lenskit._accel.thread_count(), read only when LensKit's pool exists: "
        "LensKit set it up (see pools.lenskit_setup) or --apply did (reading creates the pool)",
    )
    note: str = ""


class ThreadInfo(StrictModel):
    tid: int
    name: str
    state: str = Field(description="the state letter of /proc/.../stat (R, S, D, ...)")
    cpu_seconds: float = Field(description="user + system CPU time of the thread")
    processor: int | None = Field(default=None, description="the CPU it last ran on")


class ThreadsSnapshot(StrictModel):
    count: int
    states: dict[str, int] = Field(
        default_factory=dict, description="threads per state name (running, sleeping, ...)"
    )
    names: dict[str, int] = Field(default_factory=dict, description="threads per thread name")
    cpu_seconds: float = 0.0
    threads: list[ThreadInfo] = Field(default_factory=list)


class ObservedProcess(StrictModel):
    """One process of an observed tree, over the part of the window it was alive."""

    pid: int
    ppid: int
    name: str
    command: str = Field(default="", description="the start of its command line")
    level: int = Field(description="its nesting level in the plan: the root 0, its workers 1, …")
    helper: bool = Field(
        default=False,
        description="a multiprocessing helper (resource tracker, forkserver): no plan level",
    )
    wrapper: bool = Field(
        default=False,
        description="outside the LensKit process's subtree (a wrapper that started it: "
        "bash -c, uv run): no plan level",
    )
    threads: int = Field(description="the most threads it had at once")
    thread_names: dict[str, int] = Field(
        default_factory=dict, description="threads seen over the window, by name"
    )
    avg_running: float = Field(description="average CPUs it used over the whole window")
    avg_waiting: float = Field(
        description="average threads of it runnable but waiting for a CPU, over the window"
    )
    avg_runnable: float = Field(description="avg_running + avg_waiting")
    peak_runnable: float = Field(
        default=0.0, description="its highest runnable threads in one sample"
    )
    cpu_seconds: float = Field(description="thread-seconds on a CPU inside the window")
    wait_seconds: float = Field(description="thread-seconds runnable but waiting for a CPU")
    first_seen: float = Field(description="seconds after the start it was first seen")
    last_seen: float = Field(description="seconds after the start it was last seen")
    exited: bool = Field(default=False, description="it ended before the window did")
    libraries: list[str] = Field(
        default_factory=list, description="threading libraries in its /proc/PID/maps"
    )
    env: dict[str, str] = Field(
        default_factory=dict,
        description="its LensKit (LK_*) and thread-pool variables (each pool kind's prefix)",
    )
    planned_threads: int | None = Field(
        default=None, description="threads the plan lets a process at its level keep busy (T × B)"
    )


class TimelinePoint(StrictModel):
    at: float = Field(description="seconds after the start, at the end of the interval")
    seconds: float = Field(description="length of the interval")
    runnable: float = Field(description="average runnable threads of the tree in the interval")
    waiting: float = Field(description="of which waiting for a CPU")
    processes: int
    threads: int


class RunTotals(StrictModel):
    """CPU time of a whole run: from a cgroup of its own (every process, the short-lived
    too) or, where none could be made, as sampled (processes born and gone between two
    samples are missing)."""

    source: Literal["cgroup", "sampled"]
    cpu_seconds: float = Field(description="CPU time of every process of the run")
    throttled_seconds: float | None = Field(
        description="time the run's cgroup was throttled by a CPU quota; null when that "
        "group keeps no throttling counter (cgroup v2 without its cpu controller, v1 "
        "cpuacct alone) or the totals are sampled"
    )
    cgroup: str | None = Field(description="the cgroup the run had (removed after it)")
    reason: str | None = Field(
        default=None, description="why the totals are sampled only; null from a cgroup"
    )


class ObservedMemory(StrictModel):
    """Memory of an observed tree, at its peak (sampled), and of its cgroup where readable."""

    measure: Literal["pss"] = Field(
        default="pss",
        description="the tree's memory is the sum of each process's PSS (proportional set "
        "size: a page shared by N processes counts 1/N in each), so shared pages (libraries, "
        "shared-memory segments) count once, not once per worker as RSS would",
    )
    peak_pss_bytes: int = Field(description="the highest sum of PSS over the tree")
    peak_uss_bytes: int = Field(
        description="the highest sum of USS (pages private to one process) over the tree"
    )
    peak_processes_at: int = Field(default=0, description="processes in the tree at that peak")
    peak_shm_used_bytes: int | None = Field(
        default=None, description="the highest use of /dev/shm (statvfs) during the window"
    )
    shm_used_before_bytes: int | None = Field(
        default=None, description="/dev/shm in use at the first look"
    )
    peak_segments_bytes: int = Field(
        default=0,
        description="the most bytes in LensKit (psm_*) and torch segments the tree held at once",
    )
    cgroup_path: str | None = Field(default=None, description="the memory cgroup of the root")
    cgroup_peak_bytes: int | None = Field(
        default=None,
        description="that cgroup's own peak (v2 memory.peak, v1 memory.max_usage_in_bytes): "
        "since the cgroup was made, so it may predate the window",
    )
    cgroup_limit_bytes: int | None = None


class Observed(StrictModel):
    """A process tree watched over a window: ``--pid`` (sampled) or ``-- COMMAND`` (whole run)."""

    root_pid: int
    lenskit_pid: int | None = Field(
        default=None,
        description="the process plan levels count from: the shallowest with LensKit's "
        "extension mapped, else the root",
    )
    tree: bool = Field(default=True, description="false with --single-process: the root only")
    plan_environ_pid: int | None = Field(
        default=None,
        description="-- COMMAND: the process whose threading variables the plan was resolved "
        "with (the one running LensKit, as a wrapper such as env may have changed them); null: "
        "the doctor's own environment",
    )
    command: list[str] | None = Field(default=None, description="-- COMMAND as run, else null")
    exit_status: int | None = Field(
        default=None, description="the command's exit status (128 + N when killed by signal N)"
    )
    seconds: float = Field(description="wall time observed")
    cpus: int | None = Field(description="the CPUs the tree may use (effective)")
    samples: int = Field(description="how many times the tree was read")
    interval: float = Field(description="average seconds between samples")
    avg_runnable: float
    avg_running: float = Field(description="average CPUs in use over the window")
    avg_waiting: float = Field(description="average threads waiting for a CPU")
    cpu_seconds: float = Field(description="CPU time of the tree inside the window")
    wait_seconds: float = Field(description="thread-seconds spent waiting for a CPU")
    wait_share: float = Field(description="share of runnable thread-time spent waiting")
    oversubscribed_share: float = Field(
        description="share of the window in which runnable threads exceeded the CPUs (by 10%)"
    )
    peak_runnable: float = Field(description="highest runnable threads in one sample interval")
    peak_processes: int = 0
    processes: list[ObservedProcess] = Field(default_factory=list)
    timeline: list[TimelinePoint] = Field(default_factory=list)
    observer_cpu_seconds: float = Field(
        default=0.0, description="CPU time the observer itself spent reading /proc"
    )
    totals: RunTotals | None = Field(
        default=None,
        description="the run's CPU time counted by its own cgroup (-- COMMAND where the "
        "machine allows), else as sampled, with the reason",
    )
    oom_kills: int | None = Field(
        default=None,
        description="out-of-memory kills the kernel counted during the window in the memory "
        "cgroup of the watched process (-- COMMAND: the doctor's, which the command shares) "
        "or any ancestor, the most any one of them counted (v2 memory.events oom_kill, v1 "
        "memory.oom_control oom_kill); null when no counter could be read",
    )
    memory: ObservedMemory | None = Field(
        default=None, description="the tree's peak memory, /dev/shm use and cgroup counters"
    )


class ApplyStep(StrictModel):
    """One step of LensKit's ``initialize()`` as ``--apply`` performed it."""

    step: int
    action: str
    status: Literal["applied", "skipped", "failed"]
    detail: str = ""


class LensKitSetup(StrictModel):
    """LensKit's parallelism, found already set up in this process when the doctor looked."""

    by: Literal["lenskit-cli", "program"] = Field(
        description="lenskit-cli: LensKit's `lenskit` command configured the pools before "
        "running `doctor` (LensKit 2026 does it for every command); program: this program "
        "called LensKit's setup (2026 configure()/init_threading(), 2025 initialize())"
    )
    threads: int | None = Field(description="the Rayon pool size LensKit asked for")
    backend_threads: int | None = Field(
        description="the torch intra-op (and BLAS) threads LensKit set"
    )
    settings: dict[str, Any] = Field(
        default_factory=dict, description="the parallel settings LensKit applied, as it holds them"
    )


class Pools(StrictModel):
    blas: list[dict[str, Any]] = Field(default_factory=list)
    torch: TorchPool | None = None
    rayon: RayonPool | None = None
    lenskit_setup: LensKitSetup | None = Field(
        default=None,
        description="LensKit had already set up its pools in this process (the pools shown "
        "are its setup); null when it had not",
    )
    threads: ThreadsSnapshot | None = None
    applied: bool = Field(default=False, description="level 0 of the plan was applied first")
    apply_steps: list[ApplyStep] = Field(default_factory=list)


class Throttling(StrictModel):
    """Deltas of the own cgroup's ``cpu.stat`` over a measured window."""

    periods: int = Field(description="enforcement periods that elapsed (nr_periods)")
    throttled_periods: int = Field(description="periods in which the quota ran out (nr_throttled)")
    throttled_seconds: float = Field(description="time the cgroup spent throttled")


class BenchRole(StrEnum):
    """Which thread count a benchmark run measures."""

    BASELINE = "baseline"  # one thread
    RIGHT_SIZED = "right-sized"  # the effective CPUs
    PEAK = "peak"  # the plan's peak demand


class BenchRun(StrictModel):
    """One measured shape: which threads were busy and what the scheduler did to them."""

    name: str = Field(description="rayon-1, torch-1, right-sized or peak")
    roles: list[BenchRole] = Field(
        description="what the verdict uses it for (one run serves several when shapes coincide)"
    )
    rayon_threads: int = Field(description="threads of the probe's local Rayon pool")
    torch_threads: int = Field(description="torch intra-op threads running matmuls beside it")
    threads: int = Field(description="threads kept busy at once")
    repeats: int = Field(description="rounds this shape was measured in (interleaved)")
    wall_seconds: float
    cpu_seconds: float = Field(description="CPU time of the whole process over the runs")
    speedup: float | None = Field(
        default=None, description="work per second over the 1-thread baselines (CPUs' worth)"
    )
    efficiency: float | None = Field(default=None, description="speedup / threads")
    wait_share: float | None = Field(
        default=None, description="share of the threads' time runnable but waiting for a CPU"
    )
    nonvoluntary_switches_per_second: float | None = None
    throttling: Throttling | None = None
    psi_some_share: float | None = Field(
        default=None, description="share of the window /proc/pressure/cpu reported some stall"
    )
    overran: bool = Field(default=False, description="the watchdog cancelled it at its deadline")


class BenchMetrics(StrictModel):
    """The same-run ratios the verdict is judged on."""

    effective: int
    plan_threads: int = Field(description="threads the plan keeps busy at peak (T0 × B0)")
    peak_threads: int = Field(description="threads the peak run kept busy (the plan, capped)")
    expected_own_wait_share: float = Field(
        description="wait share the peak must show from its own demand: 1 - effective/peak"
    )
    contention_wait_share: float | None = Field(
        default=None, description="wait share at `effective` threads: others taking the CPUs"
    )
    peak_wait_share: float | None = None
    excess_wait_share: float | None = Field(
        default=None, description="peak wait share beyond the contention: the plan's own doing"
    )
    right_sized_speedup: float | None = None
    peak_speedup: float | None = None
    throttled_share: float | None = Field(
        default=None, description="throttled time / wall time over the peak runs"
    )
    throttled_periods: int | None = None
    psi_some_share: float | None = None


class ComparisonVerdict(StrEnum):
    """What the suggested settings measured against the current ones (`--verify`, `--compare`)."""

    IMPROVED = "improved"
    NO_GAIN = "no-gain"
    WORSE = "worse"
    INCONCLUSIVE = "inconclusive"
    NOTHING_TO_VERIFY = "nothing-to-verify"


class Variant(StrEnum):
    """The settings a compared run uses."""

    CURRENT = "current"
    SUGGESTED = "suggested"


class VariantRun(StrictModel):
    """One measured run of one variant (the current settings or the suggested exports)."""

    variant: Variant
    wall_seconds: float
    cpu_seconds: float = Field(description="CPU time of the run's threads")
    wait_seconds: float = Field(description="thread-seconds runnable but waiting for a CPU")
    wait_share: float | None = Field(
        default=None, description="wait_seconds over the threads' runnable time"
    )
    threads: int = Field(description="peak threads of the run (all its processes)")
    exit_status: int = Field(default=0, description="the run's exit status (0: it succeeded)")
    interrupted_by: str | None = Field(
        default=None,
        description="the stopping signal that reached the run (it is then in no pair, "
        "whatever its exit status), or null",
    )


class ComparedPair(StrictModel):
    """The two variants run back to back; ``ratio`` > 1 means the suggestion ran faster."""

    current: VariantRun
    suggested: VariantRun
    ratio: float = Field(description="current wall time / suggested wall time")


class VariantSummary(StrictModel):
    """One variant over all its runs: medians of the measured runs."""

    variant: Variant
    env: dict[str, str] = Field(
        default_factory=dict, description="the exports this variant adds (none for current)"
    )
    unset: list[str] = Field(default_factory=list, description="variables this variant unsets")
    threads_planned: int | None = Field(
        default=None, description="threads level 0 of its plan keeps busy (threads × backend)"
    )
    runs: int = 0
    wall_seconds: float | None = None
    cpu_seconds: float | None = None
    wait_seconds: float | None = None
    wait_share: float | None = None
    threads: int | None = Field(default=None, description="peak threads over its runs")
    exit_status: int | None = Field(default=None, description="the last run's exit status")


#: The verdicts a comparison reaches only from enough completed pairs.
DECIDED_VERDICTS = (ComparisonVerdict.IMPROVED, ComparisonVerdict.NO_GAIN, ComparisonVerdict.WORSE)
#: Completed pairs a decided verdict needs (``lkdoctor.bench.pairs`` applies the rule).
MIN_PAIRS = 3
#: A measured comparison carries these keys, whatever its verdict.
_MEASURED_KEYS = ["variants", "pairs", "interrupted", "ratio", "interval_low", "interval_high"]


def _comparison_schema(schema: dict[str, Any]) -> None:
    """Only ``nothing-to-verify`` may leave the measurement out; a decided verdict has at
    least ``MIN_PAIRS`` pairs, a ratio and its interval (JSON Schema ``if``/``then``)."""
    schema["allOf"] = [
        {
            "if": {"properties": {"verdict": {"not": {"const": "nothing-to-verify"}}}},
            "then": {"required": _MEASURED_KEYS},
        },
        {
            "if": {"properties": {"verdict": {"enum": [str(v) for v in DECIDED_VERDICTS]}}},
            "then": {
                "properties": {
                    "pairs": {"minItems": MIN_PAIRS},
                    "ratio": {"type": "number"},
                    "interval_low": {"type": "number"},
                    "interval_high": {"type": "number"},
                }
            },
        },
    ]


class Comparison(StrictModel):
    """The current settings against the suggested exports, measured on the same work:
    ``--verify`` (the plan-shaped benchmark) or ``--compare -- COMMAND`` (the user's run)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_comparison_schema)

    subject: Literal["benchmark", "command"]
    command: list[str] | None = Field(default=None, description="--compare: the command run")
    verdict: ComparisonVerdict
    reason: str = Field(default="", description="the verdict in words")
    variants: list[VariantSummary] = Field(default_factory=list)
    pairs: list[ComparedPair] = Field(
        default_factory=list, description="the completed pairs, in the order measured"
    )
    interrupted: list[VariantRun] = Field(
        default_factory=list,
        description="runs a stopping signal reached: never paired, whatever their exit status",
    )
    ratio: float | None = Field(
        default=None,
        description="geometric mean of the pairs' ratios (> 1: the suggestion is faster)",
    )
    interval_low: float | None = Field(
        default=None,
        description="lower end of the ratio's confidence interval (Student's t on the "
        "pairs' log-ratios); null below 2 pairs",
    )
    interval_high: float | None = Field(
        default=None, description="upper end of the ratio's confidence interval"
    )
    confidence: float = Field(default=0.95, description="the interval's confidence level")
    min_pairs: int = Field(
        default=MIN_PAIRS, description="completed pairs a verdict other than inconclusive needs"
    )
    pairs_needed: int | None = Field(
        default=None,
        description="inconclusive: the completed pairs that would likely decide it at the "
        "spread measured (null: even 100 would not, or it is decided)",
    )
    ratio_min: float | None = None
    ratio_max: float | None = None
    noise: float = Field(description="ratios within 1 ± noise count as no difference")
    work: str = Field(default="", description="the work each run did, in words")
    stopped: str | None = Field(
        default=None, description="why the comparison stopped before all its runs, or null"
    )
    exit_status: int | None = Field(
        default=None, description="the failing run's exit status when one failed, else null"
    )
    elapsed_seconds: float | None = None


class Bench(StrictModel):
    verdict: Verdict
    reason: str = Field(default="", description="the verdict in words")
    evidence: list[str] = Field(default_factory=list, description="the measurements behind it")
    runs: list[BenchRun] = Field(default_factory=list)
    metrics: BenchMetrics | None = None
    budget_seconds: float | None = None
    elapsed_seconds: float | None = None
    overruns: list[str] = Field(
        default_factory=list, description="kernels the watchdog cancelled at their deadline"
    )
    verification: Comparison | None = Field(
        default=None,
        description="--verify: the plan-shaped benchmark under the current settings and "
        "under the suggested exports; null without --verify",
    )


class PackageVersion(StrictModel):
    name: str
    version: str


class SearchPaths(StrictModel):
    """Where Python and the shell look for code (``--paths``), as LensKit's doctor lists them."""

    executable: str = Field(description="sys.executable")
    prefix: str = Field(description="sys.prefix (the virtual environment, if any)")
    base_prefix: str = Field(description="sys.base_prefix (the interpreter installation)")
    cwd: str = Field(description="the working directory")
    sys_path: list[str] = Field(description="sys.path, in order")
    path: list[str] = Field(description="PATH, in order")


class PythonRuntime(StrictModel):
    """The interpreter, as LensKit's doctor describes it (its ``PlatformInspector``)."""

    version: str = Field(description="platform.python_version()")
    platform: str = Field(description="platform.platform(), e.g. Linux-6.8.0-x86_64-with-glibc2.39")
    executable: str = Field(description="sys.executable (LensKit's doctor: Location)")
    gil: Literal["enabled", "free-threading", "free-threaded-gil-enabled"] = Field(
        description="enabled: a GIL build; free-threading: a free-threaded build running "
        "without the GIL; free-threaded-gil-enabled: a free-threaded build whose GIL a module "
        "turned back on (LensKit 2026 runs batch jobs on threads only without a GIL)"
    )


class TorchBackend(StrictModel):
    """One torch backend, as ``torch.backends.<name>`` answers."""

    status: Literal["available", "unavailable", "absent"] = Field(
        description="available; unavailable: built in but not usable here (no device, no "
        "driver); absent: not built in"
    )
    built: bool | None = Field(
        description="torch.backends.<name>.is_built(); null where torch has no such question"
    )


class GpuDevice(StrictModel):
    """One CUDA device, from ``torch.cuda.get_device_properties``."""

    index: int
    name: str
    capability: str = Field(description="compute capability, major.minor")
    memory_bytes: int
    l2_cache_bytes: int | None = None
    multiprocessors: int


class PowerReading(StrictModel):
    scope: Literal["system", "cpu", "gpu"]
    configured: bool = Field(description="the machine has a power query for this scope")
    joules: float | None = Field(
        default=None, description="energy over the window, as LensKit's measure_power answers"
    )


class PowerInfo(StrictModel):
    """``--power``: LensKit's own power measurement (LensKit 2026's doctor shows it)."""

    status: Literal["measured", "no-machine", "machine-not-configured", "unsupported"] = Field(
        description="measured: the machine is configured and LensKit was asked; no-machine: "
        "none is set; machine-not-configured: `machine` names no [machines] entry; "
        "unsupported: the installed LensKit has no power measurement"
    )
    machine: str | None = Field(default=None, description="LensKit's `machine` setting")
    window_seconds: float | None = None
    readings: list[PowerReading] = Field(default_factory=list)
    message: str = Field(default="", description="the status in LensKit's words")


class Compute(StrictModel):
    """The machine's compute facts LensKit's own doctor shows, read without side effects."""

    cpu_frequency_hz: float | None = Field(
        default=None, description="advertised CPU frequency (brand string, else cpu MHz)"
    )
    cpu_frequency_source: str | None = None
    memory_total_bytes: int | None = None
    memory_available_bytes: int | None = Field(
        default=None, description="memory available now (MemAvailable), as LensKit shows it"
    )
    torch_backends: dict[str, TorchBackend] | None = Field(
        default=None, description="cpu capability aside, cuda, mkl and mps; null without torch"
    )
    gpus: list[GpuDevice] | None = Field(
        default=None, description="every visible CUDA device; null when not listed (see gpu_note)"
    )
    gpu_note: str = Field(default="", description="how the devices were listed, or why not")
    power: PowerInfo | None = Field(default=None, description="--power; null otherwise")
    note: str = Field(default="", description="what was not read here, and why (e.g. --pid)")


class EnvironmentInfo(StrictModel):
    """The environment variables and packages that decide threading, secrets masked."""

    variables: dict[str, str] = Field(
        default_factory=dict,
        description="threading-relevant variables as set (LK_, OMP_, MKL_, SLURM_, ...)",
    )
    versions: dict[str, str] = Field(
        default_factory=dict,
        description="versions of the installed libraries that take part in threading",
    )
    processor: str | None = Field(
        default=None, description="the CPU model (/proc/cpuinfo), as LensKit's doctor shows it"
    )
    packages: list[PackageVersion] | None = Field(
        default=None, description="every installed distribution (--packages / --full)"
    )
    paths: SearchPaths | None = Field(default=None, description="search paths (--paths / --full)")
    python: PythonRuntime | None = Field(default=None, description="the interpreter")
    compute: Compute | None = Field(
        default=None, description="CPU frequency, memory, torch backends, GPUs and (--power) power"
    )
    redacted: bool = Field(
        default=False, description="user name, host name and home folder were hidden (--redact)"
    )


class BatchMode(StrEnum):
    """How the installed LensKit runs batch work (``lenskit.batch``) under the plan."""

    PROCESS_POOL = "process-pool"  # 2025.x, more than one process: spawned workers
    IN_PROCESS = "in-process"  # one process, one job: no workers
    THREAD_POOL = "thread-pool"  # 2026.x, batch jobs > 1: threads of this process
    RAY = "ray"  # Ray tasks (2026.x LK_USE_RAY, 2025.x n_jobs="ray")
    UNKNOWN = "unknown"  # no LensKit installed, or none of the known lines


class StartMethod(StrictModel):
    """How one part of a batch run starts its processes, and where that fact comes from."""

    part: str = Field(
        description="batch-workers, shared-memory-manager, python-default, ray-workers, …"
    )
    method: str = Field(description="spawn, fork, forkserver; thread or ray for non-processes")
    source: str = Field(
        description="the code it was read from (file and line), or the documented fact named"
    )


class WorkerLevel(StrictModel):
    """What batch work a process at one plan level starts."""

    level: int
    mode: BatchMode
    workers: int = Field(description="worker processes (or threads, Ray tasks) it runs at once")
    start_method: str | None = Field(
        default=None, description="how the workers start; null when there are none"
    )
    source: str = Field(default="", description="the setting that gives the count")


class ScriptLocation(StrictModel):
    """A place in a script: a call or a definition on the way to process-based work."""

    path: str
    line: int
    text: str = Field(description="the call or definition, as written (shortened)")


class UnguardedCall(StrictModel):
    """Module-level code outside ``if __name__ == "__main__":`` that reaches process work."""

    at: ScriptLocation = Field(description="the module-level statement")
    reaches: str = Field(
        description="the process-based API reached: lenskit.batch.recommend, "
        "multiprocessing.Pool, concurrent.futures.ProcessPoolExecutor, …"
    )
    chain: list[ScriptLocation] = Field(
        default_factory=list,
        description="the functions and classes of the same file it goes through, in order, "
        "ending at the call of the API",
    )
    n_jobs: str | None = Field(
        default=None, description="n_jobs= as written at the API's call (a literal), else null"
    )


class ScriptCheck(StrictModel):
    """The static check of one script (``--script``, or found in ``-- python PATH``)."""

    path: str
    found_by: Literal["--script", "command"] = Field(
        description="given with --script, or found in the command line"
    )
    status: Literal["protected", "unprotected", "no-process-work", "not-checked", "inline"] = Field(
        description="protected: process work only under the guard; inline: python -c, "
        "stdin or a notebook, which workers cannot re-run; not-checked: see detail"
    )
    detail: str = Field(default="", description="why it was not checked, or what was seen")
    unguarded: list[UnguardedCall] = Field(default_factory=list)
    lines: int | None = Field(default=None, description="lines of source parsed")


class WorkerProcess(StrictModel):
    """A process of an observed tree that a batch run started (``--pid``, ``-- COMMAND``)."""

    pid: int
    ppid: int
    kind: Literal["lenskit-worker", "spawn-worker", "forkserver", "fork-worker", "resource-tracker"]
    start_method: str
    command: str = Field(default="", description="the start of its command line")
    reruns_script: bool | None = Field(
        default=None, description="its __mp_main__ is the user's script (null: unknown)"
    )
    evidence: str = Field(default="", description="how it was recognised")


class WorkerDeath(StrictModel):
    """A worker, or the watched command, that a signal ended, and the signal's usual cause."""

    pid: int | None
    who: Literal["worker", "command"]
    signal: str = Field(description="SIGKILL, SIGBUS, SIGSEGV, …")
    cause: str = Field(description="out-of-memory, shared-memory-full, unknown, …")
    evidence: str


class ShmSegment(StrictModel):
    """A shared-memory segment in ``/dev/shm`` that no live process holds any more."""

    name: str
    size_bytes: int
    age_s: float = Field(description="seconds since it was last modified")
    owner_pid: int | None = Field(
        default=None, description="the creator's pid where the name carries it (torch_<pid>_…)"
    )
    kind: Literal["lenskit", "torch"] = Field(
        description="lenskit: psm_* (Python SharedMemory, LensKit 2025's model copies); "
        "torch: torch_* (torch's file_system sharing strategy)"
    )


class ShmMount(StrictModel):
    """``/dev/shm``: its mount, its size and what is free."""

    path: str
    mounted: bool = Field(description="a mount of its own (false: part of another file system)")
    fstype: str | None = None
    mount_source: str | None = None
    size_bytes: int | None = Field(default=None, description="total size (statvfs)")
    free_bytes: int | None = Field(default=None, description="free for an unprivileged user")
    used_bytes: int | None = None


class MemoryBudget(StrictModel):
    """The memory a batch run may use: the tightest cgroup limit, else the host's."""

    limit_bytes: int | None = Field(
        default=None,
        description="the tightest memory limit over the own cgroup and its ancestors (v1 "
        "memory.limit_in_bytes, v2 memory.max); null when none is set",
    )
    limit_path: str | None = Field(default=None, description="the file that sets it")
    usage_bytes: int | None = Field(
        default=None, description="what that cgroup uses now (memory.current / usage_in_bytes)"
    )
    host_total_bytes: int | None = None
    host_available_bytes: int | None = Field(
        default=None, description="MemAvailable of /proc/meminfo"
    )
    budget_bytes: int | None = Field(
        default=None,
        description="what a batch run may use: the limit less what the cgroup uses now, "
        "else the host's available memory",
    )
    budget_source: str = Field(default="", description="where budget_bytes comes from")
    shm: ShmMount | None = None
    leftovers: list[ShmSegment] = Field(
        default_factory=list, description="segments in /dev/shm whose owner is gone"
    )
    notes: list[str] = Field(default_factory=list)


class RayObjectStore(StrictModel):
    """Ray's object store on this machine, as the installed Ray's own code sizes and places
    it when LensKit starts Ray (``ray.init()`` without ``object_store_memory``).

    Ray takes 30% of the memory it sees as available (``resolve_object_store_memory``) and
    puts the store in ``/dev/shm`` when that much is free there; else in its temporary
    folder (``/tmp/ray``: slow, it warns), or refuses to start above 10 GB
    (``determine_plasma_store_config``).
    """

    status: Literal["predicted", "existing-cluster", "failed"]
    detail: str = Field(default="", description="how it was predicted, or why not")
    ray_version: str | None = None
    size_bytes: int | None = Field(
        default=None, description="the object store size Ray chooses (object_store_memory)"
    )
    directory: str | None = Field(
        default=None, description="where the store's memory lives: /dev/shm, or Ray's temp folder"
    )
    in_shm: bool | None = Field(default=None, description="whether that is /dev/shm")
    starts: bool | None = Field(
        default=None,
        description="false: ray.init() refuses this store (too large for /dev/shm or under "
        "Ray's 75 MiB minimum), the batch run fails at once",
    )
    shm_available_bytes: int | None = Field(
        default=None, description="/dev/shm free space as Ray measures it (statvfs f_bavail)"
    )
    available_memory_bytes: int | None = Field(
        default=None, description="the memory Ray sees as available (its cgroup-aware estimate)"
    )
    system_memory_bytes: int | None = Field(
        default=None, description="the memory Ray sees in all (its reading of the cgroup limit)"
    )
    ray_message: str | None = Field(
        default=None, description="Ray's own warning or error for this store, word for word"
    )


class ModelCost(StrictModel):
    """``--model PATH``: what the saved model costs a batch run, measured in a child process.

    Byte counts come from the installed LensKit's own serializer (2025.x
    ``lenskit.parallel.serialize.SHMPickler``, its out-of-band buffers counted instead of
    copied); the worker's cost from a real spawned child importing what LensKit's worker
    imports.
    """

    path: str
    status: Literal["measured", "failed", "timeout"]
    detail: str = Field(default="", description="why it failed, or how it was measured")
    object_type: str | None = Field(default=None, description="the loaded object's class")
    serializer: str | None = Field(default=None, description="the serializer measured with")
    shared_bytes: int | None = Field(
        default=None, description="copied once into shared memory (out-of-band buffers)"
    )
    shared_segments: int | None = Field(default=None, description="segments created for them")
    shm_need_bytes: int | None = Field(
        default=None, description="/dev/shm the segments take (rounded up to whole pages)"
    )
    in_band_bytes: int | None = Field(
        default=None, description="the pickle every worker receives and keeps"
    )
    worker_model_bytes: int | None = Field(
        default=None,
        description="private memory (USS) the model adds to one worker once unpickled, "
        "measured in a spawned worker",
    )
    worker_base_uss_bytes: int | None = Field(
        default=None, description="USS of a spawned worker after LensKit's worker imports"
    )
    worker_base_rss_bytes: int | None = None
    parent_rss_bytes: int | None = Field(
        default=None, description="RSS of a process that has imported LensKit and loaded the model"
    )
    cuda_tensors: int = Field(default=0, description="CUDA tensors in the model")
    object_store_bytes: int | None = Field(
        default=None,
        description="Ray: the serialized model ray.put() copies into Ray's object store once "
        "(in-band pickle + out-of-band buffers); null without Ray",
    )
    workers: int | None = Field(
        default=None,
        description="worker processes at plan level 0 (Ray: Ray workers running batch tasks at once)",
    )
    predicted_peak_bytes: int | None = Field(
        default=None,
        description="parent RSS + in-band + workers x (worker USS + model per worker) + "
        "shared bytes (Ray: parent RSS + object store bytes + Ray workers x (worker USS + "
        "model per worker)): the tree's peak as a sum of PSS (shared pages counted once)",
    )
    largest_fitting_workers: int | None = Field(
        default=None, description="the most worker processes whose peak fits the budget"
    )
    wall_s: float | None = None


class Workers(StrictModel):
    """Batch workers: how the installed LensKit runs batch work and the processes it starts.

    Grows by fields (memory, shared memory) without changing those already here.
    """

    lenskit_version: str | None = None
    dialect: str | None = Field(default=None, description="the LensKit line: 2025, 2026")
    mode: BatchMode = Field(description="how batch work runs at level 0")
    mode_source: str = Field(default="", description="the setting and code that decide the mode")
    levels: list[WorkerLevel] = Field(default_factory=list)
    start_methods: list[StartMethod] = Field(default_factory=list)
    python_default_start_method: str | None = Field(
        default=None, description="multiprocessing's default start method on this Python and OS"
    )
    gil_enabled: bool | None = Field(
        default=None, description="false on a free-threaded build that runs without the GIL"
    )
    notes: list[str] = Field(default_factory=list, description="what the facts mean, in words")
    scripts: list[ScriptCheck] = Field(default_factory=list)
    processes: list[WorkerProcess] = Field(
        default_factory=list, description="workers seen in the observed tree"
    )
    deaths: list[WorkerDeath] = Field(default_factory=list)
    memory: MemoryBudget | None = Field(
        default=None, description="the memory limit, /dev/shm and leftover segments"
    )
    model: ModelCost | None = Field(default=None, description="--model PATH, measured")
    ray_store: RayObjectStore | None = Field(
        default=None,
        description="batch work on Ray: the object store Ray would make here, by its own code",
    )


class Finding(StrictModel):
    id: str
    severity: Severity
    title: str
    evidence: str
    remediation: str = ""
    section: Section
    env: dict[str, str] = Field(
        default_factory=dict, description="settings that fix it, shown as export lines"
    )


def worst_severity(findings: Iterable[Finding]) -> Severity | None:
    """The most severe of ``findings``, None when there are none."""
    return max((f.severity for f in findings), key=SEVERITY_RANK.__getitem__, default=None)


class ErrorEntry(StrictModel):
    section: Section
    message: str


class ClusterSummary(StrictModel):
    nodes_alive: int
    nodes_reported: int
    ray_cpus: float = Field(description="CPUs advertised to Ray, over the alive nodes")
    effective_cpus: int = Field(description="effective CPU budgets, over the reported nodes")
    budgets: list[int] = Field(
        default_factory=list, description="the distinct effective budgets, ascending"
    )
    heterogeneous: bool = Field(
        default=False, description="the reported nodes differ in budget or thread plan"
    )
    timeout_seconds: float = Field(description="how long each node was given to answer")
