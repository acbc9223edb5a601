"""Cost of the batch-memory part of the report (issue #25: <= 5% of the report's wall time).

Without ``--model`` the report adds one collector, ``lkdoctor.workers.memory.collect_memory``
(the cgroup memory limit, /proc/meminfo, /dev/shm's statvfs and listing, and — only when
LensKit or torch segments are there — a scan of every process's maps and fds to tell held
segments from leftovers). This times that collector in this process (median of many
calls, in both cases: /dev/shm without segments, and with one held segment, which forces
the scan) against the median wall time of `lkdoctor --json --no-bench`, and prints the
share.

    python scripts/bench_memory.py [--runs 9] [--calls 50]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from multiprocessing import shared_memory
from pathlib import Path

TARGET_SHARE = 0.05


def collector_time(calls: int) -> float:
    from lkdoctor.workers.memory import collect_memory

    collect_memory()  # warm
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        collect_memory()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def report_time(runs: int) -> float:
    script = Path(sys.executable).parent / "lkdoctor"
    doctor = [str(script) if script.exists() else shutil.which("lkdoctor") or "lkdoctor"]
    argv = [*doctor, "--json", "--no-bench"]
    times = []
    for _ in range(runs + 1):  # the first warms the page cache
        start = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, check=True, timeout=300)
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--calls", type=int, default=50)
    args = parser.parse_args()
    report = report_time(args.runs)
    plain = collector_time(args.calls)
    # a held segment (ours) makes the collector scan every process's maps and fds
    segment = shared_memory.SharedMemory(create=True, size=4096)
    try:
        scanning = collector_time(args.calls)
    finally:
        segment.close()
        segment.unlink()
    print(f"report  lkdoctor --json --no-bench: median {report:.3f}s over {args.runs} runs")
    for label, seconds in (("no segments", plain), ("segments, process scan", scanning)):
        print(
            f"memory  {label}: median {seconds * 1000:.1f} ms = {seconds / report:.1%} "
            f"of the report (target <= {TARGET_SHARE:.0%})"
        )


if __name__ == "__main__":
    main()
