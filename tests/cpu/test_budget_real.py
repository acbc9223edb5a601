"""The CPU budget under real limits: taskset and a real cgroup CPU quota (as root).

The quota tests create a child of this process's own cpu cgroup (v1 ``cpu`` controller,
or cgroup v2 with the cpu controller), run the doctor inside it and always remove it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fixtures.real_cgroup import QuotaGroup, make_quota_group
from helpers import run_cli, script

from lkdoctor.host import cgroup as cgroup


@pytest.fixture(params=["own", "parent"])
def quota_group(request: pytest.FixtureRequest) -> Iterator[QuotaGroup]:
    group = make_quota_group(on_parent=request.param == "parent")
    request.addfinalizer(group.remove)
    yield group
    assert group.parent.exists()


@pytest.fixture
def own_quota_group(request: pytest.FixtureRequest) -> Iterator[QuotaGroup]:
    group = make_quota_group(on_parent=False)
    request.addfinalizer(group.remove)
    yield group


def doctor_json(*prefix: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    result = run_cli(*prefix, script("lkdoctor"), "--json", "--no-bench", add_env=env)
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
    group = make_quota_group(on_parent=False, quota_us=10000)
    request.addfinalizer(group.remove)
    burn = (
        "import json, time\n"
        "from lkdoctor.host.cgroup import read_cpu_stat\n"
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
    """``collect_cpu`` of a ``--pid`` target: that process's cgroup and affinity."""
    assert TASKSET
    from lkdoctor.cpu.budget import collect_cpu
    from lkdoctor.target import read_target

    name = own_quota_group.leaf.name
    child = subprocess.Popen([TASKSET, "-c", "0", *own_quota_group.command("sleep", "30")])
    try:
        deadline = time.monotonic() + 10
        while name not in Path(f"/proc/{child.pid}/cgroup").read_text():
            assert time.monotonic() < deadline, "the child never joined its cgroup"
            time.sleep(0.02)
        budget = collect_cpu(read_target(pid=child.pid, environ={"NSLOTS": "1"}))
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
    ours = collect_cpu(read_target(environ={})).cgroup
    assert ours is not None and ours.quota is None
