"""Real LensKit 2025.8 batch runs (recommend with n_jobs=2): the unprotected script fails as
users see it, and the doctor says so before (``--script``) and while watching it; the
protected twin runs, is not flagged, and its workers are listed with their start method."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import run_cli, script, target_environ

HERE = Path(__file__).parent
RUN_TIMEOUT = 300

# LensKit 2025 runs here leave or look for orphaned /dev/shm segments: one worker runs them all
pytestmark = [pytest.mark.lenskit2025, pytest.mark.xdist_group("dev-shm")]


def watched(
    command: list[str], cwd: Path, report: Path
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """``lkdoctor --json --report REPORT -- COMMAND`` in ``cwd``, and its report."""
    args = [script("lkdoctor"), "--no-bench", "--json", "--report", str(report), "--", *command]
    done = run_cli(
        *args,
        cwd=cwd,
        timeout=RUN_TIMEOUT,
        # python -m finds the script in the current folder, as for users (not PYTHONSAFEPATH)
        env=target_environ({"LK_NUM_PROCS": "2", "PYTHONSAFEPATH": ""}),
    )
    return done, json.loads(report.read_text())


def by_id(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["id"]: f for f in report["findings"]}


@pytest.fixture(scope="module")
def scripts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("batch")
    for name in ("batch_unprotected.py", "batch_protected.py"):
        shutil.copy(HERE / name, folder / name)
    return folder


def test_script_flags_the_unprotected_script_beforehand_as_an_error(scripts: Path) -> None:
    result = run_cli(
        script("lkdoctor"),
        "--no-bench",
        "--json",
        "--script",
        str(scripts / "batch_unprotected.py"),
        env=target_environ({"LK_NUM_PROCS": "2"}),
    )
    assert result.returncode == 0, result.stderr
    finding = by_id(json.loads(result.stdout))["script-unprotected"]
    assert finding["severity"] == "error"
    assert "batch_unprotected.py:18: results = recommend(pipe" in finding["evidence"]
    assert 'if __name__ == "__main__":' in finding["remediation"]
    protected = run_cli(
        script("lkdoctor"),
        "--no-bench",
        "--json",
        "--script",
        str(scripts / "batch_protected.py"),
    )
    report = json.loads(protected.stdout)
    assert [s["status"] for s in report["workers"]["scripts"]] == ["protected"]
    assert not {"script-unprotected", "script-reexecuted"} & by_id(report).keys()


def test_the_unprotected_run_fails_and_is_named_while_watched(scripts: Path) -> None:
    """Through bash -c and python -m: the doctor finds the script the command runs."""
    done, report = watched(
        ["bash", "-c", f"{sys.executable} -m batch_unprotected"],
        scripts,
        scripts / "unprotected.json",
    )
    assert "BrokenProcessPool" in done.stderr or "bootstrapping phase" in done.stderr
    assert done.returncode == 1
    [check] = report["workers"]["scripts"]
    assert (check["found_by"], check["status"]) == ("command", "unprotected")
    assert Path(check["path"]).name == "batch_unprotected.py"
    findings = by_id(report)
    assert findings["script-unprotected"]["severity"] == "error"
    rerun = findings["script-reexecuted"]
    assert rerun["severity"] == "error"
    spawned = [p for p in report["workers"]["processes"] if p["reruns_script"]]
    assert spawned and all(p["start_method"] == "spawn" for p in spawned)
    assert all(str(p["pid"]) in rerun["evidence"] for p in spawned)


def test_the_protected_twin_runs_unflagged_with_its_workers_listed(scripts: Path) -> None:
    done, report = watched(
        [sys.executable, "batch_protected.py"], scripts, scripts / "protected.json"
    )
    assert done.returncode == 0, done.stderr
    assert "recommended for 10 users" in done.stdout
    workers = report["workers"]
    assert [s["status"] for s in workers["scripts"]] == ["protected"]
    assert not {"script-unprotected", "script-reexecuted", "worker-killed"} & by_id(report).keys()
    spawned = [p for p in workers["processes"] if p["kind"] in ("spawn-worker", "lenskit-worker")]
    assert len(spawned) >= 2
    assert {p["start_method"] for p in spawned} == {"spawn"}
    assert all(p["reruns_script"] is False for p in spawned)
