"""The real Rust probe, and what happens when it is missing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lkdoctor import _native


def _thread_count() -> int:
    return len(os.listdir("/proc/self/task"))


def test_probe_is_the_compiled_extension() -> None:
    probe, error = _native.load_probe()
    assert error is None
    assert probe is not None
    assert Path(probe.__file__).suffix in {".so", ".pyd"}
    assert set(probe.build_info) >= {"pyo3", "rayon", "profile"}
    assert probe.build_info["pyo3"].startswith("0.")
    assert probe.build_info["rayon"].startswith("1.")


def test_available_parallelism_matches_affinity() -> None:
    probe, _ = _native.load_probe()
    assert probe is not None
    # No CPU quota on the test process, so Rust sees the affinity mask.
    assert probe.available_parallelism() == len(os.sched_getaffinity(0))


CPUS = len(os.sched_getaffinity(0))
EXPLICIT, DEPRECATED = str(CPUS + 1), str(CPUS + 2)  # sizes no other rule gives


@pytest.mark.parametrize(
    ("num_threads", "rs_num_cpus", "source"),
    [
        (None, None, "available_parallelism"),
        (None, DEPRECATED, "RAYON_RS_NUM_CPUS"),
        ("0", None, "available_parallelism"),
        ("0", DEPRECATED, "available_parallelism"),  # 0 is Rayon's "all CPUs"
        (EXPLICIT, None, "RAYON_NUM_THREADS"),
        (EXPLICIT, DEPRECATED, "RAYON_NUM_THREADS"),
        ("lots", None, "available_parallelism"),
        ("lots", DEPRECATED, "RAYON_RS_NUM_CPUS"),  # unparsable: as if unset
    ],
)
def test_rayon_default_is_the_size_rayon_core_really_builds(
    num_threads: str | None, rs_num_cpus: str | None, source: str
) -> None:
    """The prediction against a local pool rayon-core builds in the same environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAYON_")}
    for name, value in [("RAYON_NUM_THREADS", num_threads), ("RAYON_RS_NUM_CPUS", rs_num_cpus)]:
        if value is not None:
            env[name] = value
    code = (
        "from lkdoctor import _probe\n"
        "print(*_probe.rayon_default_threads(), _probe.default_local_pool_threads())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    predicted, predicted_source, built = int(out[0]), out[1], int(out[2])
    assert predicted == built
    assert predicted_source == source


def test_inspection_creates_no_rayon_pool() -> None:
    """A global Rayon pool would add threads to this process: none may appear."""
    probe, _ = _native.load_probe()
    assert probe is not None
    before = _thread_count()
    probe.rayon_default_threads()
    probe.available_parallelism()
    assert _thread_count() == before


def test_missing_probe_is_an_error_entry_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    import lkdoctor

    monkeypatch.setitem(sys.modules, "lkdoctor._probe", None)  # makes the import fail
    _native.load_probe.cache_clear()
    try:
        report = lkdoctor.collect()
    finally:
        _native.load_probe.cache_clear()
    assert report.tool.probe_version is None
    assert any(e.section == "probe" for e in report.errors)
    assert report.cpu is not None and report.cpu.effective >= 1
