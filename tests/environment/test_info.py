"""The environment section: which variables, versions, processor, packages and paths."""

from __future__ import annotations

import sys
from pathlib import Path

from lkdoctor.environment.info import (
    collect_environment,
    installed_packages,
    processor_name,
    relevant_variables,
)


def test_only_threading_and_python_variables_are_kept() -> None:
    environ = {
        "LK_NUM_PROCS": "2",
        "OMP_NUM_THREADS": "4",
        "KMP_AFFINITY": "compact",
        "GOMP_SPINCOUNT": "0",
        "OPENBLAS_NUM_THREADS": "1",
        "BLIS_NUM_THREADS": "1",
        "RAYON_NUM_THREADS": "3",
        "TORCH_HOME": "/cache",
        "NUMEXPR_MAX_THREADS": "8",
        "NUMBA_NUM_THREADS": "2",
        "SLURM_CPUS_PER_TASK": "4",
        "SLURMD_NODENAME": "n1",
        "PYTHON_CPU_COUNT": "2",
        "PYTHONPATH": "/opt",
        "HOME": "/home/a",
        "EDITOR": "vi",
        "LKX": "not ours",
    }
    kept = relevant_variables(environ)
    assert list(kept) == sorted(kept)
    assert set(kept) == set(environ) - {"HOME", "EDITOR", "LKX"}


def test_processor_from_cpuinfo_fixture(tmp_path: Path) -> None:
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc" / "cpuinfo").write_text(
        "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Gold 6230\n"
    )
    assert processor_name(tmp_path) == "Intel(R) Xeon(R) Gold 6230"
    (tmp_path / "proc" / "cpuinfo").write_text("processor\t: 0\nHardware\t: BCM2835\n")
    assert processor_name(tmp_path) == "BCM2835"
    assert processor_name(tmp_path / "missing") is None


def test_real_environment_section() -> None:
    collected = collect_environment({"OMP_NUM_THREADS": "2"}, packages=True, paths=True)
    assert collected.errors == []
    info = collected.value
    assert info is not None
    assert info.variables == {"OMP_NUM_THREADS": "2"}
    assert info.versions["lkdoctor"] and info.versions["torch"]
    assert info.paths is not None and info.paths.executable == sys.executable
    assert info.paths.sys_path == sys.path
    assert info.packages is not None
    names = [p.name.lower() for p in info.packages]
    assert len(names) == len(set(names))  # one row per distribution
    assert "click" in names
    bare = collect_environment({}).value
    assert bare is not None and bare.packages is None and bare.paths is None


def test_packages_sorted_by_normalised_name() -> None:
    keys = [p.name.lower().replace("_", "-").replace(".", "-") for p in installed_packages()]
    assert keys == sorted(keys)
