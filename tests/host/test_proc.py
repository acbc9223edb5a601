"""/proc readers: fixture trees for odd layouts, the live /proc for what every process has."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from lkdoctor.host.cgroup import discover
from lkdoctor.host.proc import (
    LIVE_ROOT,
    mapped_paths,
    parse_environ,
    parse_stat,
    proc_dir,
    process_exists,
    read_environ,
    read_status,
    read_task_stats,
    task_ids,
)
from lkdoctor.host.proctree import read_thread_schedstat
from lkdoctor.observe.sampler import observe_target
from lkdoctor.pools.kinds import read_threading_libraries, threading_env, threading_libraries
from lkdoctor.pools.live import collect_threads, threads_snapshot
from lkdoctor.target import read_target

LIVE = Path("/")


def stat_line(tid: int, name: str, state: str, utime: int, stime: int, cpu: int = 0) -> str:
    # 52 fields as in proc(5): pid (comm) state ppid ... utime(14) stime(15) ... processor(39)
    fields = [state, "1", "1", "1", "0", "-1", "4194304", "0", "0", "0", "0"]
    fields += [str(utime), str(stime)] + ["0"] * 23 + [str(cpu)] + ["0"] * 13
    return f"{tid} ({name}) {' '.join(fields)}\n"


def fake_process(root: Path, pid: int, threads: dict[int, tuple[str, str, int, int]]) -> Path:
    """A /proc/PID tree: ``threads`` maps tid to (name, state, utime, stime)."""
    base = root / "proc" / str(pid)
    for tid, (name, state, utime, stime) in threads.items():
        task = base / "task" / str(tid)
        task.mkdir(parents=True)
        (task / "stat").write_text(stat_line(tid, name, state, utime, stime, cpu=tid % 4))
        (task / "schedstat").write_text(f"{utime * 10_000_000} {stime * 1_000_000} 7\n")
        (task / "status").write_text(
            f"Name:\t{name}\nvoluntary_ctxt_switches:\t3\nnonvoluntary_ctxt_switches:\t{tid}\n"
        )
    leader = threads[min(threads)]
    (base / "stat").write_text(stat_line(pid, leader[0], leader[1], leader[2], leader[3]))
    (base / "comm").write_text(leader[0] + "\n")
    return base


def test_stat_name_with_spaces_and_parentheses_is_parsed() -> None:
    stat = parse_stat(stat_line(77, "pt) main (x", "R", 250, 50, cpu=3))
    assert (stat.tid, stat.name, stat.state) == (77, "pt) main (x", "R")
    assert (stat.utime_ticks, stat.stime_ticks, stat.processor) == (250, 50, 3)


@pytest.mark.parametrize("bad", ["", "garbage", "12 no-paren R 1 2"])
def test_malformed_stat_raises_value_error(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_stat(bad)


def test_fixture_process_threads_states_names_and_cpu_time(tmp_path: Path) -> None:
    fake_process(
        tmp_path,
        4242,
        {
            4242: ("python", "S", 100, 20),
            4243: ("python", "R", 300, 0),
            4244: ("pt_worker", "R", 50, 50),
            4245: ("pt_worker", "D", 0, 0),
        },
    )
    snapshot = threads_snapshot(read_task_stats(tmp_path, 4242), ticks_per_second=100)
    assert snapshot.count == 4
    assert snapshot.states == {"running": 2, "sleeping": 1, "disk-wait": 1}
    assert snapshot.names == {"python": 2, "pt_worker": 2}
    assert {t.tid: t.cpu_seconds for t in snapshot.threads} == {
        4242: 1.2,
        4243: 3.0,
        4244: 1.0,
        4245: 0.0,
    }
    assert snapshot.cpu_seconds == 5.2
    assert read_thread_schedstat(str(tmp_path / "proc" / "4242"), 4243) == (3_000_000_000, 0)


def test_thread_that_exits_between_listing_and_reading_is_skipped(tmp_path: Path) -> None:
    base = fake_process(tmp_path, 10, {10: ("a", "S", 1, 1), 11: ("b", "R", 1, 1)})
    (base / "task" / "11" / "stat").unlink()
    (base / "task" / "11" / "schedstat").unlink()
    assert [s.tid for s in read_task_stats(tmp_path, 10)] == [10]
    assert read_thread_schedstat(str(base), 11) is None


def test_sampling_a_fixture_without_schedstat_says_its_time_is_not_counted(
    tmp_path: Path,
) -> None:
    base = fake_process(
        tmp_path, 20, {20: ("a", "R", 1, 1), 21: ("b", "R", 1, 1), 22: ("c", "S", 1, 1)}
    )
    for tid in (20, 21, 22):
        (base / "task" / str(tid) / "schedstat").unlink()
    sampled = observe_target(read_target(tmp_path, pid=20), 0.05, cpus=2, tree=False)
    observed, errors = sampled.value, sampled.errors
    assert observed is not None and observed.samples >= 2
    assert [(p.pid, p.threads) for p in observed.processes] == [(20, 3)]
    assert observed.avg_runnable == 0.0  # nothing readable was counted, nothing invented
    assert [e.section for e in errors] == ["observed"]
    assert "no readable schedstat" in errors[0].message


def test_environ_is_split_on_nul_and_filtered_to_threading_variables(tmp_path: Path) -> None:
    env = parse_environ(
        b"OMP_NUM_THREADS=6\0AWS_SECRET=hunter2\0LK_NUM_THREADS=4,1\0EMPTY=\0junk\0=x\0"
    )
    assert env == {
        "OMP_NUM_THREADS": "6",
        "AWS_SECRET": "hunter2",
        "LK_NUM_THREADS": "4,1",
        "EMPTY": "",
    }
    assert threading_env(env) == {"LK_NUM_THREADS": "4,1", "OMP_NUM_THREADS": "6"}
    base = fake_process(tmp_path, 30, {30: ("a", "S", 0, 0)})
    (base / "environ").write_bytes(b"RAYON_NUM_THREADS=2\0")
    assert read_environ(tmp_path, 30) == {"RAYON_NUM_THREADS": "2"}


MAPS = """\
7f0000000000-7f0000001000 r-xp 00000000 08:01 1 /usr/lib/x86_64-linux-gnu/libc.so.6
7f0000001000-7f0000002000 r-xp 00000000 08:01 2 /opt/venv/torch/lib/libgomp-a34b3233.so.1
7f0000002000-7f0000003000 r--p 00010000 08:01 2 /opt/venv/torch/lib/libgomp-a34b3233.so.1
7f0000003000-7f0000004000 r-xp 00000000 08:01 3 /opt/conda/lib/libiomp5.so
7f0000004000-7f0000005000 r-xp 00000000 08:01 4 /opt/venv/numpy.libs/libscipy_openblas64_-ff651d7f.so
7f0000005000-7f0000006000 r-xp 00000000 08:01 5 /opt/venv/torch/lib/libtorch_cpu.so (deleted)
7f0000006000-7f0000007000 r-xp 00000000 08:01 6 /opt/venv/lenskit/_accel.abi3.so
7f0000007000-7f0000008000 r-xp 00000000 08:01 7 /opt/conda/lib/libmkl_rt.so.2
7f0000008000-7f0000009000 r-xp 00000000 08:01 8 /opt/llvm/lib/libomp.so
7f0000009000-7f000000a000 r-xp 00000000 08:01 9 /usr/lib/libopenblas.so.0
7f000000a000-7f000000b000 rw-p 00000000 00:00 0 [heap]
7f000000b000-7f000000c000 rw-p 00000000 00:00 0
"""


def test_threading_libraries_are_recognised_in_maps(tmp_path: Path) -> None:
    paths = mapped_paths(MAPS)
    assert len(paths) == 9  # one entry per file; anonymous and [heap] mappings skipped
    found = threading_libraries(paths)
    assert set(found) == {
        "libgomp",
        "libiomp5",
        "libomp",
        "libopenblas",
        "libscipy_openblas",
        "libmkl_rt",
        "libtorch_cpu",
        "lenskit._accel",
    }
    assert found["libtorch_cpu"] == ["/opt/venv/torch/lib/libtorch_cpu.so"]
    base = fake_process(tmp_path, 40, {40: ("a", "S", 0, 0)})
    (base / "maps").write_text(MAPS)
    assert read_threading_libraries(tmp_path, 40) == found


def test_live_snapshot_sees_a_new_thread_with_its_native_id() -> None:
    before = collect_threads(LIVE)
    started, release = threading.Event(), threading.Event()
    native: list[int] = []

    def worker() -> None:
        native.append(threading.get_native_id())
        started.set()
        release.wait(10)

    thread = threading.Thread(target=worker, daemon=True)
    thread.start()
    try:
        assert started.wait(10)
        during = collect_threads(LIVE)
        status_threads = int(read_status(LIVE, None)["Threads"])
    finally:
        release.set()
        thread.join(10)
    assert during.count == before.count + 1
    assert native[0] in {t.tid for t in during.threads}
    assert os.getpid() in task_ids(LIVE, None)
    assert during.count == status_threads


def test_process_exists() -> None:
    assert process_exists(LIVE, os.getpid())
    assert not process_exists(LIVE, 2**22 + 12345)
    assert not process_exists(LIVE, 0)


def test_no_pid_is_this_process_and_a_pid_below_one_is_refused(tmp_path: Path) -> None:
    assert proc_dir(tmp_path, None) == tmp_path / "proc" / "self"
    assert proc_dir(tmp_path, 42) == tmp_path / "proc" / "42"
    live_self = (proc_dir(LIVE_ROOT, None) / "stat").read_text()
    assert live_self.split()[0] == str(os.getpid())  # None really is this process
    for pid in (0, -1):  # 0 is "the caller" only to system calls, never a /proc entry
        with pytest.raises(ValueError, match="pid must be 1 or more"):
            proc_dir(LIVE_ROOT, pid)
        with pytest.raises(ValueError):
            discover(LIVE_ROOT, pid)  # cgroup discovery shares the one rule
        assert not process_exists(LIVE_ROOT, pid)
