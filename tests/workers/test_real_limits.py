"""The predictions against the real failures they predict: a real small ``/dev/shm``
(a tmpfs in a private mount namespace) kills the batch run with SIGBUS, and a real cgroup
v1 memory limit kills a worker; the doctor says so before, and its suggestion runs."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import script, shm_leftovers_removed
from workers_shared import REAL_TIMEOUT, TARGET

from lkdoctor.host.shm import orphan_segments

# LensKit 2025 runs here leave or look for orphaned /dev/shm segments: one worker runs them all
pytestmark = pytest.mark.xdist_group("dev-shm")

V1_MEMORY = Path("/sys/fs/cgroup/memory")


def _require_root_and_unshare() -> None:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare for a private /dev/shm (CI fails on this skip)")


def in_small_shm(size: str, command: str, env: dict[str, str], logs: Path) -> tuple[str, str]:
    """``command`` (a shell line) with a fresh tmpfs of ``size`` on /dev/shm, seen by it
    alone; its stdout and stderr.

    Output goes to files, not pipes: when SIGBUS kills a batch run, LensKit's
    SharedMemoryManager process (forked from it) is orphaned and lives on, holding the
    run's output descriptors; it is killed here afterwards."""
    out, err = logs.with_suffix(".out"), logs.with_suffix(".err")
    with out.open("w") as stdout, err.open("w") as stderr:
        subprocess.run(
            [
                "unshare",
                "-m",
                "sh",
                "-c",
                f"mount -t tmpfs -o size={size} tmpfs /dev/shm && {command}",
            ],
            stdout=stdout,
            stderr=stderr,
            env={**os.environ, **env},
            timeout=900,
            check=False,
        )
    kill_orphaned_runs()
    return out.read_text(), err.read_text()


def kill_orphaned_runs() -> None:
    """SIGKILL what is left of this file's batch runs: orphans (their parent is init)
    whose command line runs the target."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if ppid == 1 and str(TARGET) in command and " run " in command:
                os.kill(int(entry.name), signal.SIGKILL)


def doctor_line(model: Path, report: Path) -> str:
    return (
        f"{script('lkdoctor')} --no-bench --json --model {model} "
        f"--model-timeout {REAL_TIMEOUT} > {report}"
    )


def run_line(model: Path, report: Path | None = None) -> str:
    """The batch run, watched by the doctor when ``report`` is given (its exit status is
    the command's)."""
    run = f"{sys.executable} {TARGET} run {model}"
    if report is not None:
        run = f"{script('lkdoctor')} --no-bench --json --report {report} -- {run}"
    return f"{run}; echo status=$?"


@pytest.mark.lenskit2025
def test_a_too_small_shm_is_predicted_and_the_real_run_dies_with_sigbus(
    saved_models: dict[str, Path],
    tmp_path: Path,
) -> None:
    _require_root_and_unshare()
    before = {s.name for s in orphan_segments()}
    model = saved_models["itemknn"]  # numpy-backed: megabytes go to shared memory
    env = {"LK_NUM_PROCS": "2"}
    small = tmp_path / "small.json"
    watched = tmp_path / "watched.json"
    out, err = in_small_shm(
        "2m", f"{doctor_line(model, small)}; {run_line(model, watched)}", env, tmp_path / "small"
    )
    report = json.loads(small.read_text())
    cost = report["workers"]["model"]
    assert cost["shm_need_bytes"] > 2 << 20, cost
    finding = next(f for f in report["findings"] if f["id"] == "shm-too-small")
    assert "--shm-size" in finding["remediation"]
    assert f"status={128 + signal.SIGBUS}" in out, (out, err[-2000:])
    # the observer names it: the command killed by SIGBUS, /dev/shm full
    deaths = json.loads(watched.read_text())["workers"]["deaths"]
    assert [(d["who"], d["signal"], d["cause"]) for d in deaths] == [
        ("command", "SIGBUS", "shared-memory-full")
    ]

    large = tmp_path / "large.json"
    size = f"{cost['shm_need_bytes'] * 2 // 1024}k"
    out, err = in_small_shm(
        size, f"{doctor_line(model, large)}; {run_line(model)}", env, tmp_path / "large"
    )
    report = json.loads(large.read_text())
    assert not [f for f in report["findings"] if f["id"] == "shm-too-small"]
    assert "status=0" in out, err[-2000:]
    assert {s.name for s in orphan_segments()} <= before  # the tmpfs went with the namespace


def _own_v1_memory_group() -> Path | None:
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            return V1_MEMORY / path.lstrip("/")
    return None


@contextlib.contextmanager
def memory_group(limit: int) -> Iterator[Path]:
    own = _own_v1_memory_group()
    if own is None or not os.access(own, os.W_OK):
        pytest.skip("needs a writable cgroup v1 memory hierarchy (CI fails on this skip)")
    group = own / f"lkdoctor-test-{os.getpid()}"
    group.mkdir()
    # a run killed for memory leaves its segments (its manager was killed with it)
    with shm_leftovers_removed():
        try:
            (group / "memory.limit_in_bytes").write_text(str(limit))
            yield group
        finally:
            for pid in (group / "cgroup.procs").read_text().split():
                with contextlib.suppress(OSError):
                    os.kill(int(pid), signal.SIGKILL)
            with contextlib.suppress(OSError):
                group.rmdir()


def run_in(group: Path, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``args`` born inside the limited group; what it left there is killed afterwards.

    Output goes through files: the OOM killer picks the largest process of the group,
    often the batch run's parent, and its orphaned workers and SharedMemoryManager would
    hold a pipe open."""
    procs = str(group / "cgroup.procs")

    def enter() -> None:
        with open(procs, "w") as file:
            file.write(str(os.getpid()))

    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        done = subprocess.run(
            args,
            stdout=out,
            stderr=err,
            env={**os.environ, **env},
            preexec_fn=enter,
            timeout=900,
            check=False,
        )
        for pid in (group / "cgroup.procs").read_text().split():
            with contextlib.suppress(OSError):
                os.kill(int(pid), signal.SIGKILL)
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(args, done.returncode, out.read(), err.read())


def doctor_args(model: Path) -> list[str]:
    lkdoctor = script("lkdoctor")
    return [
        lkdoctor,
        "--no-bench",
        "--json",
        "--model",
        str(model),
        "--model-timeout",
        str(REAL_TIMEOUT),
    ]


def measured(model: Path, env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(
        doctor_args(model),
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=900,
        check=True,
    )
    cost: dict[str, Any] = json.loads(done.stdout)["workers"]["model"]
    assert cost["status"] == "measured", cost
    return cost


def peak(cost: dict[str, Any], workers: int) -> int:
    per_worker = cost["worker_base_uss_bytes"] + cost["worker_model_bytes"]
    return (
        cost["parent_rss_bytes"]
        + cost["in_band_bytes"]
        + workers * per_worker
        + cost["shm_need_bytes"]
    )


@pytest.mark.lenskit2025
def test_under_a_real_memory_limit_the_suggested_process_count_runs(
    saved_models: dict[str, Path],
) -> None:
    model = saved_models["itemknn"]
    three = {"LK_NUM_PROCS": "3"}
    cost = measured(model, three)
    # three workers are over by more than a worker; one process (in-process) fits; the
    # doctor itself and its measuring child (about one worker's worth) fit too
    per_worker = cost["worker_base_uss_bytes"] + cost["worker_model_bytes"]
    limit = (peak(cost, 1) + per_worker * 3 // 4) // 4096 * 4096  # v1 keeps whole pages
    with memory_group(limit) as group:
        doctor = run_in(
            group,
            doctor_args(model),
            three,
        )
        assert doctor.returncode == 0, doctor.stderr[-2000:]
        report = json.loads(doctor.stdout)
        assert report["workers"]["memory"]["limit_bytes"] == limit
        finding = next(f for f in report["findings"] if f["id"] == "batch-memory-over-limit")
        fitting = report["workers"]["model"]["largest_fitting_workers"]
        assert 1 <= fitting < 3
        assert finding["env"] == {"LK_NUM_PROCS": str(fitting)}
        killed = run_in(group, [sys.executable, str(TARGET), "run", str(model)], three)
        assert killed.returncode != 0
        # a killed worker is BrokenProcessPool; the OOM killer may pick the parent instead
        assert "BrokenProcessPool" in killed.stderr or killed.returncode == -signal.SIGKILL, (
            killed.returncode,
            killed.stderr[-2000:],
        )
        fits = run_in(group, [sys.executable, str(TARGET), "run", str(model)], finding["env"])
        assert fits.returncode == 0, fits.stderr[-2000:]
