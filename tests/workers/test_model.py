"""``--model PATH``: hostile files never hurt the doctor, and real LensKit models are
measured with LensKit's own serializer and predicted against a real batch run."""

from __future__ import annotations

import json
import os
import pickle
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import run_cli, script
from workers_shared import REAL_TIMEOUT, TARGET

from lkdoctor.host.shm import orphan_segments

# LensKit 2025 runs here leave or look for orphaned /dev/shm segments: one worker runs them all
pytestmark = pytest.mark.xdist_group("dev-shm")


class Evaluated:
    """A pickle that runs ``code`` when loaded (what a hostile or broken file does)."""

    def __init__(self, code: str) -> None:
        self.code = code

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (eval, (self.code,))


def doctor_json(*args: str, timeout: float = 300, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    result = run_cli(script("lkdoctor"), "--no-bench", "--json", *args, timeout=timeout, **kwargs)
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, json.loads(result.stdout)


def model_finding(report: dict[str, Any]) -> dict[str, Any]:
    return next(f for f in report["findings"] if f["id"] == "model-not-measured")


def test_a_missing_model_is_a_one_line_usage_error(tmp_path: Path) -> None:
    result = run_cli(script("lkdoctor"), "--model", str(tmp_path / "nope.pkl"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "nope.pkl" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("text.pkl", b"this is a README, not a model\n", "UnpicklingError"),
        ("truncated.pkl", pickle.dumps(list(range(10000)))[:500], "truncated"),
        ("raises.pkl", pickle.dumps(Evaluated("1 / 0")), "ZeroDivisionError"),
    ],
)
def test_a_broken_model_is_a_finding_and_the_report_still_appears(
    tmp_path: Path, name: str, content: bytes, expected: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    code, report = doctor_json("--model", str(path), "--model-timeout", "120")
    assert code == 0
    assert report["workers"]["model"]["status"] == "failed"
    assert expected in report["workers"]["model"]["detail"]
    assert expected in model_finding(report)["evidence"]
    assert report["cpu"]["effective"] >= 1  # the rest of the report is there


def test_a_model_that_sleeps_forever_is_stopped_at_the_timeout(tmp_path: Path) -> None:
    path = tmp_path / "sleeps.pkl"
    path.write_bytes(pickle.dumps(Evaluated("__import__('time').sleep(100000)")))
    started = time.monotonic()
    code, report = doctor_json("--model", str(path), "--model-timeout", "3")
    assert code == 0
    assert time.monotonic() - started < 120  # the doctor itself starts slowly on a busy box
    model = report["workers"]["model"]
    assert model["status"] == "timeout"
    assert model["wall_s"] < 30
    assert "--model-timeout 3" in model_finding(report)["evidence"]
    leftover = subprocess.run(
        ["pgrep", "-f", "lkdoctor.workers.model_child " + str(path)], capture_output=True
    )
    assert leftover.returncode == 1, "the child outlived the timeout"


def _address_space_limit() -> None:
    four_gib = 4 << 30
    resource.setrlimit(resource.RLIMIT_AS, (four_gib, four_gib))


def test_a_model_that_allocates_10_gb_under_a_limit_takes_only_the_child_down(
    tmp_path: Path,
) -> None:
    path = tmp_path / "huge.pkl"
    path.write_bytes(pickle.dumps(Evaluated("bytearray(10 * 2**30)")))
    result = subprocess.run(
        [script("lkdoctor"), "--no-bench", "--json", "--model", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=_address_space_limit,  # the limit under test
        check=False,
    )
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 0
    report = json.loads(result.stdout)
    assert report["workers"]["model"]["status"] == "failed"
    assert "MemoryError" in report["workers"]["model"]["detail"]


# --- real LensKit models --------------------------------------------------------------


def _orphans() -> set[str]:
    """Segments nobody holds (other runs on the machine hold theirs while they live)."""
    return {s.name for s in orphan_segments()}


@pytest.mark.lenskit2025
@pytest.mark.parametrize("kind", ["itemknn", "flexmf"])
def test_the_prediction_matches_a_real_batch_run(
    saved_models: dict[str, Path], kind: str, tmp_path: Path
) -> None:
    before = _orphans()
    env = {"LK_NUM_PROCS": "2"}
    path = saved_models[kind]
    code, predicted = doctor_json(
        "--model", str(path), "--model-timeout", str(REAL_TIMEOUT), env=env, timeout=600
    )
    assert code == 0
    model = predicted["workers"]["model"]
    assert model["status"] == "measured", model["detail"]
    assert model["workers"] == 2
    assert "SHMPickler" in model["serializer"]
    if kind == "itemknn":  # numpy arrays: out-of-band, shared once
        assert model["shared_bytes"] > 20 * model["in_band_bytes"]
    else:  # torch CPU tensors: pickled in-band, copied into every worker
        assert model["in_band_bytes"] > model["shared_bytes"]
        assert any(f["id"] == "model-copied-per-worker" for f in predicted["findings"])
    report = tmp_path / "run.json"
    run = run_cli(
        script("lkdoctor"),
        "--no-bench",
        "--json",
        "--report",
        str(report),
        "--",
        sys.executable,
        str(TARGET),
        "run",
        str(path),
        env=env,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr
    observed = json.loads(report.read_text())["observed"]["memory"]
    shared = model["shm_need_bytes"]
    assert abs(observed["peak_segments_bytes"] - shared) <= 0.1 * shared
    peak = model["predicted_peak_bytes"]
    assert abs(observed["peak_pss_bytes"] - peak) <= 0.25 * observed["peak_pss_bytes"], (
        observed,
        model,
    )
    assert _orphans() <= before, "a segment was left behind"


def test_without_model_the_section_has_no_model_and_costs_no_child() -> None:
    code, report = doctor_json()
    assert code == 0
    assert report["workers"]["model"] is None
    assert report["workers"]["memory"]["shm"]["path"] == "/dev/shm"
    assert os.path.exists("/dev/shm")
