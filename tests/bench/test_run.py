"""The benchmark section end to end: real kernels, the caller's pools untouched, clean JSON."""

from __future__ import annotations

import io
import json
import os
import pty
import time

import jsonschema
import torch
from click.testing import CliRunner
from helpers import run_cli, script, surviving_bench_threads
from rich.console import Console
from threadpoolctl import threadpool_info

import lkdoctor
from lkdoctor.bench.run import collect_bench
from lkdoctor.checks.bench import check
from lkdoctor.cli import doctor
from lkdoctor.model import Bench, BenchMetrics, BenchRun, Throttling, ToolInfo
from lkdoctor.render.progress import bench_status
from lkdoctor.render.text import render_bench
from lkdoctor.report import Report

VERDICTS = {"ok", "oversubscribed", "contended", "undersubscribed", "inconclusive"}


def _pool_state() -> dict[str, object]:
    return {
        "torch_intra": torch.get_num_threads(),
        "torch_inter": torch.get_num_interop_threads(),
        "blas": [(p["internal_api"], p["filepath"], p["num_threads"]) for p in threadpool_info()],
        "environ": dict(os.environ),
    }


def test_collect_with_bench_runs_both_kernels_and_leaves_the_pools_as_found() -> None:
    torch.set_num_threads(1)  # a caller's own choice, which must survive
    try:
        before = _pool_state()
        rng = torch.random.get_rng_state()
        environ = {**os.environ, "LK_NUM_THREADS": "2", "LK_NUM_BACKEND_THREADS": "2"}
        report = lkdoctor.collect(bench=True, environ=environ)
        assert _pool_state() == before
        assert torch.equal(torch.random.get_rng_state(), rng)
    finally:
        torch.set_num_threads(before["torch_intra"])  # type: ignore[arg-type]
    bench = report.bench
    assert bench.verdict in VERDICTS, bench.reason
    peak = next(run for run in bench.runs if "peak" in run.roles)
    assert (peak.rayon_threads, peak.torch_threads) == (2, 2)
    assert {run.name for run in bench.runs} >= {"rayon-1", "torch-1", "peak"}
    assert all(run.wait_share is not None and run.repeats >= 1 for run in bench.runs)
    assert bench.metrics is not None and bench.metrics.plan_threads == 4
    # the local pools are gone: no benchmark thread outlives the report for long
    assert surviving_bench_threads() == []


def test_a_budget_too_short_for_the_shapes_is_inconclusive() -> None:
    report = lkdoctor.collect(bench=False)
    bench = collect_bench(report.cpu, report.plan, budget=0.01)
    assert bench.verdict == "inconclusive"
    assert "too short" in bench.reason
    assert collect_bench(report.cpu, report.plan, budget=float("nan")).verdict == "inconclusive"
    missing = collect_bench(report.cpu, None, budget=1.0)
    assert (missing.verdict, missing.reason) == (
        "inconclusive",
        "the CPU budget or the thread plan is missing",
    )


def test_the_section_is_skipped_without_bench_and_for_another_process() -> None:
    report = lkdoctor.collect(bench=False)
    assert report.bench.verdict == "skipped"
    assert "--no-bench" in report.bench.reason
    # asked for, but another process is inspected: the pipeline's rule skips them
    other = lkdoctor.collect(bench=True, pid=os.getpid(), sample_time=0.05)
    assert other.bench.verdict == "skipped"
    assert f"--pid {os.getpid()}" in other.bench.reason
    assert other.bench.runs == []


def test_json_mode_prints_only_json_on_stdout_and_no_status_without_a_terminal() -> None:
    result = run_cli(script("lkdoctor"), "--json", "--bench-time", "0.3")
    schema = run_cli(script("lkdoctor"), "--json-schema")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)  # the whole of stdout must parse
    jsonschema.validate(data, json.loads(schema.stdout))
    assert data["bench"]["verdict"] in VERDICTS
    assert data["bench"]["budget_seconds"] == 0.3
    assert data["bench"]["runs"]
    assert "measuring" not in result.stderr


def test_no_bench_gives_a_skipped_verdict() -> None:
    result = CliRunner().invoke(doctor, ["--json", "--no-bench"])
    assert result.exit_code == 0
    assert json.loads(result.output)["bench"]["verdict"] == "skipped"


def test_a_bench_time_out_of_range_is_a_usage_error() -> None:
    result = CliRunner().invoke(doctor, ["--bench-time", "0"])
    assert result.exit_code == 2


def test_text_output_has_a_measured_section_with_one_line_per_run() -> None:
    result = run_cli(script("lkdoctor"), "--bench-time", "0.3", add_env={"COLUMNS": "100"})
    assert result.returncode == 0, result.stderr
    measured = result.stdout.split("Measured", 1)[1]
    assert "rayon-1" in measured and "right-sized" in measured
    assert "verdict " in measured
    assert "Traceback" not in result.stderr


def test_the_status_line_goes_to_a_terminal_on_stderr() -> None:
    master, slave = pty.openpty()
    try:
        with os.fdopen(slave, "w", closefd=False) as terminal:
            with bench_status(file=terminal) as progress:
                assert progress is not None
                progress("measuring peak (8 Rayon threads), round 1 of 2")
                time.sleep(0.3)  # the status refreshes on its own thread
            terminal.flush()
        shown = os.read(master, 65536).decode(errors="replace")
    finally:
        os.close(master)
        os.close(slave)
    assert "measuring peak" in shown
    with bench_status(file=io.StringIO()) as progress:
        assert progress is None  # not a terminal: nothing at all
    with bench_status(enabled=False) as progress:
        assert progress is None


def _report_with(bench: Bench) -> Report:
    return Report(tool=ToolInfo(version="0", python="3", platform="Linux"), bench=bench)


def _run(name: str, throttling: Throttling | None = None, overran: bool = False) -> BenchRun:
    return BenchRun(
        name=name,
        roles=["peak"],
        rayon_threads=2,
        torch_threads=0,
        threads=2,
        repeats=2,
        wall_seconds=0.4,
        cpu_seconds=0.4,
        speedup=1.1,
        efficiency=0.55,
        wait_share=0.6,
        throttling=throttling,
        overran=overran,
    )


def test_findings_follow_the_measurements() -> None:
    metrics = BenchMetrics(effective=1, plan_threads=2, peak_threads=2, expected_own_wait_share=0.5)
    throttled = Throttling(periods=8, throttled_periods=3, throttled_seconds=0.15)
    report = _report_with(
        Bench(
            verdict="oversubscribed",
            reason="the plan's 2 threads exceed the CPU quota",
            runs=[_run("peak", throttled, overran=True)],
            metrics=metrics,
            overruns=["peak round 2: cancelled after 0.300 s (expected 0.100 s)"],
        )
    )
    findings = {f.id: f for f in check(report)}
    assert set(findings) == {"bench-oversubscribed", "cgroup-throttled", "bench-overran"}
    assert findings["bench-oversubscribed"].severity == "error"  # 2 threads on 1 CPU
    assert "3 of 8 quota periods throttled" in findings["cgroup-throttled"].evidence
    assert all(f.section == "bench" for f in findings.values())

    calm = _report_with(
        Bench(
            verdict="ok",
            runs=[_run("peak", Throttling(periods=8, throttled_periods=0, throttled_seconds=0))],
        )
    )
    assert check(calm) == []


def test_the_measured_section_renders_runs_and_the_verdict_in_words() -> None:
    report = _report_with(
        Bench(
            verdict="contended",
            reason="other processes take the CPUs",
            evidence=["wait share at 2 threads (right-sized): 60%"],
            runs=[_run("rayon-1"), _run("peak", overran=True)],
            budget_seconds=1.0,
            elapsed_seconds=0.93,
        )
    )
    console = Console(file=io.StringIO(), width=80, color_system=None)
    body = render_bench(report, True)
    assert body is not None
    console.print(body)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "rayon-1" in text and "peak (cancelled)" in text
    assert "1.10×" in text and "55%" in text and "60%" in text
    assert "verdict contended: other processes take the CPUs" in text
    assert "wait share at 2 threads" in text  # the evidence, with --full
    assert "0.93 s of a 1 s budget" in text
