"""A process tree with known counts, driven line by line on stdin by the test.

root (level 0, idle) ─┬─ 2 workers (level 1), each with BUSY threads hashing and its main thread idle
                      ├─ middle (level 1, idle) ── grandchild (level 2) with 1 busy thread
                      └─ short (level 1, idle) that exits on "release"
"spawn" starts one more worker (born inside the window). Every command is answered with
a line once it has taken effect, so the test never has to guess.
"""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import os
import sys
import threading
import time

BUSY = int(os.environ.get("TREE_BUSY_THREADS", "2"))
DATA = b"x" * (4 << 20)


def burn() -> None:
    while True:  # sha256 of a large buffer runs with the GIL released: a truly busy thread
        hashlib.sha256(DATA).digest()


def worker(ready: mp.synchronize.Event, threads: int) -> None:
    for _ in range(threads):
        threading.Thread(target=burn, daemon=True).start()
    ready.set()
    time.sleep(3600)


def grandchild(ready: mp.synchronize.Event) -> None:
    worker(ready, 1)


def middle(ready: mp.synchronize.Event) -> None:
    ctx = mp.get_context("fork")
    ctx.Process(target=grandchild, args=(ready,), daemon=False).start()
    time.sleep(3600)


def short(stop: mp.synchronize.Event) -> None:
    stop.wait()


def started(target: object, *args: object) -> mp.process.BaseProcess:
    ctx = mp.get_context("fork")
    ready = ctx.Event()
    proc = ctx.Process(target=target, args=(ready, *args))
    proc.start()
    ready.wait(60)
    return proc


def main() -> None:
    if os.environ.get("TREE_ONE_CPU"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    ctx = mp.get_context("fork")
    workers = [started(worker, BUSY) for _ in range(2)]
    mid = started(middle)
    stop = ctx.Event()
    brief = ctx.Process(target=short, args=(stop,))
    brief.start()
    pids = {
        "workers": [w.pid for w in workers],
        "middle": mid.pid,
        "short": brief.pid,
    }
    print("ready", pids, flush=True)
    for line in sys.stdin:
        command = line.strip()
        if command == "release":
            stop.set()
            brief.join(60)
            print("released", flush=True)
        elif command == "spawn":
            workers.append(started(worker, BUSY))
            print("spawned", workers[-1].pid, flush=True)
        elif command == "quit":
            break
    for proc in mp.active_children():
        proc.kill()


if __name__ == "__main__":
    main()
