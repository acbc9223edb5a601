"""The memory part of the workers section: the memory budget (cgroup v1/v2, own and
ancestors, tightest wins; else the host's available memory), /dev/shm and the segments in
it whose owner is gone — on fixture trees in the kernel's formats and on the live machine."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from helpers import run_cli, script

from lkdoctor.checks.workers_memory import leftovers_finding
from lkdoctor.host.shm import held_segment_names, list_segments
from lkdoctor.model import Severity
from lkdoctor.workers.memory import collect_memory

MIB = 1 << 20

MOUNTINFO = (
    "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
    "25 22 0:23 / /dev/shm rw,nosuid,nodev shared:4 - tmpfs shm rw,size=65536k\n"
    "30 22 0:26 / /sys/fs/cgroup rw,nosuid shared:9 - cgroup2 cgroup2 rw\n"
)
MEMINFO = "MemTotal:       16384000 kB\nMemAvailable:    8192000 kB\n"


def _write(path: Path, text: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)


def fake_root(tmp_path: Path, *, own_max: str, parent_max: str) -> Path:
    root = tmp_path / "root"
    _write(root / "proc/self/mountinfo", MOUNTINFO)
    _write(root / "proc/self/cgroup", "0::/docker/abc\n")
    _write(root / "proc/meminfo", MEMINFO)
    group = root / "sys/fs/cgroup/docker"
    _write(group / "abc/memory.max", own_max)
    _write(group / "abc/memory.current", str(50 * MIB))
    _write(group / "memory.max", parent_max)
    _write(group / "memory.current", str(100 * MIB))
    shm = root / "dev/shm"
    for name in ("psm_dead", "psm_held_by_map", "psm_held_by_fd", "torch_4242_alive"):
        _write(shm / name, b"x" * 8192)
    _write(shm / "torch_999999999_gone", b"x" * 16384)
    _write(shm / "not_ours", b"x" * 4096)
    # pid 4242 lives: it maps one segment and has another open
    _write(root / "proc/4242/maps", "7f00-7f02 rw-s 00000000 00:17 5 /dev/shm/psm_held_by_map\n")
    (root / "proc/4242/fd").mkdir(parents=True)
    os.symlink("/dev/shm/psm_held_by_fd", root / "proc/4242/fd/3")
    return root


def test_the_tightest_limit_wins_and_the_budget_is_what_that_group_has_left(
    tmp_path: Path,
) -> None:
    root = fake_root(tmp_path, own_max="1073741824\n", parent_max=f"{512 * MIB}\n")
    memory = collect_memory(root)
    assert memory.limit_bytes == 512 * MIB
    assert memory.limit_path == str(root / "sys/fs/cgroup/docker/memory.max")
    assert memory.usage_bytes == 100 * MIB
    assert memory.budget_bytes == 412 * MIB
    assert memory.host_available_bytes == 8192000 * 1024


def test_without_a_limit_the_hosts_available_memory_is_the_budget(tmp_path: Path) -> None:
    root = fake_root(tmp_path, own_max="max\n", parent_max="max\n")
    memory = collect_memory(root)
    assert memory.limit_bytes is None
    assert memory.budget_bytes == 8192000 * 1024
    assert "MemAvailable" in memory.budget_source


def test_a_malformed_limit_is_a_note_not_a_crash(tmp_path: Path) -> None:
    root = fake_root(tmp_path, own_max="lots\n", parent_max="max\n")
    memory = collect_memory(root)
    assert memory.limit_bytes is None
    assert any("lots" in note for note in memory.notes)


def test_the_shm_mount_and_only_segments_nobody_holds_are_leftovers(tmp_path: Path) -> None:
    root = fake_root(tmp_path, own_max="max\n", parent_max="max\n")
    memory = collect_memory(root)
    assert memory.shm is not None
    assert (memory.shm.mounted, memory.shm.fstype, memory.shm.mount_source) == (
        True,
        "tmpfs",
        "shm",
    )
    names = {s.name: s for s in memory.leftovers}
    assert set(names) == {"psm_dead", "torch_999999999_gone"}
    assert names["torch_999999999_gone"].owner_pid == 999999999
    assert names["torch_999999999_gone"].kind == "torch"
    assert names["psm_dead"].kind == "lenskit"
    assert names["psm_dead"].size_bytes >= 8192
    finding = leftovers_finding(memory)
    assert finding.id == "shm-leftovers"
    assert finding.severity == Severity.WARNING
    assert finding.remediation.startswith("rm -f ")
    assert "/dev/shm/psm_dead" in finding.remediation
    assert "/dev/shm/torch_999999999_gone" in finding.remediation
    assert "psm_held" not in finding.remediation


#: A process that creates a SharedMemory segment as LensKit's pickler does, says its name,
#: and waits to be killed; with its resource tracker killed too nobody unlinks it.
CREATES_SEGMENT = (
    "from multiprocessing import shared_memory; import time; "
    "s = shared_memory.SharedMemory(create=True, size=3 * 1024 * 1024); "
    "s.buf[:] = b'x' * len(s.buf); print(s.name.lstrip('/'), flush=True); time.sleep(600)"
)


def test_a_segment_of_a_killed_process_is_found_and_the_doctor_leaves_none(
    tmp_path: Path,
) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CREATES_SEGMENT],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its resource tracker is in the group and dies with it
    )
    assert child.stdout is not None
    name = child.stdout.readline().strip()
    try:
        assert name.startswith("psm_")
        held = collect_memory()
        assert name not in {s.name for s in held.leftovers}, "a live owner's segment"
        os.killpg(child.pid, signal.SIGKILL)
        child.wait(10)
        time.sleep(0.5)  # the tracker's exit
        before = {s.name for s in list_segments()}
        assert name in before
        result = run_cli(script("lkdoctor"), "--no-bench", "--json", timeout=180)
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        leftovers = {s["name"]: s for s in report["workers"]["memory"]["leftovers"]}
        assert name in leftovers
        assert leftovers[name]["size_bytes"] >= 3 * MIB
        finding = next(f for f in report["findings"] if f["id"] == "shm-leftovers")
        # the rm line names 20 and counts the rest (a shared machine may have more)
        assert f"/dev/shm/{name}" in finding["remediation"] or "more)" in finding["remediation"]
        assert finding["remediation"].startswith("rm -f /dev/shm/")
        assert {s.name for s in list_segments()} == before, "the doctor changed /dev/shm"
    finally:
        with contextlib.suppress(OSError):
            os.killpg(child.pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            os.unlink(f"/dev/shm/{name}")
    assert name not in held_segment_names()
