"""What watching costs: the observer's own CPU and the observed run's wall time.

1. Own CPU: a tree of ``--processes`` processes with ``--threads`` threads in all (200 by
   default; most of them sleep, as a real pool's threads mostly do) is sampled for
   ``--seconds``; the observer's CPU time over the window is its share of one CPU.
2. Overhead: the same CPU-bound command (``--work`` rounds of sha256 in 2 processes) runs
   ``--pairs`` times unobserved and under ``lkdoctor --no-bench -- COMMAND``, alternating,
   and the ratio of each pair's run times (the command times itself) is reported; the
   doctor's start-up and report, before and after the run, are reported apart.

Usage: python scripts/bench_observe.py [--pairs 5] [--seconds 5]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

TREE = """
import os, sys, threading, time
processes, threads = int(sys.argv[1]), int(sys.argv[2])
def idle():
    time.sleep(3600)
def spawn(n):
    for _ in range(n - 1):
        threading.Thread(target=idle, daemon=True).start()
per = threads // processes
for _ in range(processes - 1):
    if os.fork() == 0:
        spawn(per)
        time.sleep(3600)
spawn(threads - per * (processes - 1))
print("ready", flush=True)
time.sleep(3600)
"""

WORK = """
import hashlib, multiprocessing as mp, sys, time
start = time.perf_counter()
def burn(rounds):
    data = b"x" * (1 << 20)
    for _ in range(rounds):
        hashlib.sha256(data).digest()
if __name__ == "__main__":
    rounds = int(sys.argv[1])
    procs = [mp.Process(target=burn, args=(rounds,)) for _ in range(2)]
    for p in procs: p.start()
    for p in procs: p.join()
    print(time.perf_counter() - start)
"""


def own_cpu_share(processes: int, threads: int, seconds: float) -> tuple[float, int, int]:
    from lkdoctor.observe.sampler import TreeSampler

    tree = subprocess.Popen(
        [sys.executable, "-c", TREE, str(processes), str(threads)],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert tree.stdout is not None and tree.stdout.readline().strip() == "ready"
        sampler = TreeSampler(tree.pid, cpus=os.cpu_count())
        before = time.thread_time()
        deadline = time.monotonic() + seconds
        sampler.run(lambda: time.monotonic() >= deadline)
        own = time.thread_time() - before
        observed = sampler.result().value
        assert observed is not None
        seen = sum(row.threads for row in observed.processes)
        return own / observed.seconds, seen, observed.samples
    finally:
        os.killpg(tree.pid, signal.SIGKILL)
        tree.wait()


def run_time(args: list[str]) -> tuple[float, float]:
    """The command's own wall time (it prints it) and the whole invocation's."""
    start = time.perf_counter()
    done = subprocess.run(args, check=True, capture_output=True, text=True)
    return float(done.stdout.split()[-1]), time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, default=5)
    parser.add_argument("--threads", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--work", type=int, default=1500)
    options = parser.parse_args()

    share, seen, samples = own_cpu_share(options.processes, options.threads, options.seconds)
    print(
        f"observer CPU: {share:.2%} of one CPU watching {seen} threads in "
        f"{options.processes} processes ({samples} samples in {options.seconds:g} s)"
    )

    doctor = shutil.which("lkdoctor") or str(Path(sys.executable).parent / "lkdoctor")
    command = [sys.executable, "-c", WORK, str(options.work)]
    ratios = []
    extra = []
    for _ in range(options.pairs):
        plain, _ = run_time(command)
        watched, total = run_time([doctor, "--no-bench", "--report", os.devnull, "--", *command])
        ratios.append(watched / plain)
        extra.append(total - watched)
        print(f"  pair: unobserved {plain:.2f} s, observed {watched:.2f} s, ratio {ratios[-1]:.3f}")
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(
        f"observed/unobserved wall time: median {statistics.median(ratios):.3f} "
        f"(min {min(ratios):.3f}, max {max(ratios):.3f}) over {len(ratios)} pairs; "
        f"children CPU {usage.ru_utime + usage.ru_stime:.1f} s"
    )
    print(
        f"the doctor's own start-up and report around the run: "
        f"median {statistics.median(extra):.2f} s"
    )


if __name__ == "__main__":
    main()
