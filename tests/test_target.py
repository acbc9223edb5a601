"""The diagnosed process is turned into facts once per report (``lkdoctor/target.py``)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fixtures.cgroup_trees import V2_MOUNTINFO, FakeHost
from helpers import ready_process, target_environ

import lkdoctor
from lkdoctor.target import read_target

IDLE = 'import time; print("ready", flush=True); time.sleep(120)'


@pytest.fixture
def sleeping_child() -> Iterator[subprocess.Popen[str]]:
    env = target_environ({"LK_NUM_THREADS": "3", "OMP_NUM_THREADS": "2"})
    with ready_process([sys.executable, "-c", IDLE], env=env, cwd="/") as child:
        yield child


def test_a_pid_report_reads_the_targets_environ_affinity_and_cgroups_once(
    sleeping_child: subprocess.Popen[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pid = sleeping_child.pid
    environ_file, cgroup_file = f"/proc/{pid}/environ", f"/proc/{pid}/cgroup"
    reads: dict[str, int] = {"environ": 0, "affinity": 0, "cgroup": 0}
    real_read_bytes, real_read_text = Path.read_bytes, Path.read_text
    real_getaffinity = os.sched_getaffinity

    def read_bytes(path: Path) -> bytes:
        if str(path) == environ_file:
            reads["environ"] += 1
        return real_read_bytes(path)

    def read_text(path: Path, *args: Any, **kwargs: Any) -> str:
        if str(path) == cgroup_file:
            reads["cgroup"] += 1
        return real_read_text(path, *args, **kwargs)

    def sched_getaffinity(who: int) -> set[int]:
        if who == pid:
            reads["affinity"] += 1
        return real_getaffinity(who)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    monkeypatch.setattr(Path, "read_text", read_text)
    monkeypatch.setattr(os, "sched_getaffinity", sched_getaffinity)
    report = lkdoctor.collect(pid=pid, sample_time=0.3)
    monkeypatch.undo()

    assert reads == {"environ": 1, "affinity": 1, "cgroup": 1}
    # and those reads made the report: the budget, the plan and the sampled process
    assert report.cpu is not None and report.observed is not None and report.plan is not None
    affinity = next(row for row in report.cpu.limits if row.source == "affinity")
    assert affinity.value == len(real_getaffinity(pid))
    assert affinity.detail == f"os.sched_getaffinity({pid})"
    row = next(p for p in report.observed.processes if p.pid == pid)
    assert row.env["LK_NUM_THREADS"] == "3" and row.env["OMP_NUM_THREADS"] == "2"
    assert report.environment is not None
    assert report.environment.variables["LK_NUM_THREADS"] == "3"


def fake_target_tree(tmp_path: Path) -> Path:
    root = tmp_path / "host"
    host = FakeHost(root)
    host.process("0::/job\n", V2_MOUNTINFO, pid=77, cpus_allowed="0-2,5")
    host.v2_group("/sys/fs/cgroup/job", cpu_max="150000 100000")
    proc = root / "proc" / "77"
    stat = "77 (python) S " + " ".join(["0"] * 50) + "\n"
    for where in (proc, proc / "task" / "77"):
        where.mkdir(parents=True, exist_ok=True)
        (where / "stat").write_text(stat)
    (proc / "task" / "77" / "schedstat").write_text("1000 0 1\n")
    (proc / "comm").write_text("python\n")
    (proc / "cmdline").write_bytes(b"python\0train.py\0--epochs\0\0")
    (proc / "cwd").symlink_to(tmp_path)
    return root


def test_read_target_reads_another_process_from_its_proc_files(tmp_path: Path) -> None:
    root = fake_target_tree(tmp_path)
    (root / "proc" / "77" / "environ").write_bytes(b"LK_NUM_THREADS=2\0HOME=/home/ana\0")
    target = read_target(root, pid=77)
    assert target.foreign and not target.live
    assert dict(target.environ) == {"LK_NUM_THREADS": "2", "HOME": "/home/ana"}
    assert target.environ_error is None
    assert target.command == ("python", "train.py", "--epochs")
    assert target.cwd == tmp_path
    assert target.affinity == {0, 1, 2, 5}
    assert target.affinity_source.endswith("/proc/77/status Cpus_allowed_list")
    assert target.cgroup is not None and target.cgroup_error is None
    assert [m.path for m in target.cgroup.memberships] == ["/job"]
    # a fixture's CPUs are never handed to a real child as the target's
    assert target.foreign_affinity() is None


def test_what_cannot_be_read_is_kept_for_the_report_to_say(tmp_path: Path) -> None:
    root = fake_target_tree(tmp_path)  # no environ file: as when it is not ours to read
    target = read_target(root, pid=77)
    assert dict(target.environ) == {}
    assert isinstance(target.environ_error, FileNotFoundError)
    report = lkdoctor.collect(root=root, pid=77, sample_time=0.05)
    pools_errors = [e.message for e in report.errors if e.section == "pools"]
    assert len(pools_errors) == 1 and pools_errors[0].startswith("FileNotFoundError")
    # the sampler took the same read (a file that is gone: the process has just ended)
    assert [e.message for e in report.errors if "environment not read" in e.message] == []


def test_this_process_as_target_is_the_environment_as_found() -> None:
    given: dict[str, Any] = {"LK_NUM_THREADS": "5"}
    target = read_target(environ=given)
    assert target.environ is given and not target.foreign and target.live
    assert target.cwd == Path(os.getcwd())
    assert target.affinity == os.sched_getaffinity(0)
    assert target.affinity_source == "os.sched_getaffinity(0)"
    assert target.command == () and target.foreign_affinity() is None
    assert read_target().environ == dict(os.environ)
