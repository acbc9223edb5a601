"""cgroup discovery and readers against fixture trees (formats copied from real hosts)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fixtures.cgroup_trees import (
    DOCKER_ID,
    DOCKER_V1_MOUNTINFO,
    HYBRID_MOUNTINFO,
    V1_MOUNTINFO,
    V2_MOUNTINFO,
    FakeHost,
    v1_cgroup_lines,
)

from lkdoctor.cpu.budget import collect_cgroup
from lkdoctor.host import cgroup as cgroup
from lkdoctor.host.proc import parse_cpu_list
from lkdoctor.target import read_target

CPU_V1 = "/sys/fs/cgroup/cpu,cpuacct"


def quota(root: Path, pid: int | None = None) -> cgroup.Reading:
    return cgroup.read_quota(cgroup.discover(root, pid), root)


def test_parse_proc_cgroup_v1_v2_and_garbage() -> None:
    text = "12:cpu,cpuacct:/user.slice\n0::/user.slice/x.scope\nnonsense\n3:cpuset\n:::\n"
    parsed = cgroup.parse_proc_cgroup(text)
    assert [(m.hierarchy_id, sorted(m.controllers), m.path) for m in parsed] == [
        (12, ["cpu", "cpuacct"], "/user.slice"),
        (0, [], "/user.slice/x.scope"),
    ]
    assert parsed[1].unified and not parsed[0].unified


def test_parse_mountinfo_keeps_cgroup_mounts_and_unescapes() -> None:
    text = HYBRID_MOUNTINFO + "50 31 0:40 /a\\040b /mnt/my\\040cg rw - cgroup cgroup rw,pids\n"
    mounts = cgroup.parse_mountinfo(text)
    assert [m.mount_point for m in mounts][:2] == ["/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpuacct"]
    assert mounts[-2].version == 2 and mounts[-2].mount_point == "/sys/fs/cgroup/unified"
    assert (mounts[-1].mount_root, mounts[-1].mount_point) == ("/a b", "/mnt/my cg")
    assert "pids" in mounts[-1].options


@pytest.mark.parametrize(
    ("mountinfo", "version"),
    [(V1_MOUNTINFO, "v1"), (V2_MOUNTINFO, "v2"), (HYBRID_MOUNTINFO, "hybrid"), ("", "none")],
)
def test_version_from_mounts(tmp_path: Path, mountinfo: str, version: str) -> None:
    FakeHost(tmp_path).process(v1_cgroup_lines(), mountinfo)
    assert cgroup.discover(tmp_path).version == version


def test_v1_quota_cpuset_and_memory_of_own_group(tmp_path: Path) -> None:
    host = FakeHost(tmp_path)
    host.process(
        v1_cgroup_lines(cpu="/job/7", cpuset="/job/7", memory="/job/7").replace(
            "1:cpu:", "1:cpu,cpuacct:"
        ),
        V1_MOUNTINFO,
    )
    host.v1_cpu(f"{CPU_V1}", -1)
    host.v1_cpu(f"{CPU_V1}/job/7", 150000, 100000)
    host.write("/sys/fs/cgroup/cpuset/job/7/cpuset.cpus", "2-3\n")
    host.write("/sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n")
    host.write("/sys/fs/cgroup/memory/job/7/memory.limit_in_bytes", "4294967296\n")
    info, cpuset_row, quota_row = collect_cgroup(read_target(tmp_path, environ={}))
    assert info.version == "v1"
    assert info.path == "/job/7"
    assert info.quota == 1.5
    assert info.quota_path == str(tmp_path / "sys/fs/cgroup/cpu,cpuacct/job/7/cpu.cfs_quota_us")
    assert (info.cpuset, cpuset_row.value) == ("2-3", 2)
    assert info.memory_limit_bytes == 4 * 2**30
    assert quota_row.value == 1.5 and "counts as 1" in quota_row.detail


def test_v2_cpu_max_cpuset_effective_and_memory_max(tmp_path: Path) -> None:
    host = FakeHost(tmp_path)
    host.process("0::/system.slice/job.service\n", V2_MOUNTINFO)
    own = "/sys/fs/cgroup/system.slice/job.service"
    host.v2_group(
        own,
        cpu_max="250000 100000\n",
        cpuset_cpus_effective="0-1,4-5\n",
        memory_max="max\n",
    )
    host.v2_group("/sys/fs/cgroup/system.slice", cpu_max="max 100000\n", memory_max="8589934592\n")
    info, cpuset_row, quota_row = collect_cgroup(read_target(tmp_path, environ={}))
    assert (info.version, info.path) == ("v2", "/system.slice/job.service")
    assert info.quota == 2.5 and quota_row.value == 2.5
    assert cpuset_row.value == 4
    # the slice's limit applies to the service below it
    assert info.memory_limit_bytes == 8 * 2**30
    assert info.memory_path is not None and info.memory_path.endswith("system.slice/memory.max")


def test_hybrid_reads_v1_cpu_and_v2_cpu_max_and_takes_the_tighter(tmp_path: Path) -> None:
    host = FakeHost(tmp_path)
    host.process(v1_cgroup_lines(cpu="/a") + "0::/a\n", HYBRID_MOUNTINFO)
    host.v1_cpu("/sys/fs/cgroup/cpu/a", 300000)
    host.v2_group("/sys/fs/cgroup/unified/a", cpu_max="120000 100000")
    reading = quota(tmp_path)
    assert reading.value == 1.2
    assert reading.path == tmp_path / "sys/fs/cgroup/unified/a/cpu.max"
    assert cgroup.discover(tmp_path).version == "hybrid"


def test_nested_quota_on_an_ancestor_only(tmp_path: Path) -> None:
    host = FakeHost(tmp_path)
    host.process("0::/batch/user/job/step\n", V2_MOUNTINFO)
    base = "/sys/fs/cgroup"
    host.v2_group(f"{base}/batch/user/job/step", cpu_max="max 100000")
    host.v2_group(f"{base}/batch/user/job", cpu_max="max 100000")
    host.v2_group(f"{base}/batch/user", cpu_max="300000 100000")
    host.v2_group(f"{base}/batch", cpu_max="800000 100000")
    reading = quota(tmp_path)
    assert reading.value == 3.0
    assert reading.path == tmp_path / "sys/fs/cgroup/batch/user/cpu.max"


@pytest.mark.parametrize(
    ("cpu_max", "note"),
    [
        ("max 100000\n", ""),
        ("max\n", ""),
        ("", "unreadable quota"),
        ("lots of cpus\n", "unreadable quota"),
        ("0 100000\n", "unreadable quota"),
        ("\x00\xff\n", "unreadable quota"),
    ],
    ids=["max", "max-alone", "empty", "garbage", "zero", "binary"],
)
def test_quota_max_empty_and_garbage_mean_no_quota(tmp_path: Path, cpu_max: str, note: str) -> None:
    host = FakeHost(tmp_path)
    host.process("0::/x\n", V2_MOUNTINFO)
    host.v2_group("/sys/fs/cgroup/x", cpu_max=cpu_max)
    reading = quota(tmp_path)
    assert reading.value is None
    assert note in reading.note
    _, _, row = collect_cgroup(read_target(tmp_path, environ={}))
    assert row.value is None
    assert ("unreadable" in row.detail) == bool(note)


def test_v1_garbage_period_and_empty_quota_files(tmp_path: Path) -> None:
    host = FakeHost(tmp_path)
    host.process(v1_cgroup_lines(cpu="/g"), V1_MOUNTINFO.replace("cpu,cpuacct", "cpu"))
    host.v1_cpu("/sys/fs/cgroup/cpu/g", 50000, "abc")
    host.write("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "")
    reading = quota(tmp_path)
    assert reading.value is None
    assert "'50000' / 'abc'" in reading.note and "cpu.cfs_quota_us: unreadable" in reading.note


def test_garbage_proc_files_never_raise(tmp_path: Path) -> None:
    host = FakeHost(tmp_path)
    host.process("\x00garbage\n::\n1:cpu\n", "1 2 3\n - - -\n garbage - cgroup\n")
    info, cpuset_row, quota_row = collect_cgroup(read_target(tmp_path, environ={}))
    assert info.version == "none"
    assert cpuset_row.value is None and quota_row.value is None
    assert "no cgroup mounts" in quota_row.detail


def test_missing_cpu_controller(tmp_path: Path) -> None:
    host = FakeHost(tmp_path)
    only_memory = "".join(line + "\n" for line in V1_MOUNTINFO.splitlines() if "cpu" not in line)
    host.process(v1_cgroup_lines(cpu="/a"), only_memory)
    host.v1_cpu("/sys/fs/cgroup/cpu/a", 50000)  # not mounted: must not be read
    info, cpuset_row, quota_row = collect_cgroup(read_target(tmp_path, environ={}))
    assert info.version == "v1" and info.quota is None
    assert quota_row.value is None and "no CPU quota" in quota_row.detail
    assert cpuset_row.value is None and "no cpuset controller" in cpuset_row.detail


def test_missing_proc_files_are_notes(tmp_path: Path) -> None:
    info, _, _ = collect_cgroup(read_target(tmp_path, pid=99999, environ={}))
    assert info.version == "none"
    assert any("99999/cgroup is not readable" in note for note in info.notes)


def test_bind_mounted_container_root(tmp_path: Path) -> None:
    """Docker without a cgroup namespace: the mount shows only /docker/<id>."""
    host = FakeHost(tmp_path)
    docker = f"/docker/{DOCKER_ID}"
    host.process(
        f"3:memory:{docker}\n2:cpuset:{docker}\n1:cpu,cpuacct:{docker}\n", DOCKER_V1_MOUNTINFO
    )
    host.v1_cpu(CPU_V1, 200000)  # the mount's top directory IS /docker/<id> on the host
    host.write("/sys/fs/cgroup/cpuset/cpuset.cpus", "0-7\n")
    host.write("/sys/fs/cgroup/memory/memory.limit_in_bytes", "2147483648\n")
    info, cpuset_row, quota_row = collect_cgroup(read_target(tmp_path, environ={}))
    assert info.path == docker
    assert quota_row.value == 2.0
    assert info.quota == 2.0
    assert info.quota_path == str(tmp_path / "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us")
    assert cpuset_row.value == 8
    assert info.memory_limit_bytes == 2 * 2**30


def test_bind_mounted_root_with_a_subgroup(tmp_path: Path) -> None:
    host = FakeHost(tmp_path)
    docker = f"/docker/{DOCKER_ID}"
    host.process(f"1:cpu,cpuacct:{docker}/worker/3\n", DOCKER_V1_MOUNTINFO)
    host.v1_cpu(CPU_V1, 400000)
    host.v1_cpu(f"{CPU_V1}/worker", 100000)
    host.v1_cpu(f"{CPU_V1}/worker/3", -1)
    reading = quota(tmp_path)
    assert reading.value == 1.0
    assert reading.path == tmp_path / "sys/fs/cgroup/cpu,cpuacct/worker/cpu.cfs_quota_us"


def test_own_path_outside_the_mounted_root_falls_back_to_the_mount(tmp_path: Path) -> None:
    host = FakeHost(tmp_path)
    host.process("1:cpu,cpuacct:/other/place\n", DOCKER_V1_MOUNTINFO)
    host.v1_cpu(CPU_V1, 300000)
    assert quota(tmp_path).value == 3.0


def test_another_pid_uses_its_cgroup_file(tmp_path: Path) -> None:
    host = FakeHost(tmp_path)
    host.process("0::/fast\n", V2_MOUNTINFO)
    host.process("0::/slow\n", V2_MOUNTINFO, pid=31337)
    host.v2_group("/sys/fs/cgroup/fast", cpu_max="400000 100000")
    host.v2_group("/sys/fs/cgroup/slow", cpu_max="50000 100000")
    assert quota(tmp_path).value == 4.0
    assert quota(tmp_path, 31337).value == 0.5


def test_memory_unlimited_and_garbage(tmp_path: Path) -> None:
    host = FakeHost(tmp_path)
    host.process("0::/m\n", V2_MOUNTINFO)
    host.v2_group("/sys/fs/cgroup/m", memory_max="a lot\n")
    view = cgroup.discover(tmp_path)
    reading = cgroup.read_memory_limit(view, tmp_path)
    assert reading.value is None and "unreadable memory limit" in reading.note


def test_host_memory_from_meminfo(tmp_path: Path) -> None:
    host = FakeHost(tmp_path)
    host.write("/proc/meminfo", "MemTotal:       24684084 kB\nMemFree:        17985104 kB\n")
    assert cgroup.read_host_memory(tmp_path) == 24684084 * 1024
    host.write("/proc/meminfo", "garbage\nMemTotal: lots\n")
    assert cgroup.read_host_memory(tmp_path) is None


def test_quota_rounding_like_rust() -> None:
    assert [cgroup.quota_cpus(q) for q in (0.01, 0.5, 1.0, 1.99, 2.5, 64.0)] == [1, 1, 1, 1, 2, 64]


def test_live_host_discovery_matches_proc() -> None:
    import os

    view = cgroup.discover()
    text = Path("/proc/self/cgroup").read_text()
    assert [m.path for m in view.memberships] == [line.split(":", 2)[2] for line in text.split()]
    fstypes = {
        line.split(" - ")[1].split()[0]
        for line in Path("/proc/self/mountinfo").read_text().splitlines()
    }
    expected = {
        (True, True): "hybrid",
        (True, False): "v1",
        (False, True): "v2",
        (False, False): "none",
    }[("cgroup" in fstypes, "cgroup2" in fstypes)]
    assert view.version == expected
    info, cpuset_row, _ = collect_cgroup(read_target(Path("/"), environ={}))
    assert info.cpuset_path is not None and info.cpuset is not None
    assert Path(info.cpuset_path).read_text().strip() == info.cpuset
    cpus = parse_cpu_list(info.cpuset)
    assert cpuset_row.value == len(cpus)
    assert os.sched_getaffinity(0) <= cpus  # the kernel keeps affinity inside the cpuset


def test_v2_cpuset_from_the_nearest_ancestor_with_the_controller(tmp_path: Path) -> None:
    host = FakeHost(tmp_path)
    host.process("0::/pinned/app\n", V2_MOUNTINFO)
    host.v2_group("/sys/fs/cgroup/pinned/app")  # cpuset not enabled here
    host.v2_group("/sys/fs/cgroup/pinned", cpuset_cpus_effective="4-5\n")
    host.v2_group("/sys/fs/cgroup", cpuset_cpus_effective="0-7\n")
    info, cpuset_row, _ = collect_cgroup(read_target(tmp_path, environ={}))
    assert info.cpuset == "4-5" and cpuset_row.value == 2
    assert info.cpuset_path == str(tmp_path / "sys/fs/cgroup/pinned/cpuset.cpus.effective")


def test_empty_cpuset_file_is_a_note_not_a_value(tmp_path: Path) -> None:
    host = FakeHost(tmp_path)
    host.process("0::/a\n", V2_MOUNTINFO)
    host.v2_group("/sys/fs/cgroup/a", cpuset_cpus_effective="\n")
    info, cpuset_row, _ = collect_cgroup(read_target(tmp_path, environ={}))
    assert info.cpuset is None and cpuset_row.value is None
    assert "cpuset.cpus.effective is empty" in cpuset_row.detail


def test_path_outside_our_namespace_does_not_escape_the_mount(tmp_path: Path) -> None:
    """The kernel prints ``/../x`` for a group outside the reader's cgroup namespace."""
    host = FakeHost(tmp_path)
    host.process("0::/../../escaped\n", V2_MOUNTINFO)
    host.v2_group("/sys/fs/cgroup", cpu_max="200000 100000")
    host.write("/sys/escaped/cpu.max", "10000 100000")  # must never be read
    reading = quota(tmp_path)
    assert reading.value == 2.0
    assert reading.path == tmp_path / "sys/fs/cgroup/cpu.max"


def _v1_oom_control(kills: int) -> str:
    # the format of a 5.x kernel's memory.oom_control
    return f"oom_kill_disable 0\nunder_oom 0\noom_kill {kills}\n"


def _v2_events(kills: int) -> str:
    return f"low 0\nhigh 0\nmax 12\noom 2\noom_kill {kills}\noom_group_kill 0\n"


def test_oom_kills_are_counted_over_the_own_group_and_its_ancestors_v1(tmp_path: Path) -> None:
    host = FakeHost(tmp_path)
    host.process(v1_cgroup_lines(memory="/job/7"), V1_MOUNTINFO, pid=4242)
    root_file = host.write("/sys/fs/cgroup/memory/memory.oom_control", _v1_oom_control(5))
    job = host.write("/sys/fs/cgroup/memory/job/memory.oom_control", _v1_oom_control(0))
    host.write("/sys/fs/cgroup/memory/job/7/memory.oom_control", _v1_oom_control(0))
    before = cgroup.read_oom_kills(tmp_path, 4242)
    assert sorted(before.values()) == [0, 0, 5] and str(root_file) in before
    assert cgroup.oom_kills_since(before) == 0
    # the limit hit was the parent group's: its kill counts there (and in the root), not in
    # the own group; the run still saw one kill
    job.write_text(_v1_oom_control(1))
    root_file.write_text(_v1_oom_control(6))
    assert cgroup.oom_kills_since(before) == 1
    # read again from the same files: the watched process may be gone by the end
    (tmp_path / "proc/4242/cgroup").unlink()
    assert cgroup.read_oom_kills(tmp_path, 4242) == {}
    assert cgroup.oom_kills_since(before) == 1


def test_oom_kills_v2_events_and_unreadable_counters(tmp_path: Path) -> None:
    host = FakeHost(tmp_path)
    host.process("0::/system.slice/job.service\n", V2_MOUNTINFO)
    own = host.write("/sys/fs/cgroup/system.slice/job.service/memory.events", _v2_events(1))
    host.write("/sys/fs/cgroup/system.slice/memory.events", "garbage\n")  # no counter: left out
    before = cgroup.read_oom_kills(tmp_path)
    assert list(before.values()) == [1]
    own.write_text(_v2_events(4))
    assert cgroup.oom_kills_since(before) == 3
    own.unlink()
    assert cgroup.oom_kills_since(before) is None  # nothing could be read again
    assert cgroup.oom_kills_since({}) is None
