"""Live pools with the real threadpoolctl, torch, Rayon probe and lenskit._accel."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from helpers import run_python

from lkdoctor._native import load_probe
from lkdoctor.checks.pools import check, duplicate_blas_findings, openmp_findings
from lkdoctor.cli import doctor
from lkdoctor.model import Pools, ToolInfo, TorchPool
from lkdoctor.pools.live import collect_pools, parse_parallel_info
from lkdoctor.report import Report

pytestmark = pytest.mark.torch


def test_blas_entries_are_threadpoolctls_own_after_importing_numpy_and_torch() -> None:
    data = run_python(
        """
        import json, threadpoolctl, lkdoctor
        before = threadpoolctl.threadpool_info()
        report = lkdoctor.collect()
        after = threadpoolctl.threadpool_info()
        print(json.dumps({"before": before, "after": after, "blas": report.pools.blas}))
        """
    )
    # Nothing was loaded before: the collector imported numpy and torch so threadpoolctl sees them.
    assert data["before"] == []
    assert data["blas"] == data["after"]
    prefixes = {entry["prefix"] for entry in data["blas"]}
    assert "libgomp" in prefixes  # torch's OpenMP runtime
    assert any(entry["user_api"] == "blas" for entry in data["blas"])  # numpy's OpenBLAS


def test_torch_pool_shows_the_counts_the_program_set() -> None:
    """Counts this test sets itself in a fresh process, not the calls the collector makes."""
    data = run_python(
        """
        import json, torch
        torch.set_num_threads(3)
        torch.set_num_interop_threads(5)  # before any inter-op work: it takes
        import lkdoctor
        pool = lkdoctor.collect().pools.torch
        print(json.dumps({"pool": pool.model_dump(), "info": torch.__config__.parallel_info()}))
        """
    )
    pool, info = data["pool"], data["info"]
    assert (pool["intra_op"], pool["inter_op"]) == (3, 5)
    if pool["backend"] == "OpenMP":  # at::set_num_threads sizes OpenMP's pool too
        assert pool["openmp_max_threads"] == 3
    # what torch printed, split into its parts
    assert f"ATen parallel backend: {pool['backend']}" in info
    for key, value in pool["parallel_info"].items():
        assert f"{key} : {value}" in info or f"{key}: {value}" in info


def test_torch_reports_the_environment_it_saw() -> None:
    data = run_python(
        """
        import lkdoctor
        print(lkdoctor.collect().pools.torch.model_dump_json())
        """,
        env={"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"},
    )
    assert data["intra_op"] == 1
    assert data["env_seen"] == {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    if data["mkl_max_threads"] is not None:
        assert data["mkl_max_threads"] == 1


def test_parallel_info_without_openmp_or_mkl() -> None:
    text = (
        "ATen/Parallel:\n\tat::get_num_threads() : 3\n\tat::get_num_interop_threads() : 5\n"
        "OpenMP not found\nMKL not found\nMKLDNN not found\n"
        "std::thread::hardware_concurrency() : 16\nEnvironment variables:\n"
        "\tOMP_NUM_THREADS : 3\n\tMKL_NUM_THREADS : [not set]\n"
        "ATen parallel backend: native thread pool\n"
    )
    values, versions = parse_parallel_info(text)
    assert versions == {}
    assert values["ATen parallel backend"] == "native thread pool"
    assert values["at::get_num_interop_threads()"] == "5"
    assert values["std::thread::hardware_concurrency()"] == "16"
    assert values["OMP_NUM_THREADS"] == "3"


def test_torch_absent_is_null_plus_info_finding() -> None:
    data = run_python(
        """
        import sys
        sys.modules["torch"] = None  # what an environment without torch looks like
        import lkdoctor
        report = lkdoctor.collect()
        print(report.model_dump_json())
        """
    )
    assert data["pools"]["torch"] is None
    absent = [f for f in data["findings"] if f["id"] == "torch-absent"]
    assert len(absent) == 1 and absent[0]["severity"] == "info"
    assert not [e for e in data["errors"] if e["section"] == "pools"]
    assert data["pools"]["rayon"]["default_threads"] >= 1  # the rest is still there


def test_rayon_default_is_the_pool_rayon_core_builds_here() -> None:
    probe, _ = load_probe()
    assert probe is not None
    rayon = collect_pools().value.rayon
    assert rayon is not None
    # What rayon-core really gives a default pool here (a local one, built and dropped).
    assert rayon.default_threads == probe.default_local_pool_threads()
    assert rayon.lenskit_accel  # lenskit 2025.8 is installed with its accelerator
    assert rayon.lenskit_threads is None
    assert "--apply" in rayon.note


def test_rayon_default_follows_the_affinity_and_lenskit_pool_is_not_read() -> None:
    """Pinned to one CPU by the test, Rayon's default pool would have one thread."""
    rayon = run_python(
        f"""
        import os
        os.environ.pop("RAYON_NUM_THREADS", None)
        os.sched_setaffinity(0, {{{min(os.sched_getaffinity(0))}}})
        import lkdoctor
        print(lkdoctor.collect().pools.rayon.model_dump_json())
        """
    )
    assert (rayon["default_threads"], rayon["source"]) == (1, "available_parallelism")
    assert rayon["lenskit_accel"]  # lenskit 2025.8 is installed with its accelerator
    assert rayon["lenskit_threads"] is None
    assert "--apply" in rayon["note"]


def test_rayon_default_follows_rayon_num_threads() -> None:
    data = run_python(
        "import lkdoctor; print(lkdoctor.collect().pools.rayon.model_dump_json())",
        env={"RAYON_NUM_THREADS": "3"},
    )
    assert (data["default_threads"], data["source"]) == (3, "RAYON_NUM_THREADS")


def test_collect_leaves_the_callers_pools_exactly_as_found() -> None:
    data = run_python(
        """
        import json, os
        import numpy, threadpoolctl, torch
        torch.set_num_threads(1)
        threadpoolctl.threadpool_limits(1, "blas")  # the caller's own limit, kept on purpose

        def state():
            return {
                "intra": torch.get_num_threads(),
                "inter": torch.get_num_interop_threads(),
                "limits": [[e["filepath"], e["num_threads"]] for e in threadpoolctl.threadpool_info()],
                "threads": sorted(int(t) for t in os.listdir("/proc/self/task")),
            }

        before = state()
        import lkdoctor
        report = lkdoctor.collect()
        after = state()
        # Pools nobody has configured yet can still be configured exactly once:
        torch.set_num_interop_threads(3)
        interop = torch.get_num_interop_threads()
        from lenskit._accel import init_accel_pool, thread_count
        init_accel_pool(1)  # raises if collect() had created LensKit's Rayon pool
        print(json.dumps({
            "before": before, "after": after, "interop": interop,
            "lenskit_pool": thread_count(),
            "applied": report.pools.applied,
        }))
        """
    )
    assert data["after"] == data["before"]  # counts, limits, and no new (Rayon) threads
    assert data["before"]["intra"] == 1
    assert all(n == 1 for path, n in data["before"]["limits"] if "openblas" in path)
    assert data["interop"] == 3
    assert data["lenskit_pool"] == 1
    assert not data["applied"]


def test_pool_larger_than_the_cpus_is_a_finding() -> None:
    cpus = len(os.sched_getaffinity(0))
    data = run_python(
        f"""
        import torch
        torch.set_num_threads({cpus + 2})  # torch caps its default, but code may ask for more
        import lkdoctor
        print(lkdoctor.collect().model_dump_json())
        """,
        env={"RAYON_NUM_THREADS": str(cpus + 1)},
    )
    assert data["cpu"]["effective"] == cpus
    [finding] = [f for f in data["findings"] if f["id"] == "pool-exceeds-cpus"]
    assert finding["severity"] == "warning"
    assert f"torch intra-op {cpus + 2}" in finding["evidence"]
    assert f"libgomp {cpus + 2}" in finding["evidence"]
    assert f"Rayon default {cpus + 1}" in finding["evidence"]
    assert finding["env"]["OMP_NUM_THREADS"] == str(cpus)
    assert finding["env"]["RAYON_NUM_THREADS"] == str(cpus)


@pytest.mark.cgroup
def test_torch_and_blas_under_a_cpu_quota_are_larger_than_the_budget() -> None:
    """The `docker --cpus` case: a real 0.5-CPU quota; torch and OpenBLAS still size by cores."""
    from fixtures.real_cgroup import make_quota_group

    group = make_quota_group(on_parent=False)
    try:
        result = subprocess.run(
            group.command(sys.executable, "-m", "lkdoctor", "--json", "--no-bench"),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    finally:
        group.remove()
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["cpu"]["effective"] == 1
    torch_threads = data["pools"]["torch"]["intra_op"]
    finding = [f for f in data["findings"] if f["id"] == "pool-exceeds-cpus"]
    assert torch_threads > 1  # torch sizes by cores, which the quota does not change
    assert finding and f"torch intra-op {torch_threads}" in finding[0]["evidence"]
    assert finding[0]["severity"] == "warning"
    assert finding[0]["env"]["OMP_NUM_THREADS"] == "1"
    # Rust's available_parallelism honours the quota, so Rayon's default fits.
    assert data["pools"]["rayon"]["default_threads"] == 1


def _entry(prefix: str, internal: str, path: str, threads: int = 4) -> dict[str, Any]:
    user_api = "openmp" if internal == "openmp" else "blas"
    return {
        "user_api": user_api,
        "internal_api": internal,
        "prefix": prefix,
        "filepath": path,
        "num_threads": threads,
    }


def test_two_openmp_runtimes_are_a_warning_one_is_not() -> None:
    gomp = _entry("libgomp", "openmp", "/venv/torch/lib/libgomp.so.1")
    iomp = _entry("libiomp", "openmp", "/conda/lib/libiomp5.so")
    [finding] = openmp_findings([gomp, iomp])
    assert finding.id == "multiple-openmp" and finding.severity == "warning"
    assert "libiomp5.so" in finding.evidence and "libgomp.so.1" in finding.evidence
    assert openmp_findings([gomp]) == []
    assert openmp_findings(collect_pools().value.blas) == []  # this venv: torch's libgomp only


def test_duplicate_blas_copies_are_noted() -> None:
    numpy_copy = _entry(
        "libscipy_openblas", "openblas", "/venv/numpy.libs/libscipy_openblas64_.so", 2
    )
    scipy_copy = _entry("libscipy_openblas", "openblas", "/venv/scipy.libs/libscipy_openblas.so", 2)
    [finding] = duplicate_blas_findings([numpy_copy, scipy_copy])
    assert finding.id == "duplicate-blas" and finding.severity == "info"
    assert "up to 4 threads" in finding.evidence
    assert duplicate_blas_findings([numpy_copy]) == []


def system_libgomp() -> str:
    """The distribution's libgomp: a second copy beside the one torch bundles."""
    for folder in (
        "/usr/lib/x86_64-linux-gnu",
        "/usr/lib64",
        "/usr/lib/aarch64-linux-gnu",
        "/usr/lib",
    ):
        path = Path(folder, "libgomp.so.1")
        if path.exists():
            return str(path.resolve())
    pytest.fail("no system libgomp.so.1 (install libgomp1) to load beside torch's copy")


def test_a_second_real_libgomp_copy_is_noted() -> None:
    data = run_python(
        f"""
        import ctypes, torch
        ctypes.CDLL({system_libgomp()!r})  # by path: a second copy, not torch's
        import lkdoctor
        print(lkdoctor.collect().model_dump_json())
        """
    )
    gomps = [e for e in data["pools"]["blas"] if e["prefix"] == "libgomp"]
    assert len(gomps) == 2
    [finding] = [f for f in data["findings"] if f["id"] == "duplicate-openmp"]
    assert all(e["filepath"] in finding["evidence"] for e in gomps)
    assert not [f for f in data["findings"] if f["id"] == "multiple-openmp"]  # one runtime


def intel_openmp_library() -> str:
    """Intel's OpenMP runtime from the ``intel-openmp`` wheel (a test dependency)."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        files = distribution("intel-openmp").files or []
    except PackageNotFoundError:
        pytest.fail("intel-openmp is not installed (pip install -e '.[test]')")
    [library] = [f for f in files if f.name == "libiomp5.so"]
    return str(Path(str(library.locate())).resolve())


def test_real_intel_openmp_beside_torchs_libgomp_is_multiple_openmp() -> None:
    data = run_python(
        f"""
        import ctypes, torch
        ctypes.CDLL({intel_openmp_library()!r})  # what an MKL build or conda package brings
        import lkdoctor
        print(lkdoctor.collect().model_dump_json())
        """
    )
    runtimes = {e["prefix"] for e in data["pools"]["blas"] if e["user_api"] == "openmp"}
    assert runtimes == {"libgomp", "libiomp"}
    [finding] = [f for f in data["findings"] if f["id"] == "multiple-openmp"]
    assert finding["severity"] == "warning"
    assert "libiomp5.so" in finding["evidence"] and "libgomp" in finding["evidence"]


def test_checks_need_no_torch_finding_when_torch_is_present() -> None:
    report = Report(
        tool=ToolInfo(version="0", python="3", platform="x"),
        pools=Pools(torch=TorchPool(version="2", intra_op=1, inter_op=1)),
    )
    assert [f.id for f in check(report)] == []
    report.pools = Pools()
    assert [f.id for f in check(report)] == ["torch-absent"]


def test_text_shows_who_has_how_many_threads() -> None:
    import torch

    result = CliRunner().invoke(doctor, ["--no-bench"])
    assert result.exit_code == 0, result.output
    section = result.output.split("Live pools", 1)[1]
    assert "torch intra-op" in section and f"{torch.get_num_threads()}" in section
    assert "Rayon default" in section
    assert "not read" in section  # LensKit's pool, honestly not read without --apply
    assert "this process:" in section
