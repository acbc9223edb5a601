"""--pid --single-process against real processes this test starts (and kills), read-only.

The process alone is sampled by the same sampler as a tree (``report.observed``, one row)."""

from __future__ import annotations

import json
import os
import re
import selectors
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from helpers import expected_threading_env, run_cli, script, target_environ

import lkdoctor
from lkdoctor.report import report_json_schema

#: torch with 6 intra-op threads, all pinned to one CPU, multiplying matrices for ever.
BURN = textwrap.dedent(
    """
    import os
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    import torch
    torch.set_num_threads(6)
    a = torch.randn(384, 384)
    a @ a
    print("ready", flush=True)
    while True:
        a @ a
    """
)

IDLE = 'import time; print("ready", flush=True); time.sleep(600)'


def start(code: str, env: dict[str, str]) -> subprocess.Popen[str]:
    """Start ``code`` and wait (at most 120 s) until it prints its ready line."""
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        text=True,
        env=target_environ(env),
    )
    assert proc.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        ready = selector.select(timeout=120)
    if not ready or proc.stdout.readline().strip() != "ready":
        proc.kill()
        proc.wait(10)
        pytest.fail("the target process did not start within 120 s")
    return proc


def stop(proc: subprocess.Popen[str]) -> None:
    proc.kill()
    proc.wait(10)
    if proc.stdout:
        proc.stdout.close()


@pytest.fixture(scope="module")
def burner() -> Iterator[subprocess.Popen[str]]:
    proc = start(BURN, {"OMP_NUM_THREADS": "6", "LK_NUM_THREADS": "4", "APP_TOKEN": "s3cret"})
    try:
        yield proc
    finally:
        stop(proc)


@pytest.fixture
def idler() -> Iterator[subprocess.Popen[str]]:
    proc = start(IDLE, {"RAYON_NUM_THREADS": "1"})
    try:
        yield proc
    finally:
        stop(proc)


def pid_json(pid: int, *extra: str) -> dict[str, Any]:
    result = run_cli(
        script("lkdoctor"), "--pid", str(pid), "--single-process", "--json", "--no-bench", *extra
    )
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


@pytest.mark.torch
def test_six_torch_threads_on_one_cpu_are_oversubscribed(burner: subprocess.Popen[str]) -> None:
    data = pid_json(burner.pid, "--sample-time", "1")
    jsonschema.validate(data, report_json_schema())
    observed = data["observed"]
    [process] = observed["processes"]  # the process alone, no children
    assert process["pid"] == observed["root_pid"] == burner.pid and not observed["tree"]
    assert data["cpu"]["effective"] == 1 and observed["cpus"] == 1  # its affinity, not ours
    assert observed["seconds"] >= 1  # the window asked for, at least
    assert not [e for e in data["errors"] if "schedstat" in e["message"]]  # measured, not guessed
    assert process["avg_runnable"] > 1.5  # several of its 6 workers queue for the one CPU
    assert process["avg_waiting"] > 0.5
    assert observed["avg_runnable"] == process["avg_runnable"]
    assert process["threads"] >= 6
    assert {"libgomp", "libtorch_cpu"} <= set(process["libraries"])
    assert process["env"] == expected_threading_env(
        {"LK_NUM_THREADS": "4", "OMP_NUM_THREADS": "6"}
    )  # no APP_TOKEN
    assert data["plan"]["levels"][0]["threads"] == 4  # the plan of *its* environment
    [finding] = [f for f in data["findings"] if f["id"] == "process-oversubscribed"]
    assert finding["severity"] in ("warning", "error")
    assert finding["env"]["OMP_NUM_THREADS"] == "1"
    assert finding["section"] == "observed"
    assert data["pools"] is None  # the doctor's own pools are not the target's: not shown


@pytest.mark.torch
def test_pid_text_shows_runnable_threads_against_its_cpus(burner: subprocess.Popen[str]) -> None:
    result = run_cli(
        script("lkdoctor"),
        "--pid",
        str(burner.pid),
        "--single-process",
        "--no-bench",
        "--sample-time",
        "0.5",
        "--full",  # each process's environment too
    )
    assert result.returncode == 0, result.stderr
    assert re.search(r"^[!✗] Observed$", result.stdout, re.MULTILINE), result.stdout
    section = result.stdout.split("Observed", 1)[1]
    assert f"pid {burner.pid}, the process alone" in section
    assert "runnable" in section and "> 1 CPUs" in section
    assert "libgomp" in section and "OMP_NUM_THREADS=6" in section


def test_an_idle_process_fits(idler: subprocess.Popen[str]) -> None:
    report = lkdoctor.collect(pid=idler.pid, sample_time=0.3, tree=False)
    observed = report.observed
    assert observed is not None and not observed.tree
    [process] = observed.processes
    assert process.pid == idler.pid
    assert process.avg_runnable < 0.5 and observed.peak_runnable < 1  # asleep throughout
    assert process.threads == 1
    assert process.env == expected_threading_env({"RAYON_NUM_THREADS": "1"})
    assert "libtorch_cpu" not in process.libraries
    assert not [f for f in report.findings if f.id == "process-oversubscribed"]
    assert observed.oversubscribed_share == 0


def test_missing_process_is_a_one_line_exit_2() -> None:
    pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    result = run_cli(script("lkdoctor"), "--pid", str(pid_max + 1), "--no-bench")
    assert result.returncode == 2
    assert result.stderr.strip() == f"lkdoctor: no process with pid {pid_max + 1}"
    assert result.stdout == ""
    with pytest.raises(ProcessLookupError):
        lkdoctor.collect(pid=pid_max + 1)


def test_unreadable_environ_and_maps_are_errors_not_crashes(idler: subprocess.Popen[str]) -> None:
    """As another user, /proc/PID/environ and maps are closed; the rest is still reported."""
    assert os.geteuid() == 0, "the suite runs as root, which can become another user"
    code = textwrap.dedent(
        f"""
        import os, lkdoctor
        lkdoctor.collect(pid=os.getpid(), sample_time=0.05)  # load every module while root
        os.setgid(65534)
        os.setuid(65534)  # nobody: may not read a root process's environ or maps
        print(lkdoctor.collect(pid={idler.pid}, sample_time=0.2, tree=False).model_dump_json())
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    messages = [e["message"] for e in data["errors"] if e["section"] == "observed"]
    assert any("PermissionError" in m and "environment" in m for m in messages), messages
    assert any("threading libraries (maps) not read" in m for m in messages), messages
    [process] = data["observed"]["processes"]
    assert process["threads"] == 1 and process["env"] == {} and process["libraries"] == []


def test_a_process_that_exits_while_sampled_ends_the_window() -> None:
    """The target runs until the test closes its stdin, which the test does once sampling
    has begun; the window then ends with it (not after the 60 s asked for)."""
    from lkdoctor.observe.sampler import TreeSampler

    target = subprocess.Popen(
        [sys.executable, "-c", "import sys; print('ready', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=target_environ({}),
    )
    assert target.stdin is not None and target.stdout is not None
    assert target.stdout.readline().strip() == "ready"

    def end_the_target(sampler: TreeSampler) -> None:
        if sampler.samples == 2 and target.stdin is not None:  # sampling is under way
            target.stdin.close()
            target.wait(timeout=60)  # exited and reaped: its /proc entries are gone

    try:
        sampler = TreeSampler(target.pid, cpus=1, tree=False)
        sampler.run_for(60, end_the_target)
    finally:
        stop(target)
    observed = sampler.result().value
    assert observed is not None and sampler.samples >= 2
    [row] = observed.processes
    assert row.pid == target.pid and row.exited
    assert observed.seconds < 60
