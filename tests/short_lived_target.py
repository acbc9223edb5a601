"""Many short-lived CPU-burning children, one after another, each gone within a sample
interval of the doctor's; prints its own and its children's CPU time as the kernel's
rusage counts them (an account independent of the doctor's), as its last line."""

from __future__ import annotations

import json
import os
import resource
import sys
import time


def burn(seconds: float) -> None:
    start = time.process_time()
    while time.process_time() - start < seconds:
        pass


def main() -> None:
    children = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    each = float(sys.argv[2]) if len(sys.argv) > 2 else 0.01
    for _ in range(children):
        pid = os.fork()
        if pid == 0:
            burn(each)
            os._exit(0)
        os.waitpid(pid, 0)
    own = resource.getrusage(resource.RUSAGE_SELF)
    theirs = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(
        json.dumps(
            {
                "self": own.ru_utime + own.ru_stime,
                "children": theirs.ru_utime + theirs.ru_stime,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
