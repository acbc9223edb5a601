"""How long the static check of a script (``--script``) takes on a 5,000-line script.

Run with an environment where lkdoctor is installed:

    python scripts/bench_script_check.py [LINES]

The generated script has the shapes the check follows: imports with aliases, functions
calling functions, classes, a module-level call that reaches lenskit.batch through a chain,
and a __main__ guard. The target is at most 0.2 s for 5,000 lines.
"""

from __future__ import annotations

import ast
import statistics
import sys
import tempfile
import time
from pathlib import Path

from lkdoctor.workers.script import check_script

TARGET_SECONDS = 0.2


def generated(lines: int) -> str:
    head = [
        "import numpy as np",
        "import lenskit.batch as lb",
        "from concurrent.futures import ProcessPoolExecutor as PPE",
        "",
    ]
    body: list[str] = []
    n = 0
    while len(head) + len(body) < lines - 8:
        body += [
            f"def step_{n}(x):",
            f"    y = np.sum([x, {n}])",
            f"    return step_{n - 1}(y) if x else y" if n else "    return lb.recommend(x, [])",
            "",
            f"class Model{n}:",
            "    def __init__(self):",
            f"        self.value = step_{n}(0)",
            "",
        ]
        n += 1
    tail = [
        f"result = step_{n - 1}(1)",
        "",
        "def main():",
        "    PPE(2)",
        "",
        'if __name__ == "__main__":',
        "    main()",
        "",
    ]
    return "\n".join(head + body + tail)


def main() -> None:
    lines = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "generated.py"
        path.write_text(generated(lines))
        times, parse_times, cpu_times = [], [], []
        for _ in range(5):
            start, cpu_start = time.perf_counter(), time.process_time()
            check = check_script(path, "--script")
            times.append(time.perf_counter() - start)
            # CPU time: what the check costs without the waits of a loaded machine
            cpu_times.append(time.process_time() - cpu_start)
            # Python's own parser alone: on a loaded machine both slow down alike
            start = time.perf_counter()
            ast.parse(path.read_text())
            parse_times.append(time.perf_counter() - start)
    best, median = min(times), statistics.median(times)
    parse = statistics.median(parse_times)
    cpu = statistics.median(cpu_times)
    verdict = "ok" if median <= TARGET_SECONDS else "SLOW"
    print(
        f"{check.lines} lines: {check.status}, {len(check.unguarded)} unguarded call(s), "
        f"chain of {len(check.unguarded[0].chain) if check.unguarded else 0}; "
        f"best {best * 1000:.0f} ms, median {median * 1000:.0f} ms "
        f"(CPU {cpu * 1000:.0f} ms) "
        f"(target {TARGET_SECONDS * 1000:.0f} ms): {verdict}; ast.parse alone "
        f"{parse * 1000:.0f} ms, the check {median / parse:.1f}x that"
    )


if __name__ == "__main__":
    main()
