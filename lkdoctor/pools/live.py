"""Live pools collector: BLAS/OpenMP, torch, Rayon and this process's threads, as they are.

Nothing here changes a pool. Torch and threadpoolctl are imported lazily, only
when pools are collected, and LensKit's Rayon pool size is read only when that pool
exists already (LensKit set up its pools in this process, or ``--apply`` did), because
reading it creates that pool.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from lkdoctor._native import load_probe
from lkdoctor.collected import Collected, guard
from lkdoctor.host.lenskit import lenskit_accel_origin
from lkdoctor.host.modules import NUMERIC_MODULES, import_if_installed
from lkdoctor.host.proc import LIVE_ROOT, STATE_NAMES, TaskStat, clock_ticks, read_task_stats
from lkdoctor.model import (
    ErrorEntry,
    LensKitSetup,
    PlanLevel,
    Pools,
    RayonPool,
    Section,
    ThreadInfo,
    ThreadsSnapshot,
    TorchPool,
)
from lkdoctor.plan.line import AppliedSetup, LensKitLine
from lkdoctor.plan.lines import applied_setup
from lkdoctor.pools.apply import apply_level_zero

T = TypeVar("T")

LENSKIT_POOL_NOT_READ = (
    "LensKit's own pool size is not read without --apply: lenskit._accel.thread_count() "
    "would create that pool; until LensKit initializes it, it gets the default above"
)


# --- BLAS / OpenMP -----------------------------------------------------------


def collect_blas() -> list[dict[str, Any]]:
    """threadpoolctl's entry for every BLAS and OpenMP library loaded in this process."""
    from threadpoolctl import threadpool_info

    return [dict(entry) for entry in threadpool_info()]


# --- torch -------------------------------------------------------------------


def _version_line(line: str) -> tuple[str, str] | None:
    """Classify an unindented version line of parallel_info()."""
    if "not found" in line:
        return None
    if "MKL-DNN" in line or "oneDNN" in line or "DNNL" in line:
        return "mkldnn_version", line
    if "Math Kernel Library" in line or line.startswith("MKL"):
        return "mkl_version", line
    if line.startswith("OpenMP"):
        return "openmp_version", line
    return None


def parse_parallel_info(text: str) -> tuple[dict[str, str], dict[str, str]]:
    """Split ``torch.__config__.parallel_info()`` into ``key : value`` pairs and version lines."""
    values: dict[str, str] = {}
    versions: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.endswith(":"):
            continue
        for separator in (" : ", ": "):
            key, sep, value = line.partition(separator)
            if sep:
                values[key.strip()] = value.strip()
                break
        else:
            classified = _version_line(line)
            if classified:
                versions[classified[0]] = classified[1]
    return values, versions


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def torch_pool_from(torch: Any) -> TorchPool:
    """Read torch's pools through its own functions; starts no pool and changes no count."""
    try:
        info_text = str(torch.__config__.parallel_info())
    except UnicodeDecodeError:  # it quotes OMP_NUM_THREADS etc., which may not be UTF-8
        info_text = ""  # the counts below are still read
    values, versions = parse_parallel_info(info_text)
    get_capability = getattr(getattr(torch.backends, "cpu", None), "get_cpu_capability", None)
    env_seen: dict[str, str] = {
        name: values[name]
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
        if name in values and values[name] != "[not set]"
    }
    return TorchPool(
        version=str(torch.__version__),
        intra_op=int(torch.get_num_threads()),
        inter_op=int(torch.get_num_interop_threads()),
        backend=values.get("ATen parallel backend"),
        openmp_max_threads=_int_or_none(values.get("omp_get_max_threads()")),
        openmp_version=versions.get("openmp_version"),
        mkl_max_threads=_int_or_none(values.get("mkl_get_max_threads()")),
        mkl_version=versions.get("mkl_version"),
        mkldnn_version=versions.get("mkldnn_version"),
        hardware_concurrency=_int_or_none(values.get("std::thread::hardware_concurrency()")),
        cpu_capability=str(get_capability()) if get_capability else None,
        env_seen=env_seen,
        parallel_info=values,
    )


# --- Rayon -------------------------------------------------------------------


def lenskit_thread_count() -> int:
    """LensKit's Rayon pool size. Creates that pool if it does not exist yet."""
    from lenskit._accel import thread_count

    return int(thread_count())


def collect_rayon(
    *, read_lenskit_pool: bool, lenskit_state: AppliedSetup | None = None
) -> RayonPool | None:
    """Rayon's default pool size from the probe (no pool is created); None without the probe.

    LensKit's own pool size is read when ``lenskit_state`` says LensKit built that pool, or
    with ``read_lenskit_pool`` (after ``--apply``); otherwise reading it would create it.
    """
    probe, _ = load_probe()
    if probe is None:
        return None
    default_threads, source = probe.rayon_default_threads()
    origin = lenskit_accel_origin()
    pool = RayonPool(
        default_threads=int(default_threads),
        source=str(source),
        lenskit_accel=origin is not None,
        lenskit_accel_loaded="lenskit._accel" in sys.modules,
    )
    if origin is None:
        pool.note = "lenskit._accel is not installed, so LensKit has no Rayon pool here"
    elif lenskit_state is not None:
        pool.lenskit_threads = lenskit_thread_count()
        who = "LensKit's `lenskit` command" if lenskit_state.by_cli else "this program"
        pool.note = f"LensKit's pool, set up by {who} before the doctor looked"
    elif read_lenskit_pool:
        pool.lenskit_threads = lenskit_thread_count()
        pool.note = "LensKit's pool size read with lenskit._accel.thread_count() after --apply"
    else:
        pool.note = LENSKIT_POOL_NOT_READ
    return pool


# --- the process's threads ---------------------------------------------------


def threads_snapshot(stats: list[TaskStat], ticks_per_second: int) -> ThreadsSnapshot:
    """Count threads by state and name, with CPU time per thread."""
    threads = [
        ThreadInfo(
            tid=stat.tid,
            name=stat.name,
            state=stat.state,
            cpu_seconds=round((stat.utime_ticks + stat.stime_ticks) / ticks_per_second, 3),
            processor=stat.processor,
        )
        for stat in stats
    ]
    states = Counter(STATE_NAMES.get(stat.state, stat.state) for stat in stats)
    names = Counter(stat.name for stat in stats)
    return ThreadsSnapshot(
        count=len(threads),
        states=dict(states.most_common()),
        names=dict(names.most_common()),
        cpu_seconds=round(sum(t.cpu_seconds for t in threads), 3),
        threads=threads,
    )


def collect_threads(root: Path = LIVE_ROOT, pid: int | None = None) -> ThreadsSnapshot:
    """The real threads of the process (``/proc/PID/task``)."""
    return threads_snapshot(read_task_stats(root, pid), clock_ticks())


# --- all together ------------------------------------------------------------


def lenskit_setup_of(state: AppliedSetup) -> LensKitSetup:
    return LensKitSetup(
        by="lenskit-cli" if state.by_cli else "program",
        threads=state.threads,
        backend_threads=state.backend_threads,
        settings=state.settings,
    )


def collect_pools(root: Path = LIVE_ROOT, *, read_lenskit_pool: bool = False) -> Collected[Pools]:
    """Every live pool of this process; a part that fails becomes an error entry."""
    return pools_with(root, read_lenskit_pool, applied_setup())


def pools_with(
    root: Path, read_lenskit_pool: bool, lenskit_state: AppliedSetup | None
) -> Collected[Pools]:
    """:func:`collect_pools`, given LensKit's own setup as found before any ``--apply``."""
    pools = Pools()
    if lenskit_state is not None:
        pools.lenskit_setup = lenskit_setup_of(lenskit_state)
    errors: list[ErrorEntry] = []
    modules: dict[str, Any] = {}
    for name in NUMERIC_MODULES:
        module, problem = import_if_installed(name)
        modules[name] = module
        if problem:
            errors.append(ErrorEntry(section=Section.POOLS, message=problem))

    def part(name: str, reader: Callable[[], T]) -> T | None:
        # one pool failing must leave the others in the report
        read = guard(Section.POOLS, reader, part=name)
        errors.extend(read.errors)
        return read.value

    pools.blas = part("blas", collect_blas) or []
    if modules["torch"] is not None:
        pools.torch = part("torch", lambda: torch_pool_from(modules["torch"]))
    pools.rayon = part(
        "rayon",
        lambda: collect_rayon(read_lenskit_pool=read_lenskit_pool, lenskit_state=lenskit_state),
    )
    pools.threads = part("threads", lambda: collect_threads(root, None))
    return Collected(pools, errors)


def collect_live(
    level_zero: PlanLevel | None,
    root: Path,
    environ: Mapping[str, str],
    *,
    apply: bool,
    dialect: LensKitLine | None = None,
) -> Collected[Pools]:
    """This process's pools, after applying ``level_zero`` of the plan first if asked, as
    the plan's ``dialect`` of LensKit sets its pools up."""
    steps = []
    errors = []
    found = applied_setup()  # before --apply, which may set LensKit up itself
    if apply:
        if level_zero is None or dialect is None:
            errors.append(
                ErrorEntry(
                    section=Section.POOLS,
                    message="--apply: no thread plan was resolved, so none was applied",
                )
            )
        else:
            steps = apply_level_zero(level_zero, environ, dialect)
    collected = pools_with(root, apply, found)
    collected.value.applied = bool(steps)
    collected.value.apply_steps = steps
    return Collected(collected.value, [*errors, *collected.errors])
