"""The pool kinds registry: each kind's variables, libraries, sizes, step and remediation are
what the plan, the maps reader, the checks and ``--apply`` really use."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from lkdoctor.checks.pools import apply_findings, check
from lkdoctor.host.proc import mapped_paths
from lkdoctor.model import (
    ApplyStep,
    CpuBudget,
    CpuLimit,
    PlanLevel,
    Pools,
    RayonPool,
    ToolInfo,
    TorchPool,
)
from lkdoctor.plan.lenskit2025.resolve import collect_plan
from lkdoctor.pools.kinds import (
    KINDS,
    THREADING_LIBRARIES,
    Blas,
    LensKitRayon,
    OpenMP,
    OtherThreadpoolctlLibrary,
    PoolKind,
    RayonDefault,
    ThreadpoolctlKind,
    TorchInterOp,
    TorchIntraOp,
    initialize_steps,
    pool_sizes,
    read_threading_libraries,
    threading_libraries,
)
from lkdoctor.report import Report

#: A file each library of the registry is loaded from somewhere; a new library needs one.
EXAMPLE_PATHS = {
    "libgomp": "/venv/torch/lib/libgomp-a34b3233.so.1",
    "libiomp5": "/opt/conda/lib/libiomp5.so",
    "libomp": "/usr/lib/llvm-17/lib/libomp.so.5",
    "libopenblas": "/usr/lib/x86_64-linux-gnu/libopenblas.so.0",
    "libscipy_openblas": "/venv/numpy.libs/libscipy_openblas64_-ff651d7f.so",
    "libmkl_rt": "/opt/conda/lib/libmkl_rt.so.2",
    "libblis": "/usr/lib/x86_64-linux-gnu/libblis.so.4",
    "libtorch_cpu": "/venv/torch/lib/libtorch_cpu.so",
    "lenskit._accel": "/venv/lib/python3.12/site-packages/lenskit/_accel.abi3.so",
}
#: Files that bring no pool of their own, though their names come close.
UNRELATED_PATHS = [
    "/usr/lib/x86_64-linux-gnu/libc.so.6",
    "/usr/lib/libgompx.so",
    "/venv/torch/lib/libtorch_python.so",
    "/venv/lenskit/_accel_notes.txt",
]


def kind_variables() -> list[tuple[type[PoolKind], str]]:
    return [(kind, variable.name) for kind in KINDS for variable in kind.variables]


def report_with(pools: Pools, effective: int = 2) -> Report:
    limit = CpuLimit(source="affinity", value=effective, detail="test", binding=True)
    cpu = CpuBudget(
        logical=effective,
        physical=None,
        effective=effective,
        lenskit_effective=effective,
        limits=[limit],
    )
    return Report(tool=ToolInfo(version="0", python="3", platform="linux"), cpu=cpu, pools=pools)


def blas_entry(internal_api: str, prefix: str, threads: int) -> dict[str, Any]:
    return {
        "user_api": "openmp" if internal_api == "openmp" else "blas",
        "internal_api": internal_api,
        "prefix": prefix,
        "filepath": f"/lib/{prefix}.so",
        "num_threads": threads,
        "version": None,
    }


# --- variables ------------------------------------------------------------------------------


def test_a_variable_belongs_to_one_kind() -> None:
    names = [name for _, name in kind_variables()]
    assert len(names) == len(set(names))
    assert {"OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"} <= set(names)


@pytest.mark.parametrize(("kind", "variable"), kind_variables())
def test_the_plan_reads_every_kinds_variables(kind: type[PoolKind], variable: str) -> None:
    plan = collect_plan(8, 8, {variable: "3"}, ask_lenskit=False)
    assert plan.inputs == {variable: "3"}
    (setting,) = [s for s in plan.backend_env if s.variable == variable]
    # at least the 3 asked for (MKL_NUM_THREADS alone leaves OpenBLAS at one per CPU)
    assert setting.value == "3" and setting.threads is not None and setting.threads >= 3
    assert not plan.env_problems
    # ... and a value the library cannot use is an invalid value, in the kind's own form
    bad = collect_plan(8, 8, {variable: "three"}, ask_lenskit=False)
    (problem,) = bad.env_problems
    expected = next(v.expected for v in kind.variables if v.name == variable)
    assert (problem.variable, problem.expected) == (variable, expected)


def test_a_kind_without_a_plan_note_of_its_own_is_named_by_the_registry() -> None:
    for variable in ("NUMEXPR_NUM_THREADS", "NUMBA_NUM_THREADS"):
        plan = collect_plan(8, 8, {variable: "2"}, ask_lenskit=False)
        kind = next(k for k, name in kind_variables() if name == variable)
        assert plan.backend_env[0].effect.startswith(f"{kind.name} uses 2 threads")


# --- libraries ------------------------------------------------------------------------------


def test_every_library_is_recognised_under_its_name_in_maps(tmp_path: Path) -> None:
    names = [library.name for library in THREADING_LIBRARIES]
    assert sorted(names) == sorted(EXAMPLE_PATHS)  # each once, each with an example
    paths = [*EXAMPLE_PATHS.values(), *UNRELATED_PATHS]
    maps = "".join(
        f"7f00000{i:02x}000-7f00000{i:02x}fff r-xp 00000000 08:01 {i} {path}\n"
        for i, path in enumerate(paths)
    )
    proc = tmp_path / "proc" / "50"
    proc.mkdir(parents=True)
    (proc / "maps").write_text(maps)
    found = read_threading_libraries(tmp_path, 50)
    assert found == {name: [path] for name, path in EXAMPLE_PATHS.items()}


def test_the_openmp_runtimes_are_the_openmp_kinds_libraries() -> None:
    sample_libraries = threading_libraries(list(EXAMPLE_PATHS.values()))
    openmp = {library.name for library in OpenMP.libraries}
    assert openmp == {"libgomp", "libiomp5", "libomp"}
    assert openmp <= set(sample_libraries)


@pytest.mark.torch
def test_what_threadpoolctl_finds_here_is_claimed_by_a_kind_whose_library_maps_show() -> None:
    import numpy  # noqa: F401  (numpy's OpenBLAS and torch's OpenMP load here)
    import torch  # noqa: F401
    from threadpoolctl import threadpool_info

    entries = threadpool_info()
    assert entries
    maps = mapped_paths(Path("/proc/self/maps").read_text())
    loaded = {
        name: {os.path.realpath(path) for path in paths}
        for name, paths in threading_libraries(maps).items()
    }
    for entry in entries:
        claiming = [k for k in KINDS if issubclass(k, ThreadpoolctlKind) and k.claims(entry)]
        assert len(claiming) == 1, entry
        (kind,) = claiming
        assert kind is not OtherThreadpoolctlLibrary, entry
        # the same file, recognised in /proc/self/maps by the same kind's library
        mine = {library.name for library in kind.libraries}
        path = os.path.realpath(entry["filepath"])
        assert any(path in loaded.get(name, set()) for name in mine), (entry, loaded)


# --- sizes, judged against the CPUs ---------------------------------------------------------


def test_pool_sizes_list_torch_then_threadpoolctls_order_then_rayon() -> None:
    pools = Pools(
        blas=[blas_entry("openblas", "libopenblas", 4), blas_entry("openmp", "libgomp", 3)],
        torch=TorchPool(version="2", intra_op=2, inter_op=5, backend="OpenMP"),
        rayon=RayonPool(default_threads=6, source="RAYON_NUM_THREADS", lenskit_accel=True),
    )
    rows = [(size.label, size.threads) for size in pool_sizes(pools)]
    assert rows == [
        ("torch intra-op (OpenMP)", 2),
        ("torch inter-op", 5),
        ("BLAS libopenblas", 4),
        ("OpenMP libgomp", 3),
        ("Rayon default", 6),
        ("LensKit Rayon", None),
    ]


def oversized_pools(kind: type[PoolKind]) -> Pools:
    """Pools in which only ``kind``'s pool is larger than 2 CPUs."""
    if issubclass(kind, ThreadpoolctlKind):
        api = kind.threadpoolctl_api or "flexiblas"
        return Pools(blas=[blas_entry(api, f"lib{api}", 64)])
    intra, inter = (64, 1) if kind is TorchIntraOp else (1, 64) if kind is TorchInterOp else (1, 1)
    torch = TorchPool(version="2", intra_op=intra, inter_op=inter)
    lenskit = 64 if kind is LensKitRayon else None
    default = 64 if kind is RayonDefault else 1
    rayon = RayonPool(default_threads=default, source="x", lenskit_threads=lenskit)
    return Pools(torch=torch, rayon=rayon)


#: The variable that sizes each pool the section shows (None: no variable does).
SIZED_BY = {
    "torch intra-op": "OMP_NUM_THREADS",  # torch reads it when it starts
    "torch inter-op": None,
    "OpenMP": "OMP_NUM_THREADS",
    "OpenBLAS": "OPENBLAS_NUM_THREADS",
    "MKL": "MKL_NUM_THREADS",
    "BLIS": "BLIS_NUM_THREADS",
    "other threadpoolctl library": "OMP_NUM_THREADS",
    "Rayon default": "RAYON_NUM_THREADS",
    "LensKit Rayon": "RAYON_NUM_THREADS",  # its size until LensKit initializes it
}


def test_a_kind_with_variables_of_its_own_is_sized_by_one_of_them() -> None:
    for kind in KINDS:
        if kind.variables:
            assert kind.sized_by in {v.name for v in kind.variables}, kind


@pytest.mark.parametrize("kind", [k for k in KINDS if k.source is not None])
def test_an_oversized_pool_is_remedied_with_its_kinds_variable(kind: type[PoolKind]) -> None:
    findings = [f for f in check(report_with(oversized_pools(kind))) if f.id == "pool-exceeds-cpus"]
    variable = SIZED_BY[kind.name]
    if variable is None:  # nothing to set before the process starts
        assert findings == []
        return
    (finding,) = findings
    assert finding.env == {variable: "2"}
    assert "64" in finding.evidence


def test_the_default_rayon_pool_is_not_judged_once_lenskits_own_is_read() -> None:
    rayon = RayonPool(default_threads=64, source="available_parallelism", lenskit_threads=2)
    assert [f.id for f in check(report_with(Pools(rayon=rayon)))] == ["torch-absent"]


# --- LensKit's initialize() -----------------------------------------------------------------


def test_the_kinds_steps_are_lenskits_initialize_in_order() -> None:
    steps = initialize_steps()
    assert [kind.init_step for kind in steps] == [1, 2, 3, 4]
    assert issubclass(steps[0], Blas)
    assert steps[1:] == [TorchInterOp, LensKitRayon, TorchIntraOp]


@pytest.mark.parametrize("kind", initialize_steps())
def test_a_failed_step_is_remedied_in_the_kinds_words(kind: type[PoolKind]) -> None:
    assert kind.init_step is not None
    failed = ApplyStep(step=kind.init_step, action="x", status="failed", detail="boom")
    (finding,) = apply_findings([failed])
    assert finding.remediation == kind.init_remediation
    # it names what to set, or (torch inter-op, which no variable sizes) what to call
    assert (kind.sized_by or "initialize()") in finding.remediation


@pytest.mark.parametrize("variable", Blas.LENSKIT_SKIPS_WHEN_SET)
def test_the_blas_step_leaves_blas_to_a_blas_variable(variable: str) -> None:
    level = PlanLevel(level=0, processes=1, threads=2, backend_threads=2, demand=4)
    step = initialize_steps()[0].initialize(level, {variable: ""}, None)
    assert (step.step, step.status) == (1, "skipped")
    assert f"{variable}= is set" in step.detail


def test_torch_steps_are_skipped_without_torch() -> None:
    level = PlanLevel(level=0, processes=1, threads=3, backend_threads=2, demand=6)
    intra = TorchIntraOp.initialize(level, {}, None)
    inter = TorchInterOp.initialize(level, {}, None)
    assert (intra.step, intra.status, intra.action) == (4, "skipped", "torch.set_num_threads(2)")
    assert (inter.step, inter.status) == (2, "skipped")
    assert inter.action == "torch.set_num_interop_threads(3)"
