"""`-- COMMAND` totals from a cgroup of the run's own: processes born and gone between two
samples are counted; where no cgroup can be made the totals say they are sampled, and why.

The reference is the kernel's rusage, which the command reports itself for its children
(waited for) and for itself: an account the doctor does not read.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from fixtures.cgroup_trees import HYBRID_MOUNTINFO, FakeHost, v1_cgroup_lines
from helpers import SLEEPS_WHEN_READY, doctor_running, run_cli, script

import lkdoctor
from lkdoctor.observe.command import run_command
from lkdoctor.observe.totals import RunGroup

TARGET = Path(__file__).parent.parent / "short_lived_target.py"
PY = sys.executable
#: 100 children of 10 ms CPU each: every one is gone well within a sample interval.
CHILDREN, EACH = "100", "0.01"


def own_v2_group() -> Path:
    """The cgroup2 directory of this process (the doctor's parent, in the same group),
    found here from /proc/self/cgroup and /proc/self/mounts, not by the doctor's code."""
    [mount] = [
        line.split()[1]
        for line in Path("/proc/self/mounts").read_text().splitlines()
        if line.split()[2] == "cgroup2"
    ]
    [path] = [
        line.split(":", 2)[2]
        for line in Path("/proc/self/cgroup").read_text().splitlines()
        if line.startswith("0::")
    ]
    return Path(mount) / path.lstrip("/")


def run_groups(doctor_pid: int | str = "*") -> set[Path]:
    """The run groups that exist now, in every hierarchy the doctor might use, of every
    doctor or of the one with ``doctor_pid`` (a doctor names its groups with its pid)."""
    roots = [own_v2_group(), Path("/sys/fs/cgroup/cpuacct")]
    pattern = f"lkdoctor-run-{doctor_pid}-*"
    return {path for root in roots if root.is_dir() for path in root.glob(pattern)}


def left_behind() -> set[Path]:
    """Run groups whose doctor has exited. A doctor removes its group before it exits, so
    these are leaks; the groups of doctors still running (other tests' runs beside this
    one) are not."""
    return {
        group
        for group in run_groups()
        if not Path("/proc", group.name.split("-")[2]).exists() and group.exists()
    }


@pytest.mark.cgroup
def test_short_lived_children_are_counted_by_the_runs_own_cgroup(tmp_path: Path) -> None:
    before = left_behind()
    report = tmp_path / "r.json"
    result = run_cli(
        script("lkdoctor"),
        *("--no-bench", "--json", "--report", str(report)),
        *("--", PY, str(TARGET), CHILDREN, EACH),
    )
    assert result.returncode == 0, result.stderr
    rusage = json.loads(result.stdout.strip().splitlines()[-1])
    observed = json.loads(report.read_text())["observed"]
    totals = observed["totals"]
    assert totals["source"] == "cgroup" and totals["reason"] is None
    group = Path(totals["cgroup"])
    assert group.parent == own_v2_group()  # below the doctor's own group
    # a throttling counter exactly where the v2 tree gives the group the cpu controller
    # (the parent's subtree_control lists it), whatever this host's tree enables
    cpu_enabled = "cpu" in (own_v2_group() / "cgroup.subtree_control").read_text().split()
    assert (totals["throttled_seconds"] is not None) is cpu_enabled
    # every process counted: the command's own time and its 100 children's
    expected = rusage["self"] + rusage["children"]
    assert rusage["children"] > 0.8
    assert abs(totals["cpu_seconds"] - expected) <= 0.1 + 0.1 * expected
    # the sampler saw few of the children, and little of their time
    assert observed["cpu_seconds"] < 0.5 * rusage["children"]
    assert len(observed["processes"]) < int(CHILDREN)
    # the group is gone, and no other was left behind
    assert not group.exists()
    assert left_behind() <= before


@pytest.mark.cgroup
def test_the_group_is_removed_when_the_command_cannot_start_or_is_killed(tmp_path: Path) -> None:
    before = left_behind()
    missing = run_cli(script("lkdoctor"), "--no-bench", "--", "/nonexistent/command")
    assert missing.returncode == 127
    assert left_behind() <= before
    report = tmp_path / "r.json"
    killed = run_cli(
        script("lkdoctor"),
        *("--no-bench", "--json", "--report", str(report)),
        *("--", PY, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGTERM)"),
    )
    assert killed.returncode == 128 + 15
    assert json.loads(report.read_text())["observed"]["totals"]["source"] == "cgroup"
    assert left_behind() <= before


def test_text_says_where_the_totals_come_from(tmp_path: Path) -> None:
    report = tmp_path / "r.txt"
    result = run_cli(
        script("lkdoctor"), "--no-bench", "--report", str(report), "--", PY, "-c", "pass"
    )
    assert result.returncode == 0, result.stderr
    assert "counted by its own cgroup" in " ".join(report.read_text().split())
    markdown = tmp_path / "r.md"
    result = run_cli(
        script("lkdoctor"),
        *("--no-bench", "--format", "markdown", "--report", str(markdown)),
        *("--", PY, "-c", "pass"),
    )
    assert result.returncode == 0, result.stderr
    assert "Totals: " in markdown.read_text()
    assert "counted by its own cgroup" in markdown.read_text()


def test_no_cgroup_hierarchy_means_sampled_totals_with_the_reason(tmp_path: Path) -> None:
    host = FakeHost(tmp_path)
    host.process("0::/\n", "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n")
    run = run_command([PY, "-c", "pass"], cpus=1, cgroup_root=tmp_path)
    observed = run.observed.value
    assert observed is not None and observed.totals is not None
    totals = observed.totals
    assert (totals.source, totals.cgroup, totals.throttled_seconds) == ("sampled", None, None)
    assert totals.cpu_seconds == observed.cpu_seconds
    assert (
        totals.reason == "no cgroup of its own: no cgroup hierarchy with CPU accounting is mounted"
    )


def test_a_folder_that_is_no_cgroup_is_tried_and_left_as_found(tmp_path: Path) -> None:
    """The mounts lead to plain folders: a group can be made there but counts nothing, so
    it is removed again and the totals are sampled; a missing folder cannot be written."""
    host = FakeHost(tmp_path)
    host.process(v1_cgroup_lines() + "0::/\n", HYBRID_MOUNTINFO)
    unified = tmp_path / "sys/fs/cgroup/unified"
    unified.mkdir(parents=True)  # the cpuacct mount's folder does not exist
    run = run_command([PY, "-c", "pass"], cpus=1, cgroup_root=tmp_path)
    observed = run.observed.value
    assert observed is not None and observed.totals is not None
    reason = observed.totals.reason or ""
    assert observed.totals.source == "sampled"
    assert "v2: " in reason and "keeps no CPU usage counter" in reason
    assert "v1 cpuacct: cannot create a cgroup in" in reason and "No such file" in reason
    assert list(unified.iterdir()) == []  # the trial group was removed
    assert run.exit_status == 0


def test_pid_totals_are_sampled_and_say_why() -> None:
    target = subprocess.Popen([PY, "-c", "import time; time.sleep(60)"])
    try:
        observed = lkdoctor.collect(pid=target.pid, sample_time=0.1).observed
    finally:
        target.kill()
        target.wait(10)
    assert observed is not None and observed.totals is not None
    assert observed.totals.source == "sampled" and observed.totals.cgroup is None
    assert "--pid inspects running processes read-only" in (observed.totals.reason or "")
    text = run_cli(script("lkdoctor"), "--no-bench", "--pid", str(os.getpid()), "--single-process")
    assert text.returncode == 0, text.stderr
    assert "sampled only: --pid inspects running processes" in " ".join(text.stdout.split())


def test_without_root_no_group_can_be_made_and_the_reason_says_so() -> None:
    """As nobody, the real cgroup hierarchies are not writable: sampled, with the reason."""
    assert os.geteuid() == 0, "the suite runs as root, which can become another user"
    code = textwrap.dedent(
        """
        import os
        from lkdoctor.observe.command import run_command
        os.setgid(65534)
        os.setuid(65534)
        run = run_command(["/bin/true"], cpus=1)  # ours is not readable by nobody
        print(run.observed.value.totals.model_dump_json())
        """
    )
    result = subprocess.run(
        [PY, "-c", code], capture_output=True, text=True, timeout=120, check=False, cwd="/"
    )
    assert result.returncode == 0, result.stderr
    totals = json.loads(result.stdout.strip().splitlines()[-1])
    assert totals["source"] == "sampled" and totals["cgroup"] is None
    assert "cannot create a cgroup in" in totals["reason"]
    assert "Permission denied" in totals["reason"]


@pytest.mark.parametrize(
    ("hierarchy", "files", "expected"),
    [
        ("v2", {"cpu.stat": "usage_usec 2500000\nuser_usec 2000000\n"}, (2.5, None)),
        (
            "v2",
            {
                "cpu.stat": "usage_usec 2500000\nnr_periods 9\nnr_throttled 3\nthrottled_usec 400000\n"
            },
            (2.5, 0.4),
        ),
        (
            "v1 cpuacct",
            {
                "cpuacct.usage": "1500000000\n",
                "cpu.stat": "nr_throttled 2\nthrottled_time 300000000\n",
            },
            (1.5, 0.3),
        ),
        ("v1 cpuacct", {"cpuacct.usage": "1500000000\n"}, (1.5, None)),
        ("v2", {"cpu.stat": "user_usec 1\n"}, None),
        ("v1 cpuacct", {"cpuacct.usage": "garbage\n"}, None),
    ],
)
def test_group_counters_in_both_hierarchies(
    tmp_path: Path, hierarchy: str, files: dict[str, str], expected: tuple[float, float | None]
) -> None:
    """The counters as the kernel writes them: usage, and throttling only where kept."""
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    assert RunGroup(tmp_path, hierarchy).read() == expected


@pytest.mark.cgroup
def test_ctrl_c_to_the_doctor_still_removes_the_group(tmp_path: Path) -> None:
    before = left_behind()
    report = tmp_path / "r.json"
    with doctor_running(report, SLEEPS_WHEN_READY) as proc:
        assert len(run_groups(proc.pid)) == 1  # the command runs in its group
        os.kill(proc.pid, signal.SIGINT)
        proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGINT
    assert json.loads(report.read_text())["observed"]["totals"]["source"] == "cgroup"
    assert not run_groups(proc.pid) and left_behind() <= before


@pytest.mark.cgroup
def test_a_group_abandoned_by_a_killed_doctor_is_removed_by_the_next() -> None:
    gone = subprocess.Popen([PY, "-c", "pass"])
    gone.wait(60)  # its pid names no process now
    abandoned = own_v2_group() / f"lkdoctor-run-{gone.pid}-1"
    abandoned.mkdir()
    try:
        result = run_cli(script("lkdoctor"), "--no-bench", "--", PY, "-c", "pass")
        assert result.returncode == 0, result.stderr
        assert not abandoned.exists()
    finally:
        if abandoned.exists():
            abandoned.rmdir()
