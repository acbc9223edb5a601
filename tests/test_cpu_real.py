"""The CPU budget under real limits: taskset and a real cgroup CPU quota (as root).

The quota tests create a child of this process's own cpu cgroup (v1 ``cpu`` controller,
or cgroup v2 with the cpu controller), run the doctor inside it and always remove it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import run_cli, script

from lkdoctor import cgroup

QUOTA_US, PERIOD_US = 50000, 100000


class QuotaGroup:
    """A real cgroup with a 0.5-CPU quota, set on the group itself or on its parent."""

    def __init__(self, base: Path, version: int, on_parent: bool, quota_us: int = QUOTA_US) -> None:
        self.base = base
        self.version = version
        self.quota_us = quota_us
        if version == 2 and "cpu" not in (base / "cgroup.subtree_control").read_text().split():
            (base / "cgroup.subtree_control").write_text("+cpu")  # children get cpu.max
        self.parent = base / f"lkdoctor-test-{uuid.uuid4().hex[:12]}"
        self.leaf = self.parent / "leaf" if on_parent else self.parent
        self.quota_dir = self.parent
        self.parent.mkdir()
        try:
            self._configure(on_parent)
        except OSError:
            self.remove()
            raise

    def _configure(self, on_parent: bool) -> None:
        if on_parent:
            if self.version == 2:
                (self.parent / "cgroup.subtree_control").write_text("+cpu")
            self.leaf.mkdir()
        if self.version == 1:
            (self.quota_dir / "cpu.cfs_period_us").write_text(str(PERIOD_US))
            (self.quota_dir / "cpu.cfs_quota_us").write_text(str(self.quota_us))
        else:
            (self.quota_dir / "cpu.max").write_text(f"{self.quota_us} {PERIOD_US}")

    @property
    def quota_file(self) -> Path:
        return self.quota_dir / ("cpu.cfs_quota_us" if self.version == 1 else "cpu.max")

    def command(self, *argv: str) -> list[str]:
        """``argv`` run by a shell that first moves itself into the group."""
        return ["sh", "-c", 'echo $$ > "$0" && exec "$@"', str(self.leaf / "cgroup.procs"), *argv]

    def remove(self) -> None:
        """Move any process left behind out, then remove leaf and parent."""
        for group in (self.leaf, self.parent):
            if not group.exists():
                continue
            procs = (group / "cgroup.procs").read_text().split()
            for pid in procs:
                with contextlib.suppress(OSError):  # the process may have exited meanwhile
                    (self.base / "cgroup.procs").write_text(pid)
            for _ in range(50):
                try:
                    group.rmdir()
                    break
                except OSError:
                    time.sleep(0.1)


def _own_cpu_dirs() -> list[tuple[int, Path]]:
    """Own cpu cgroup directories we might create a child in: v1 first, then v2."""
    view = cgroup.discover()
    found = []
    v1 = cgroup.own_directory(view, Path("/"), "cpu")
    if v1 is not None:
        found.append((1, v1[0]))
    v2 = cgroup.own_directory(view, Path("/"), None)
    if v2 is not None:
        with contextlib.suppress(OSError):
            if "cpu" in (v2[0] / "cgroup.controllers").read_text().split():
                found.append((2, v2[0]))
    return found


def _make_group(on_parent: bool, quota_us: int = QUOTA_US) -> QuotaGroup:
    reasons = []
    for version, base in _own_cpu_dirs():
        try:
            return QuotaGroup(base, version, on_parent, quota_us)
        except OSError as exc:
            reasons.append(f"v{version} {base}: {exc}")
    pytest.skip(
        "no writable cpu cgroup (needs root and a v1 cpu controller or cgroup v2 with cpu): "
        + ("; ".join(reasons) or "no cpu controller mounted")
    )


@pytest.fixture(params=["own", "parent"])
def quota_group(request: pytest.FixtureRequest) -> Iterator[QuotaGroup]:
    group = _make_group(on_parent=request.param == "parent")
    request.addfinalizer(group.remove)
    yield group
    assert group.parent.exists()


@pytest.fixture
def own_quota_group(request: pytest.FixtureRequest) -> Iterator[QuotaGroup]:
    group = _make_group(on_parent=False)
    request.addfinalizer(group.remove)
    yield group


def doctor_json(*prefix: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    result = run_cli(*prefix, script("lkdoctor"), "--json", "--no-bench", env=env)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def limits(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["source"]: row for row in data["cpu"]["limits"]}


def binding(data: dict[str, Any]) -> set[str]:
    return {row["source"] for row in data["cpu"]["limits"] if row["binding"]}


TASKSET = shutil.which("taskset")


def test_taskset_one_cpu() -> None:
    assert TASKSET, "taskset (util-linux) is required for this test"
    data = doctor_json(TASKSET, "-c", "0")
    rows = limits(data)
    assert rows["affinity"]["value"] == 1
    assert data["cpu"]["effective"] == 1
    assert "affinity" in binding(data)
    assert rows["rust"]["value"] == 1
    assert data["cpu"]["lenskit_effective"] == 1


def test_real_quota(quota_group: QuotaGroup) -> None:
    data = doctor_json(*quota_group.command())
    rows = limits(data)
    assert rows["cgroup-quota"]["value"] == 0.5
    assert rows["cgroup-quota"]["detail"].startswith(str(quota_group.quota_file))
    assert data["cpu"]["effective"] == 1
    assert "cgroup-quota" in binding(data)
    assert rows["rust"]["value"] == 1  # Rust's available_parallelism sees the quota too
    assert data["cpu"]["cgroup"]["quota"] == 0.5
    assert data["cpu"]["cgroup"]["path"].endswith(
        "/" + quota_group.leaf.relative_to(quota_group.base).as_posix()
    )
    # LensKit counts the affinity mask only
    affinity = len(os.sched_getaffinity(0))
    assert data["cpu"]["lenskit_effective"] == affinity
    mismatch = [f for f in data["findings"] if f["id"] == "cpu-count-mismatch"]
    assert bool(mismatch) == (affinity > 1)
    if mismatch:
        assert mismatch[0]["env"] == data["plan"]["suggested_env"]


def test_done_when_taskset_quota_and_slurm(own_quota_group: QuotaGroup) -> None:
    """Issue #3: taskset -c 0, a 0.5-CPU quota and SLURM_CPUS_PER_TASK=1 → effective 1."""
    assert TASKSET
    command = [TASKSET, "-c", "0", *own_quota_group.command()]
    data = doctor_json(*command, env={"SLURM_CPUS_PER_TASK": "1"})
    rows = limits(data)
    assert data["cpu"]["effective"] == 1
    assert binding(data) == {"affinity", "cgroup-quota", "slurm"}
    assert (rows["affinity"]["value"], rows["cgroup-quota"]["value"], rows["slurm"]["value"]) == (
        1,
        0.5,
        1,
    )
    assert rows["slurm"]["detail"] == "SLURM_CPUS_PER_TASK"
    assert data["cpu"]["lenskit_effective"] == 1

    text = run_cli(
        *command,
        script("lkdoctor"),
        "--no-bench",
        env={"SLURM_CPUS_PER_TASK": "1", "COLUMNS": "80", "TERM": "dumb"},
    )
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), max(lines, key=len)
    table = "\n".join(lines)
    assert "CPU budget" in table
    for source in ("affinity ←", "cgroup-quota ←", "slurm ←"):
        assert source in table
    assert any(line.startswith("cgroup-quota ←") and " 0.5 " in line for line in lines)


def test_real_throttling_counters(request: pytest.FixtureRequest) -> None:
    """A busy loop under a 0.1-CPU quota is throttled; read_cpu_stat sees it from inside.

    0.1 CPU (10 ms per 100 ms period) so that even on a loaded machine the loop gets its
    10 ms in some period; it spins until throttled, at most 20 s.
    """
    group = _make_group(on_parent=False, quota_us=10000)
    request.addfinalizer(group.remove)
    burn = (
        "import json, time\n"
        "from lkdoctor.cgroup import read_cpu_stat\n"
        "start = time.monotonic()\n"
        "stats = read_cpu_stat()\n"
        "while not stats['nr_throttled'] and time.monotonic() < start + 20:\n"
        "    end = time.monotonic() + 0.1\n"
        "    while time.monotonic() < end: pass\n"
        "    stats = read_cpu_stat()\n"
        "print(json.dumps(stats))\n"
    )
    result = run_cli(*group.command(sys.executable, "-c", burn), timeout=60)
    assert result.returncode == 0, result.stderr
    stats = json.loads(result.stdout)
    assert stats["nr_periods"] >= 1
    assert stats["nr_throttled"] >= 1
    throttled = stats.get("throttled_time", stats.get("throttled_usec"))
    assert throttled is not None and throttled > 0


def test_another_process_in_a_quota_group(own_quota_group: QuotaGroup) -> None:
    """``collect_cpu(pid=...)`` as ``--pid`` uses it: that process's cgroup and affinity."""
    assert TASKSET
    from lkdoctor.cpu import collect_cpu

    name = own_quota_group.leaf.name
    child = subprocess.Popen([TASKSET, "-c", "0", *own_quota_group.command("sleep", "30")])
    try:
        deadline = time.monotonic() + 10
        while name not in Path(f"/proc/{child.pid}/cgroup").read_text():
            assert time.monotonic() < deadline, "the child never joined its cgroup"
            time.sleep(0.02)
        budget = collect_cpu(pid=child.pid, environ={"NSLOTS": "1"})
    finally:
        child.kill()
        child.wait(timeout=10)
    rows = {limit.source: limit for limit in budget.limits}
    assert rows["cgroup-quota"].value == 0.5
    assert rows["affinity"].value == 1
    assert rows["sge"].value == 1
    assert budget.effective == 1
    assert budget.cgroup is not None and (budget.cgroup.path or "").endswith(f"/{name}")
    # this process, outside the group, has no such quota
    ours = collect_cpu(environ={}).cgroup
    assert ours is not None and ours.quota is None
