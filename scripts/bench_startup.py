"""Start-up cost of `lenskit doctor --json --no-bench`, beside `python -c "import torch"`.

Runs both commands alternately (so machine noise hits both alike) and prints the
median wall time of each and their ratio. Target (issue #2): ratio <= 1.3.

    python scripts/bench_startup.py [--runs 15] [--command "lenskit doctor --json --no-bench"]
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

FLOOR = [sys.executable, "-c", "import torch"]


def default_doctor() -> list[str]:
    script = Path(sys.executable).parent / "lenskit"
    return [str(script) if script.exists() else shutil.which("lenskit") or "lenskit", "doctor"]


def wall_time(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--command", help="the doctor command to time (shell words)")
    args = parser.parse_args()
    doctor = (
        shlex.split(args.command) if args.command else [*default_doctor(), "--json", "--no-bench"]
    )
    wall_time(doctor), wall_time(FLOOR)  # warm the page cache for both
    doctor_times, floor_times = [], []
    for _ in range(args.runs):
        doctor_times.append(wall_time(doctor))
        floor_times.append(wall_time(FLOOR))
    doctor_median = statistics.median(doctor_times)
    floor_median = statistics.median(floor_times)
    print(f"doctor  {' '.join(doctor)}: median {doctor_median:.3f}s over {args.runs} runs")
    print(f"floor   python -c 'import torch': median {floor_median:.3f}s")
    print(f"ratio   {doctor_median / floor_median:.2f}x (target <= 1.30x)")


if __name__ == "__main__":
    main()
