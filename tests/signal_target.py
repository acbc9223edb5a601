"""A command for the signal tests: records every signal it receives, then ends.

    python signal_target.py RECEIPTS SIGNAL [--exit-zero]

It appends each receipt of SIGNAL to the file RECEIPTS, prints ``ready`` once its handler is
in place, and after the first receipt waits long enough to see a duplicate: until its
parent (the doctor) holds no pending signal, then ``GRACE`` seconds more. Then it prints
``received N`` and dies by SIGNAL (so the doctor's status is 128 + SIGNAL), or exits 0 with
``--exit-zero``.
"""

from __future__ import annotations

import os
import resource
import signal
import sys
import time
from pathlib import Path

#: Seconds after the doctor has taken every signal sent to it: a duplicate it sends comes
#: from that same handling, so it arrives well within this even on a loaded machine.
GRACE = 2.0
#: Hard limit for the whole wait, so a broken doctor cannot hang the test.
LIMIT = 60.0


def pending_signals(pid: int) -> int:
    """The signals pending for ``pid``: its shared set and every thread's own set."""
    pending = 0
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        pending |= int(status.split("ShdPnd:", 1)[1].split()[0], 16)
        for task in Path(f"/proc/{pid}/task").iterdir():
            text = (task / "status").read_text()
            pending |= int(text.split("SigPnd:", 1)[1].split()[0], 16)
    except (OSError, IndexError):  # a thread ended while we looked: look again
        return -1
    return pending


def main() -> None:
    receipts, signum = Path(sys.argv[1]), signal.Signals[sys.argv[2]]
    exit_zero = "--exit-zero" in sys.argv[3:]
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # SIGQUIT dumps no core
    receipts.write_text("")

    def record(number: int, _frame: object) -> None:
        with receipts.open("a") as out:
            out.write(f"{signal.Signals(number).name}\n")

    signal.signal(signum, record)
    print("ready", flush=True)
    deadline = time.monotonic() + LIMIT
    while not receipts.read_text() and time.monotonic() < deadline:
        time.sleep(0.01)
    parent = os.getppid()
    while pending_signals(parent) != 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(GRACE)
    count = len(receipts.read_text().split())
    print(f"received {count}", flush=True)
    if exit_zero:
        sys.exit(0)
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
    time.sleep(LIMIT)  # the signal ends us before this does


if __name__ == "__main__":
    main()
