"""The section's facts: how the installed LensKit runs batch work, read from its code."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path
from typing import Any

import pytest
from helpers import run_cli, script, target_environ

from lkdoctor.host.lenskit import lenskit_package_dirs

HERE = Path(__file__).parent


def report(*args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    result = run_cli(
        script("lkdoctor"), "--no-bench", "--json", *args, env=target_environ(env or {})
    )
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


def lenskit_file(*parts: str) -> Path:
    return lenskit_package_dirs()[0].joinpath(*parts)


def test_python_default_start_method_is_reported_without_choosing_one() -> None:
    workers = report()["workers"]
    default = multiprocessing.get_all_start_methods()[0]
    assert workers["python_default_start_method"] == default
    [python] = [m for m in workers["start_methods"] if m["part"] == "python-default"]
    assert python["method"] == default
    assert multiprocessing.get_start_method(allow_none=True) is None  # we chose none either


@pytest.mark.lenskit2025
def test_lenskit_2025_spawns_its_workers_as_its_code_says() -> None:
    workers = report(env={"LK_NUM_PROCS": "3,2"})["workers"]
    assert (workers["dialect"], workers["mode"]) == ("2025", "process-pool")
    assert [(lv["mode"], lv["workers"], lv["start_method"]) for lv in workers["levels"]] == [
        ("process-pool", 3, "spawn"),
        ("process-pool", 2, "spawn"),
        ("in-process", 1, None),
    ]
    methods = {m["part"]: m for m in workers["start_methods"]}
    pool = lenskit_file("parallel", "pool.py")
    line = next(
        n
        for n, text in enumerate(pool.read_text().splitlines(), 1)
        if text.startswith("class LensKitMPContext(SpawnContext)")
    )
    assert methods["batch-workers"]["source"].startswith(f"{pool}:{line}: ")
    # the manager passes no context: Python's default (fork on Linux up to 3.13)
    assert methods["shared-memory-manager"]["method"] == multiprocessing.get_all_start_methods()[0]


@pytest.mark.lenskit2025
def test_lenskit_2025_with_one_process_runs_in_process() -> None:
    workers = report(env={"LK_NUM_PROCS": "1"})["workers"]
    assert workers["mode"] == "in-process"
    assert workers["levels"][0]["start_method"] is None


@pytest.mark.lenskit2026
def test_lenskit_2026_runs_batch_on_threads_with_the_setting_and_its_source() -> None:
    workers = report(env={"LK_NUM_BATCH_JOBS": "3"})["workers"]
    assert (workers["dialect"], workers["mode"]) == ("2026", "thread-pool")
    assert workers["levels"][0]["workers"] == 3
    assert "num_batch_jobs from LK_NUM_BATCH_JOBS" in workers["mode_source"]
    [batch] = [m for m in workers["start_methods"] if m["part"] == "batch-workers"]
    assert batch["method"] == "thread"
    assert batch["source"].startswith(str(lenskit_file("batch", "_runner.py")))
    assert "ThreadPoolExecutor" in batch["source"]
    gil_note = [n for n in workers["notes"] if "GIL" in n]
    assert workers["gil_enabled"] is True and gil_note  # a GIL build: LensKit's warning


@pytest.mark.lenskit2026
def test_lenskit_2026_says_an_unprotected_script_is_info_there() -> None:
    full = report("--script", str(HERE / "batch_unprotected.py"))
    [finding] = [f for f in full["findings"] if f["id"] == "script-unprotected"]
    assert finding["severity"] == "info"
    assert "not needed for threads or Ray" in finding["evidence"]
    assert full["workers"]["mode"] == "in-process"  # LensKit 2026's default: 1 batch job
