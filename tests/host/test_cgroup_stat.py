"""read_cpu_stat / cpu_pressure_path: the throttling counters the benchmarks diff."""

from __future__ import annotations

from pathlib import Path

from fixtures.cgroup_trees import (
    HYBRID_MOUNTINFO,
    V2_MOUNTINFO,
    FakeHost,
    v1_cgroup_lines,
)

from lkdoctor.host.cgroup import cpu_pressure_path, read_cpu_stat


def test_v1_cpu_stat_of_own_group_not_the_root(tmp_path: Path) -> None:
    host = FakeHost(tmp_path)
    host.process(v1_cgroup_lines(cpu="/batch/job7") + "0::/\n", HYBRID_MOUNTINFO)
    host.write("/sys/fs/cgroup/cpu/cpu.stat", "nr_periods 1\nnr_throttled 0\nthrottled_time 0\n")
    host.v1_cpu("/sys/fs/cgroup/cpu/batch/job7", 50000)
    stats = read_cpu_stat(tmp_path)
    assert stats == {
        "nr_periods": 120,
        "nr_throttled": 30,
        "throttled_time": 4500000000,
        "nr_bursts": 0,
        "burst_time": 0,
    }


def test_v2_cpu_stat_and_pressure_of_another_pid(tmp_path: Path) -> None:
    host = FakeHost(tmp_path)
    host.process("0::/system.slice/app.service\n", V2_MOUNTINFO, pid=4242)
    own = "/sys/fs/cgroup/system.slice/app.service"
    host.v2_group(own, cpu_max="50000 100000", cpu_pressure="some avg10=0.00 total=1\n")
    stats = read_cpu_stat(tmp_path, pid=4242)
    assert stats is not None
    assert (stats["nr_periods"], stats["nr_throttled"], stats["throttled_usec"]) == (80, 8, 640000)
    assert cpu_pressure_path(tmp_path, pid=4242) == tmp_path / own.lstrip("/") / "cpu.pressure"
    # our own process is not in that group: no /proc/self/cgroup, so nothing to read
    assert read_cpu_stat(tmp_path) is None
    assert cpu_pressure_path(tmp_path) is None


def test_v1_stat_preferred_over_v2_usage_only_on_hybrid(tmp_path: Path) -> None:
    host = FakeHost(tmp_path)
    host.process(v1_cgroup_lines() + "0::/\n", HYBRID_MOUNTINFO)
    host.v2_group("/sys/fs/cgroup/unified")  # usage only: no cpu controller in v2
    host.v1_cpu("/sys/fs/cgroup/cpu", -1)
    stats = read_cpu_stat(tmp_path)
    assert stats is not None and "throttled_time" in stats
    assert cpu_pressure_path(tmp_path) is None  # no cpu.pressure file written


def test_garbage_and_missing_cpu_stat(tmp_path: Path) -> None:
    host = FakeHost(tmp_path)
    host.process("0::/x\n", V2_MOUNTINFO)
    assert read_cpu_stat(tmp_path) is None  # directory does not exist
    host.write("/sys/fs/cgroup/x/cpu.stat", "garbage\nnr_periods abc\n\x00\x01\n")
    assert read_cpu_stat(tmp_path) is None


def test_live_host_cpu_stat_has_throttling_counters() -> None:
    # This machine: hybrid, v1 cpu controller, cgroup2 at /sys/fs/cgroup/unified.
    stats = read_cpu_stat()
    assert stats is not None
    assert {"nr_periods", "nr_throttled"} <= stats.keys()
    assert "throttled_time" in stats or "throttled_usec" in stats
    pressure = cpu_pressure_path()
    assert pressure is None or pressure.read_text().startswith("some ")
