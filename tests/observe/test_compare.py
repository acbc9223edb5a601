"""`lenskit doctor --compare -- COMMAND`: the user's command under the current settings and
under the suggested exports, alternating; its output untouched, failures and Ctrl-C stop it."""

from __future__ import annotations

import json
import math
import os
import selectors
import signal
import statistics
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from helpers import run_cli, script, target_environ
from schema_contract import validate_report

PY = sys.executable

#: Twice as many threads as this test may use CPUs (its own affinity, which LensKit counts
#: too): a plan with a fitting suggestion, in both dialects, on any machine.
OVERSUBSCRIBED = {"LK_NUM_THREADS": str(2 * len(os.sched_getaffinity(0)))}
#: One thread everywhere: the plan fits, there is nothing to compare.
FITTING = {"LK_NUM_PROCS": "1", "LK_NUM_THREADS": "1", "LK_NUM_BACKEND_THREADS": "1"}

#: The command of these tests: it records each run's LK_NUM_THREADS in $RUNS_FILE, speaks on
#: stdout and stderr with the run's number, works a moment, and exits with $FAIL_AT's status
#: from that run on ("N:STATUS"), or waits for a signal from run $HANG_AT on (and exits 0 on
#: SIGINT when $TRAP_SIGINT is set).
COMMAND = textwrap.dedent(
    """
    import os, signal, sys, time
    path = os.environ["RUNS_FILE"]
    with open(path, "a") as out:
        out.write(os.environ.get("LK_NUM_THREADS", "-") + "\\n")
    number = len(open(path).read().splitlines())
    print(f"out {number}", flush=True)
    print(f"err {number}", file=sys.stderr, flush=True)
    sum(i * i for i in range(200_000))
    if number >= int(os.environ.get("HANG_AT") or 10**6):
        if os.environ.get("TRAP_SIGINT"):  # stops early, quietly: exit 0 on Ctrl-C
            signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
        print("ready", flush=True)
        time.sleep(600)
    fail_at, _, status = os.environ.get("FAIL_AT", "").partition(":")
    if fail_at and number >= int(fail_at):
        sys.exit(int(status))
    """
)


def compare(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """The doctor's --compare of COMMAND, and the LK_NUM_THREADS of every run, in order."""
    runs = tmp_path / "runs"
    full = target_environ({**OVERSUBSCRIBED, **(env or {}), "RUNS_FILE": str(runs)})
    result = run_cli(
        script("lkdoctor"), "--compare", *args, "--", PY, "-c", COMMAND, env=full, timeout=120
    )
    return result, runs.read_text().splitlines() if runs.exists() else []


def report(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text())
    validate_report(data)  # the committed contract, not the model's schema of today
    return data


def test_3_pairs_by_default_alternate_and_pass_the_output_through(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    result, runs = compare(tmp_path, "--json", "--report", str(path))
    assert result.returncode == 0, result.stderr
    # untouched: the command's own lines only, on its own streams, in the order it ran
    assert result.stdout == "".join(f"out {n}\n" for n in range(1, 7))
    assert result.stderr == "".join(f"err {n}\n" for n in range(1, 7))
    data = report(path)
    comparison = data["comparison"]
    suggested = comparison["variants"][1]["env"]["LK_NUM_THREADS"]
    current = OVERSUBSCRIBED["LK_NUM_THREADS"]
    assert suggested != current
    # ABBA: current, suggested | suggested, current | current, suggested
    assert runs == [current, suggested, suggested, current, current, suggested]
    assert comparison["subject"] == "command"
    assert comparison["command"] == [PY, "-c", COMMAND]
    assert [v["runs"] for v in comparison["variants"]] == [3, 3]
    assert [v["exit_status"] for v in comparison["variants"]] == [0, 0]
    assert comparison["stopped"] is None and comparison["exit_status"] is None
    pairs = comparison["pairs"]
    assert len(pairs) == 3
    ratios = [p["current"]["wall_seconds"] / p["suggested"]["wall_seconds"] for p in pairs]
    for pair, ratio in zip(pairs, ratios, strict=True):
        assert pair["ratio"] == round(ratio, 4)
        assert pair["current"]["cpu_seconds"] > 0 and pair["current"]["threads"] >= 1
    assert comparison["ratio_min"] == round(min(ratios), 4)
    assert comparison["ratio_max"] == round(max(ratios), 4)
    geometric_mean = math.exp(statistics.fmean(math.log(r) for r in ratios))
    assert comparison["ratio"] == pytest.approx(geometric_mean, abs=2e-4)
    assert comparison["interval_low"] <= comparison["ratio"] <= comparison["interval_high"]
    assert comparison["interrupted"] == []
    assert comparison["verdict"] in ("improved", "no-gain", "worse", "inconclusive")
    # the command's runs are the measurement: no benchmark of the doctor itself
    assert data["bench"]["verdict"] == "skipped" and data["bench"]["verification"] is None
    [plan] = [f for f in data["findings"] if f["id"] == "plan-oversubscribed"]
    assert comparison["reason"] in plan["remediation"]


def test_a_failing_run_stops_everything_and_its_status_comes_back(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    result, runs = compare(
        tmp_path, "--repeat", "3", "--json", "--report", str(path), env={"FAIL_AT": "2:3"}
    )
    assert result.returncode == 3, result.stderr
    assert len(runs) == 2  # the first pair's second run failed: nothing else ran
    assert result.stdout == "out 1\nout 2\n"
    comparison = report(path)["comparison"]
    assert comparison["exit_status"] == 3 and comparison["pairs"] == []
    assert comparison["stopped"] == (
        "the suggested run of pair 1 failed with exit status 3, so nothing else ran"
    )
    assert comparison["verdict"] == "inconclusive"
    assert [(v["runs"], v["exit_status"]) for v in comparison["variants"]] == [(1, 0), (1, 3)]


def test_the_report_goes_to_stderr_by_default(tmp_path: Path) -> None:
    """Without --report the report follows the command's own stderr; one pair
    (--repeat 1) is no verdict, and the report says why."""
    result, runs = compare(tmp_path, "--repeat", "1", "--json")
    assert result.returncode == 0, result.stderr
    assert len(runs) == 2 and result.stdout == "out 1\nout 2\n"
    assert result.stderr.startswith("err 1\nerr 2\n")
    data = json.loads(result.stderr.removeprefix("err 1\nerr 2\n"))
    validate_report(data)
    comparison = data["comparison"]
    assert len(comparison["pairs"]) == 1 and comparison["verdict"] == "inconclusive"
    assert comparison["reason"].endswith(
        "a verdict needs at least 3 completed pairs, 2 more (--repeat 3)"
    )
    text, _ = compare(tmp_path, "--repeat", "1", "--report", str(tmp_path / "r.txt"))
    shown = (tmp_path / "r.txt").read_text()
    assert "wall time" in shown and "with the suggestion:" in shown and text.returncode == 0


def test_nothing_to_suggest_runs_nothing(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    result, runs = compare(tmp_path, "--json", "--report", str(path), env=FITTING)
    assert result.returncode == 0, result.stderr
    assert runs == [] and result.stdout == "" and result.stderr == ""
    comparison = report(path)["comparison"]
    assert comparison["verdict"] == "nothing-to-verify"
    assert comparison["reason"].startswith("the plan fits the ")
    assert comparison["pairs"] == [] and comparison["variants"] == []
    text, _ = compare(tmp_path, env=FITTING)
    shown = " ".join(text.stderr.split())  # unwrapped
    assert "Compared verdict: nothing-to-verify: the plan fits the " in shown
    assert "(1 thread at peak): there is nothing to verify" in shown


def interrupt_third_run(tmp_path: Path, **env: str) -> tuple[int, str, list[str], dict[str, Any]]:
    """``--compare --repeat 3`` whose third run (the suggested run of pair 2) waits; SIGINT
    to the doctor (as `kill -INT`) then. The doctor's status, its stderr, the runs' settings
    and the comparison it wrote."""
    runs = tmp_path / "runs"
    path = tmp_path / "r.json"
    full = target_environ({**OVERSUBSCRIBED, "RUNS_FILE": str(runs), "HANG_AT": "3", **env})
    args = ["--compare", "--repeat", "3", "--json", "--report", str(path)]
    proc = subprocess.Popen(
        [script("lkdoctor"), *args, "--", PY, "-c", COMMAND],
        env=full,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = []
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)
            while "ready" not in lines:  # run 3 is the one that waits
                assert selector.select(timeout=120), "the third run did not start"
                line = proc.stdout.readline()
                assert line, "the doctor ended before the third run"
                lines.append(line.strip())
        os.kill(proc.pid, signal.SIGINT)
        _, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
        proc.wait(10)
    return proc.returncode, stderr, runs.read_text().splitlines(), report(path)["comparison"]


def test_ctrl_c_stops_the_comparison_and_the_partial_report_is_written(tmp_path: Path) -> None:
    """SIGINT during the second pair: it reaches the command, the comparison stops there,
    and the first pair is still reported; exit 130."""
    status, stderr, runs, comparison = interrupt_third_run(tmp_path)
    assert status == 128 + signal.SIGINT, stderr
    assert "KeyboardInterrupt" in stderr  # raised in the command, not in the doctor
    assert len(runs) == 3  # nothing ran after it
    assert len(comparison["pairs"]) == 1
    assert comparison["stopped"].startswith("the suggested run of pair 2 failed with exit status")
    assert comparison["stopped"].endswith("after SIGINT, so nothing else ran")
    assert [v["runs"] for v in comparison["variants"]] == [1, 2]
    [cut] = comparison["interrupted"]
    assert (cut["variant"], cut["interrupted_by"]) == ("suggested", "SIGINT")
    assert comparison["verdict"] == "inconclusive"


def test_a_run_that_traps_sigint_and_exits_0_is_never_paired(tmp_path: Path) -> None:
    """The command catches SIGINT and exits 0: its cut-off run ran only part of the work,
    so it is listed as interrupted, not paired with the current run of its pair."""
    status, stderr, runs, comparison = interrupt_third_run(tmp_path, TRAP_SIGINT="1")
    assert status == 128 + signal.SIGINT, stderr
    assert "KeyboardInterrupt" not in stderr  # the command exited 0 by itself
    assert len(runs) == 3
    [pair] = comparison["pairs"]  # pair 1 only; pair 2's current run is alone
    assert pair["suggested"]["interrupted_by"] is None
    [cut] = comparison["interrupted"]
    assert cut == {**cut, "variant": "suggested", "exit_status": 0, "interrupted_by": "SIGINT"}
    assert comparison["stopped"] == (
        "interrupted (SIGINT) during the suggested run of pair 2, which exited 0 but is not paired"
    )
    assert comparison["verdict"] == "inconclusive"
    assert (
        "a verdict needs at least 3 completed pairs, 2 more (--repeat 3)" in (comparison["reason"])
    )


def test_compare_needs_a_command_and_is_not_combined_with_verify(tmp_path: Path) -> None:
    alone = run_cli(script("lkdoctor"), "--compare")
    assert alone.returncode == 2 and "--compare needs a command" in alone.stderr
    both = run_cli(script("lkdoctor"), "--compare", "--verify", "--", PY, "-c", "pass")
    assert both.returncode == 2 and "--compare cannot be combined" in both.stderr
    repeat = run_cli(script("lkdoctor"), "--repeat", "2")
    assert repeat.returncode == 2 and "--repeat needs --compare" in repeat.stderr
    missing = run_cli(
        script("lkdoctor"),
        "--compare",
        "--",
        "/nonexistent/command",
        env=target_environ(OVERSUBSCRIBED),
    )
    assert missing.returncode == 127 and "cannot run /nonexistent/command" in missing.stderr
