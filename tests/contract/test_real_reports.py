"""Real reports, from the installed commands, validate against the COMMITTED schema file
(``tests/contract/report.schema.json``), not against the model that produced them.

When a test here fails on a key the file does not know, the model changed: see
``tests/schema_contract.py`` (bump, announce, ``LKDOCTOR_UPDATE_SCHEMA=1 pytest tests/contract``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from helpers import run_cli, script, target_environ
from schema_contract import committed_schema

PY = sys.executable
#: 16 threads × 16 backend threads: more than the CPUs of any machine these tests run on.
STRONG = {"LK_NUM_THREADS": "16", "LK_NUM_BACKEND_THREADS": "16"}


def validated(text: str) -> dict[str, Any]:
    """The report in ``text``, after checking it against the committed schema."""
    data: dict[str, Any] = json.loads(text)
    jsonschema.Draft202012Validator(committed_schema()).validate(data)
    return data


def doctor(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return run_cli(script("lkdoctor"), *args, **kwargs)


def test_a_report_with_its_benchmarks() -> None:
    result = doctor("--json", "--bench-time", "0.5")
    assert result.returncode in (0, 1), result.stderr
    data = validated(result.stdout)
    assert data["bench"]["verdict"] != "skipped" and data["cpu"] and data["pools"]


def test_reports_without_benchmarks_and_with_apply(plain_json_report: str) -> None:
    outputs = [plain_json_report]  # the session's one `--json --no-bench` report
    for extra in (["--apply"], ["--full"]):
        result = doctor("--json", "--no-bench", *extra)
        assert result.returncode in (0, 1), result.stderr
        outputs.append(result.stdout)
    for output in outputs:
        data = validated(output)
        assert data["bench"]["verdict"] == "skipped" and data["plan"] is not None


def test_a_report_on_a_running_process() -> None:
    env = target_environ({"LK_NUM_THREADS": "2"})
    with subprocess.Popen([PY, "-c", "import time; time.sleep(120)"], env=env) as target:
        try:
            result = doctor(
                "--json", "--no-bench", "--pid", str(target.pid), "--sample-time", "0.3"
            )
        finally:
            target.kill()
    assert result.returncode in (0, 1), result.stderr
    data = validated(result.stdout)
    assert data["observed"]["root_pid"] == target.pid
    assert data["plan"]["inputs"]["LK_NUM_THREADS"] == "2"


def test_reports_on_a_command_and_a_comparison() -> None:
    # the child lives 0.6 s: a sampled process (short-lived ones are another test's matter)
    code = "import subprocess, sys; subprocess.run([sys.executable, '-c', 'import time; time.sleep(0.6)'])"
    run = doctor("--json", "--no-bench", "--", PY, "-c", code)
    assert run.returncode == 0, run.stderr
    assert len(validated(run.stderr)["observed"]["processes"]) == 2
    compared = doctor(
        "--json", "--no-bench", "--compare", "--", PY, "-c", "pass", env=target_environ(STRONG)
    )
    assert compared.returncode in (0, 1), compared.stderr
    comparison = validated(compared.stderr)["comparison"]
    # a real comparison: 3 pairs by default, their ratio and its interval
    assert len(comparison["pairs"]) == 3 and len(comparison["variants"]) == 2
    assert comparison["interval_low"] <= comparison["ratio"] <= comparison["interval_high"]


def test_a_verify_report() -> None:
    result = doctor("--json", "--verify", "--bench-time", "0.5", env=target_environ(STRONG))
    assert result.returncode in (0, 1), result.stderr
    verification = validated(result.stdout)["bench"]["verification"]
    assert verification["subject"] == "benchmark" and len(verification["pairs"]) == 5
    assert verification["interval_low"] <= verification["ratio"] <= verification["interval_high"]


def test_the_committed_schema_refuses_a_measured_verdict_without_its_measurement(
    plain_json_report: str,
) -> None:
    """A comparison judged without pairs, a ratio or an interval breaks the contract."""
    data = json.loads(plain_json_report)
    measured = {
        "subject": "command",
        "verdict": "improved",
        "noise": 0.1,
        "variants": [],
        "pairs": [],
        "interrupted": [],
        "ratio": None,
        "interval_low": None,
        "interval_high": None,
    }
    for broken in (
        {k: v for k, v in measured.items() if k != "pairs"},  # no pairs key
        measured,  # improved from no pair, no ratio
    ):
        data["comparison"] = broken
        with pytest.raises(jsonschema.ValidationError):
            validated(json.dumps(data))
    data["comparison"] = {**measured, "verdict": "inconclusive"}
    validated(json.dumps(data))  # no verdict: nothing needs to be measured yet


@pytest.mark.lenskit2025
def test_a_lenskit_2025_plan(tmp_path: Path) -> None:
    env = {"LK_NUM_PROCS": "2", "LK_NUM_THREADS": "2,1"}
    result = run_cli(script("lenskit"), "doctor", "--json", "--no-bench", env=target_environ(env))
    assert result.returncode in (0, 1), result.stderr
    plan = validated(result.stdout)["plan"]
    assert plan["dialect"] == "2025" and plan["lenskit_resolved"] is not None


@pytest.mark.lenskit2026
def test_a_lenskit_2026_plan_with_lenskits_own_answer(tmp_path: Path) -> None:
    (tmp_path / "lenskit.toml").write_text("[parallel]\nnum_threads = 2\nnum_batch_jobs = 2\n")
    result = run_cli(
        script("lenskit"), "doctor", "--json", "--no-bench",
        cwd=tmp_path, env=target_environ({"LK_NUM_BACKEND_THREADS": "1"}), timeout=180,
    )  # fmt: skip
    assert result.returncode in (0, 1), result.stderr
    plan = validated(result.stdout)["plan"]
    assert plan["dialect"] == "2026" and plan["batch_mode"] == "thread-pool"
    assert plan["lenskit_resolved"]["num_threads"] == 2, plan["lenskit_note"]
