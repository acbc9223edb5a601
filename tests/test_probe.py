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


@pytest.mark.parametrize(
    ("value", "expected_source"),
    [("3", "RAYON_NUM_THREADS"), ("0", "available_parallelism"), ("x", "available_parallelism")],
)
def test_rayon_default_follows_rayon_rules(value: str, expected_source: str) -> None:
    code = "from lkdoctor import _probe; print(*_probe.rayon_default_threads())"
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "RAYON_NUM_THREADS": value},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out[1] == expected_source
    expected = 3 if value == "3" else len(os.sched_getaffinity(0))
    assert int(out[0]) == expected


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
