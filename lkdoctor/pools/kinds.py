"""The kinds of thread pool a LensKit process runs, one class each, as threadpoolctl's controllers.

Each kind owns what lkdoctor knows about it: the environment variables it reads (the
plan parses them), the shared libraries that bring it (``/proc/PID/maps`` is searched
for them), where its size stands in the collected pools section, the step of LensKit's
``initialize()`` that sizes it (``--apply`` performs it) and what to do when that fails
or the pool is too large. A new kind is one class here, listed in :data:`KINDS`.

The kinds are classes with class-level data, never instantiated: the registry lists
facts about libraries, not objects in this process.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from lkdoctor.host.lenskit import lenskit_accel_origin
from lkdoctor.host.proc import Library, libraries_among, mapped_paths, proc_dir
from lkdoctor.model import ApplyStep, PlanLevel, Pools

LIST_FORM = (
    "a positive integer, or a comma-separated list of positive integers "
    "with one per nesting level (e.g. 4 or 4,2)"
)
ONE_FORM = "a single positive integer (e.g. 2)"


@dataclass(frozen=True)
class BackendVariable:
    """A backend library's own thread-count variable."""

    name: str
    allows_list: bool = False
    allows_zero: bool = False

    @property
    def expected(self) -> str:
        if self.allows_list:
            return LIST_FORM
        if self.allows_zero:
            return "a non-negative integer (0 means one thread per CPU)"
        return ONE_FORM


@dataclass(frozen=True)
class PoolSize:
    """One pool as the collected pools section shows it."""

    kind: type[PoolKind]
    label: str  # as the pools table names it
    name: str  # as findings name it
    threads: int | None
    note: str = ""
    position: int = 0  # where its source lists it
    judged: bool = True  # compared with the CPUs (False: another pool stands in for it)

    @property
    def variable(self) -> str | None:
        """The variable that sizes this pool before the process starts."""
        return self.kind.sized_by


# --- running one step of LensKit's initialize() ---------------------------------------


def attempt_step(step: int, action: str, operation: Callable[[], str]) -> ApplyStep:
    """Run one ``--apply`` step; a failure is recorded in the step, as LensKit's own fail alone."""
    try:
        detail = operation()
    except Exception as exc:  # each step fails on its own, as LensKit's does
        return ApplyStep(
            step=step, action=action, status="failed", detail=f"{type(exc).__name__}: {exc}"
        )
    return ApplyStep(step=step, action=action, status="applied", detail=detail)


def skipped_step(step: int, action: str, why: str) -> ApplyStep:
    return ApplyStep(step=step, action=action, status="skipped", detail=why)


TORCH_MISSING = "torch is not installed (LensKit needs it)"


@dataclass(frozen=True)
class PlanContext:
    """What a kind's variable does to LensKit's plan depends on."""

    environ: Mapping[str, str]
    cpus: int  # the CPU count LensKit resolves with
    blas_skipped: bool  # OPENBLAS_ or MKL_NUM_THREADS is set: LensKit leaves BLAS alone
    blas_fallback: tuple[int, str]  # threads OpenBLAS starts without its own variable, and why


@dataclass(frozen=True)
class PlanEffect:
    """A kind's variable set to a usable count, as LensKit's process pool meets it."""

    threads: int  # threads per process it starts
    counted: bool  # counted in the plan's demand (a pool of this size runs)
    effect: str


# --- the kinds ---------------------------------------------------------------------------


class PoolKind:
    """A kind of thread pool (cf. threadpoolctl's ``LibController``)."""

    #: How people call it: the pools table, findings and the plan's notes.
    name: ClassVar[str]
    #: The part of the pools section its size is read into (``Pools.torch``, ``.blas``,
    #: ``.rayon``), by the reader of that part in :mod:`lkdoctor.pools.live`.
    source: ClassVar[str | None] = None
    #: The variables it reads and the plan parses; a variable belongs to one kind.
    variables: ClassVar[tuple[BackendVariable, ...]] = ()
    #: The variable that sizes it before the process starts (remediations set it); by
    #: default the first of its own variables.
    sized_by: ClassVar[str | None] = None
    #: The shared libraries that bring it into a process.
    libraries: ClassVar[tuple[Library, ...]] = ()
    #: threadpoolctl's ``internal_api`` for it, when threadpoolctl controls it.
    threadpoolctl_api: ClassVar[str | None] = None
    #: Its step of LensKit's ``initialize()`` (kinds that share a step share its code).
    init_step: ClassVar[int | None] = None
    #: What to do when that step fails.
    init_remediation: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "sized_by" not in vars(cls) and "variables" in vars(cls) and cls.variables:
            cls.sized_by = cls.variables[0].name

    @classmethod
    def sizes(cls, pools: Pools) -> list[PoolSize]:
        """Its pools as the collected section shows them."""
        return []

    @classmethod
    def plan_effect(cls, variable: str, number: int, context: PlanContext) -> PlanEffect:
        """What ``variable`` = ``number`` does to LensKit's plan (the plan's backend notes)."""
        return PlanEffect(
            number,
            True,
            f"{cls.name} uses {number} threads per process; LensKit does not set it, "
            "and worker processes inherit it",
        )

    @classmethod
    def initialize(
        cls, level: PlanLevel, environ: Mapping[str, str], torch: Any | None
    ) -> ApplyStep:
        """Size it for ``level`` as LensKit's ``initialize()`` does (``--apply``)."""
        raise NotImplementedError(f"{cls.name} does not perform step {cls._step()}")

    @classmethod
    def _attempt(cls, action: str, operation: Callable[[], str]) -> ApplyStep:
        return attempt_step(cls._step(), action, operation)

    @classmethod
    def _skipped(cls, action: str, why: str) -> ApplyStep:
        return skipped_step(cls._step(), action, why)

    @classmethod
    def _step(cls) -> int:
        if cls.init_step is None:
            raise NotImplementedError(f"{cls.name} has no step in LensKit's initialize()")
        return cls.init_step


class ThreadpoolctlKind(PoolKind):
    """A library threadpoolctl finds and sizes; its entries stand in ``Pools.blas``."""

    source = "blas"

    @classmethod
    def claims(cls, entry: Mapping[str, Any]) -> bool:
        return entry.get("internal_api") == cls.threadpoolctl_api

    @classmethod
    def sizes(cls, pools: Pools) -> list[PoolSize]:
        found = []
        for position, entry in enumerate(pools.blas):
            if not cls.claims(entry):
                continue
            prefix = entry.get("prefix")
            family = "OpenMP" if entry.get("user_api") == "openmp" else "BLAS"
            threads = entry.get("num_threads")
            found.append(
                PoolSize(
                    kind=cls,
                    label=f"{family} {prefix}",
                    name=f"{prefix}",
                    threads=int(threads) if threads is not None else None,
                    note=str(entry.get("filepath", "")).rsplit("/", 1)[-1],
                    position=position,
                )
            )
        return found


class OpenMP(ThreadpoolctlKind):
    name = "OpenMP"
    variables = (BackendVariable("OMP_NUM_THREADS", allows_list=True),)
    libraries = (
        Library("libgomp", r"libgomp[.-]"),
        Library("libiomp5", r"libiomp5[.-]"),
        Library("libomp", r"libomp[.-]"),
    )
    threadpoolctl_api = "openmp"
    #: The runtime behind each of threadpoolctl's OpenMP prefixes; two different ones in
    #: one process can crash or deadlock.
    runtimes: ClassVar[dict[str, str]] = {"libgomp": "GNU", "libiomp": "Intel", "libomp": "LLVM"}

    @classmethod
    def plan_effect(cls, variable: str, number: int, context: PlanContext) -> PlanEffect:
        return PlanEffect(
            number,
            True,
            f"OpenMP code that LensKit does not size (anything beyond torch and BLAS) "
            f"starts {number} threads per process; worker processes inherit it",
        )

    @classmethod
    def runtime(cls, prefix: str) -> str:
        """The OpenMP runtime of a threadpoolctl prefix (the prefix itself when unknown)."""
        return next((name for p, name in cls.runtimes.items() if prefix.startswith(p)), prefix)


class Blas(ThreadpoolctlKind):
    """A BLAS: LensKit limits them all at once with threadpoolctl, unless told not to."""

    #: LensKit leaves BLAS threads to these variables when any is set (even empty).
    LENSKIT_SKIPS_WHEN_SET: ClassVar[tuple[str, ...]] = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

    init_step = 1
    init_remediation = (
        "no action needed unless BLAS threads are wrong; then set OPENBLAS_NUM_THREADS / "
        "MKL_NUM_THREADS"
    )

    @classmethod
    def plan_effect(cls, variable: str, number: int, context: PlanContext) -> PlanEffect:
        return PlanEffect(
            number,
            True,
            f"LensKit skips its BLAS limit (threadpoolctl) because {variable} is set, so BLAS "
            f"runs {number} threads per process at every level",
        )

    @classmethod
    def initialize(
        cls, level: PlanLevel, environ: Mapping[str, str], torch: Any | None
    ) -> ApplyStep:
        """``threadpool_limits(B0, "blas")`` unless a BLAS variable decides."""
        backend_threads = level.backend_threads
        action = f'threadpoolctl.threadpool_limits({backend_threads}, "blas")'
        deciding = [name for name in cls.LENSKIT_SKIPS_WHEN_SET if name in environ]
        if deciding:
            setting = ", ".join(f"{name}={environ[name]}" for name in deciding)
            why = f"{setting} is set, so LensKit leaves BLAS threads to it"
            return cls._skipped(action, why)

        def limit() -> str:
            from threadpoolctl import threadpool_info, threadpool_limits

            before = {
                e["filepath"]: e["num_threads"]
                for e in threadpool_info()
                if e["user_api"] == "blas"
            }
            # Not a context manager: LensKit keeps the limit for the life of the process.
            threadpool_limits(backend_threads, "blas")
            changes = [
                f"{entry['prefix']} {before.get(entry['filepath'])} → {entry['num_threads']}"
                for entry in threadpool_info()
                if entry["user_api"] == "blas"
            ]
            return ", ".join(changes) if changes else "no BLAS library is loaded"

        return cls._attempt(action, limit)


class OpenBLAS(Blas):
    name = "OpenBLAS"
    variables = (BackendVariable("OPENBLAS_NUM_THREADS"),)
    libraries = (
        Library("libopenblas", r"libopenblas"),
        Library("libscipy_openblas", r"libscipy_openblas"),
    )
    threadpoolctl_api = "openblas"


class MKL(Blas):
    name = "MKL"
    variables = (BackendVariable("MKL_NUM_THREADS"),)
    libraries = (Library("libmkl_rt", r"libmkl_rt[.-]"),)
    threadpoolctl_api = "mkl"

    @classmethod
    def plan_effect(cls, variable: str, number: int, context: PlanContext) -> PlanEffect:
        found = super().plan_effect(variable, number, context)
        if OpenBLAS.variables[0].name in context.environ:
            return found
        fallback, source = context.blas_fallback
        return PlanEffect(
            max(number, fallback),
            True,
            f"{found.effect}; OpenBLAS (numpy's BLAS) ignores {variable} and starts "
            f"{fallback} ({source})",
        )


class BLIS(Blas):
    name = "BLIS"
    variables = (BackendVariable("BLIS_NUM_THREADS"),)
    libraries = (Library("libblis", r"libblis[.-]"),)
    threadpoolctl_api = "blis"

    @classmethod
    def plan_effect(cls, variable: str, number: int, context: PlanContext) -> PlanEffect:
        if context.blas_skipped:
            effect = f"LensKit skips its BLAS limit, so BLIS runs {number} threads per process"
        else:
            effect = "overridden: LensKit limits every BLAS, BLIS included, to the backend count"
        return PlanEffect(number, context.blas_skipped, effect)


class OtherThreadpoolctlLibrary(ThreadpoolctlKind):
    """Any library threadpoolctl reports that no kind here claims (FlexiBLAS, a plugin)."""

    name = "other threadpoolctl library"
    sized_by = "OMP_NUM_THREADS"

    @classmethod
    def claims(cls, entry: Mapping[str, Any]) -> bool:
        claimed = {kind.threadpoolctl_api for kind in KINDS if kind.threadpoolctl_api}
        return entry.get("internal_api") not in claimed


class TorchKind(PoolKind):
    """One of torch's two pools: LensKit sizes each with its setter (``--apply`` too)."""

    source = "torch"
    libraries = (Library("libtorch_cpu", r"libtorch_cpu[.-]"),)
    #: torch's function that sets it and the one that reads it back.
    setter: ClassVar[str]
    getter: ClassVar[str]
    #: The plan level's count LensKit sets it to.
    planned: ClassVar[str]

    @classmethod
    def initialize(
        cls, level: PlanLevel, environ: Mapping[str, str], torch: Any | None
    ) -> ApplyStep:
        """``torch.<setter>(count)`` with the level's count."""
        threads = int(getattr(level, cls.planned))
        action = f"torch.{cls.setter}({threads})"
        if torch is None:
            return cls._skipped(action, TORCH_MISSING)

        def set_threads() -> str:
            getattr(torch, cls.setter)(threads)
            return f"{cls.name.removeprefix('torch ')} threads now {getattr(torch, cls.getter)()}"

        return cls._attempt(action, set_threads)


class TorchIntraOp(TorchKind):
    name = "torch intra-op"
    sized_by = "OMP_NUM_THREADS"  # torch reads it when it starts
    setter, getter, planned = "set_num_threads", "get_num_threads", "backend_threads"
    init_step = 4
    init_remediation = "set torch's intra-op threads with OMP_NUM_THREADS before the process starts"

    @classmethod
    def sizes(cls, pools: Pools) -> list[PoolSize]:
        torch = pools.torch
        if torch is None:
            return []
        label = f"{cls.name} ({torch.backend or '?'})"
        note = f"torch {torch.version}"
        return [PoolSize(cls, label, cls.name, torch.intra_op, note, position=0)]


class TorchInterOp(TorchKind):
    """No variable sizes it: only ``torch.set_num_interop_threads``, once, before use."""

    name = "torch inter-op"
    setter, getter, planned = "set_num_interop_threads", "get_num_interop_threads", "threads"
    init_step = 2
    init_remediation = (
        "call lenskit.parallel.initialize() before any torch inter-op work (torch.jit.fork, "
        "DataLoader threads); inter-op threads can be set only once"
    )

    @classmethod
    def sizes(cls, pools: Pools) -> list[PoolSize]:
        torch = pools.torch
        return [] if torch is None else [PoolSize(cls, cls.name, cls.name, torch.inter_op, "", 1)]


class RayonDefault(PoolKind):
    """The global pool a Rust extension gets without sizing it; rayon is linked statically
    into each extension, so no shared library shows it."""

    name = "Rayon default"
    source = "rayon"
    variables = (BackendVariable("RAYON_NUM_THREADS", allows_zero=True),)

    @classmethod
    def plan_effect(cls, variable: str, number: int, context: PlanContext) -> PlanEffect:
        threads = number or context.cpus
        return PlanEffect(
            threads,
            False,
            f"LensKit builds its Rayon pool with LK_NUM_THREADS explicitly, so this only "
            f"sizes other Rust extensions' pools ({threads} threads)",
        )

    @classmethod
    def sizes(cls, pools: Pools) -> list[PoolSize]:
        rayon = pools.rayon
        if rayon is None:
            return []
        # It stands in for LensKit's pool until that pool's own size is read.
        judged = rayon.lenskit_threads is None
        note = f"from {rayon.source}"
        return [PoolSize(cls, cls.name, cls.name, rayon.default_threads, note, 0, judged)]


class LensKitRayon(PoolKind):
    """lenskit._accel's global Rayon pool, which LensKit builds with LK_NUM_THREADS."""

    name = "LensKit Rayon"
    source = "rayon"
    sized_by = "RAYON_NUM_THREADS"  # its size until LensKit initializes it
    libraries = (Library("lenskit._accel", r"/lenskit/_accel[^/]*\.so$", in_path=True),)
    init_step = 3
    init_remediation = (
        "LensKit's Rayon pool was created before initialize(); set RAYON_NUM_THREADS so its "
        "default size fits, or initialize LensKit before using it"
    )

    @classmethod
    def sizes(cls, pools: Pools) -> list[PoolSize]:
        rayon = pools.rayon
        if rayon is None:
            return []
        if rayon.lenskit_threads is not None:
            note = "lenskit._accel.thread_count()"
            setup = pools.lenskit_setup
            if setup is not None:
                by = "LensKit's `lenskit` command" if setup.by == "lenskit-cli" else "this program"
                note += f"; set up by {by} before the doctor ran"
            return [PoolSize(cls, cls.name, cls.name, rayon.lenskit_threads, note, 1)]
        if rayon.lenskit_accel:
            return [PoolSize(cls, cls.name, cls.name, None, "not read (--apply reads it)", 1)]
        return []

    @classmethod
    def initialize(
        cls, level: PlanLevel, environ: Mapping[str, str], torch: Any | None
    ) -> ApplyStep:
        """Build lenskit._accel's global Rayon pool; fails if it already exists."""
        threads = level.threads
        action = f"lenskit._accel.init_accel_pool({threads})"
        if lenskit_accel_origin() is None:
            return cls._skipped(action, "lenskit._accel is not installed")

        def build_pool() -> str:
            from lenskit._accel import init_accel_pool, thread_count

            try:
                init_accel_pool(threads)
            except RuntimeError as exc:
                # The pool exists already, so reading its size creates nothing new.
                raise RuntimeError(
                    f"{exc}: LensKit's Rayon pool already exists with {thread_count()} threads"
                ) from exc
            return f"LensKit's Rayon pool built with {thread_count()} threads"

        return cls._attempt(action, build_pool)


class NumExpr(PoolKind):
    """Not inspected live; its variable still counts in the plan."""

    name = "numexpr (pandas.eval)"
    variables = (BackendVariable("NUMEXPR_NUM_THREADS"),)


class Numba(PoolKind):
    """Not inspected live; its variable still counts in the plan."""

    name = "numba's parallel code"
    variables = (BackendVariable("NUMBA_NUM_THREADS"),)


#: Every kind; the plan parses their variables in this order.
KINDS: tuple[type[PoolKind], ...] = (
    TorchIntraOp,
    TorchInterOp,
    OpenMP,
    OpenBLAS,
    MKL,
    BLIS,
    OtherThreadpoolctlLibrary,
    RayonDefault,
    LensKitRayon,
    NumExpr,
    Numba,
)

#: Every library that brings a pool, each once (the torch kinds share theirs).
THREADING_LIBRARIES: tuple[Library, ...] = tuple(
    dict.fromkeys(library for kind in KINDS for library in kind.libraries)
)

#: The prefixes of the kinds' own variables (``OMP_``, ``OPENBLAS_``, ...): a variable with
#: one of them belongs to a pool's library, whatever its name says beyond.
VARIABLE_PREFIXES: tuple[str, ...] = tuple(
    dict.fromkeys(
        variable.name.split("_", 1)[0] + "_" for kind in KINDS for variable in kind.variables
    )
)

#: The variables that steer thread pools: LensKit's and every kind's. Only these are
#: copied from another process's environment (its other variables may be secret).
THREADING_ENV_PREFIXES = ("LK_", *VARIABLE_PREFIXES)


def threading_env(environ: Mapping[str, str]) -> dict[str, str]:
    """Only the variables of ``environ`` that steer thread pools, sorted by name."""
    return {
        name: value
        for name, value in sorted(environ.items())
        if name.startswith(THREADING_ENV_PREFIXES)
    }


#: The BLAS kinds' variables.
BLAS_VARIABLES = tuple(
    variable.name for kind in KINDS if issubclass(kind, Blas) for variable in kind.variables
)


def owner_of(variable: str) -> type[PoolKind]:
    """The kind that reads ``variable``; KeyError for a variable no kind reads."""
    for kind in KINDS:
        if any(v.name == variable for v in kind.variables):
            return kind
    raise KeyError(variable)


def pool_sizes(pools: Pools) -> list[PoolSize]:
    """Every pool the section shows: by source in the order the kinds name them, each
    source's pools in the order it found them (threadpoolctl's order for libraries)."""
    sources = list(dict.fromkeys(kind.source for kind in KINDS))
    sizes = [size for kind in KINDS for size in kind.sizes(pools)]
    return sorted(sizes, key=lambda size: (sources.index(size.kind.source), size.position))


def initialize_steps() -> list[type[PoolKind]]:
    """One kind per pool-sizing step of LensKit's ``initialize()``, in its order (the BLAS
    kinds share one step: LensKit limits every BLAS at once)."""
    by_step: dict[int, type[PoolKind]] = {}
    for kind in KINDS:
        if kind.init_step is not None:
            by_step.setdefault(kind.init_step, kind)
    return [by_step[step] for step in sorted(by_step)]


def init_remediation(step: int) -> str:
    """What to do when ``step`` of ``--apply`` failed ("" for a step no kind owns)."""
    return next((kind.init_remediation for kind in KINDS if kind.init_step == step), "")


def threading_libraries(paths: list[str]) -> dict[str, list[str]]:
    """The threading libraries among ``paths`` (the pool kinds' own): ``{name: [path, ...]}``."""
    return libraries_among(paths, THREADING_LIBRARIES)


def read_threading_libraries(root: Path, pid: int | None) -> dict[str, list[str]]:
    """The threading libraries loaded in the process, from ``/proc/PID/maps``."""
    return threading_libraries(mapped_paths((proc_dir(root, pid) / "maps").read_text()))
