"""Cost of `lenskit doctor`, beside `python -c "import torch"` (the floor when torch is inspected).

Runs the doctor and the floor alternately, so machine noise hits both alike, and prints
the median wall time of each and the median of the per-pair ratios. Two targets:

- start-up, `lenskit doctor --json --no-bench` (issue #2): <= 1.3x
- full report with its default benchmarks, `lenskit doctor --json` (issue #6): <= 2.5x
  (LensKit's own doctor, without any benchmark, costs 2.8x)

    python scripts/bench_cost.py [--no-bench] [--runs 15] [--command "lenskit doctor --json"]
        [--python ENV/bin/python]

``--python`` times another environment (e.g. Python 3.13 beside LensKit 2026): its
``lenskit`` script against its own ``python -c "import torch"``.
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

TARGET = {"start-up": 1.3, "full report": 2.5}


def floor(python: str) -> list[str]:
    return [python, "-c", "import torch"]


def default_doctor(no_bench: bool, python: str) -> list[str]:
    script = Path(python).parent / "lenskit"
    found = str(script) if script.exists() else shutil.which("lenskit")
    return [found or "lenskit", "doctor", "--json", *(["--no-bench"] if no_bench else [])]


VERSIONS = (
    "import sys, importlib.metadata as m\n"
    "def v(n):\n"
    "    try: return m.version(n)\n"
    "    except m.PackageNotFoundError: return 'absent'\n"
    'print(f\'Python {sys.version.split()[0]}, LensKit {v("lenskit")}, torch {v("torch")}, '
    'lkdoctor {v("lkdoctor")}\')'
)


def wall_time(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, timeout=300
    )
    return time.perf_counter() - start


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--no-bench", action="store_true", help="time start-up (issue #2)")
    parser.add_argument("--command", help="the doctor command to time (shell words)")
    parser.add_argument(
        "--python", default=sys.executable, help="the environment's python (default: this one)"
    )
    args = parser.parse_args()
    doctor = (
        shlex.split(args.command) if args.command else default_doctor(args.no_bench, args.python)
    )
    version = subprocess.run(
        [args.python, "-c", VERSIONS], capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()
    print(f"environment {args.python}: {version}", flush=True)
    bare = floor(args.python)
    target = TARGET["start-up" if "--no-bench" in doctor else "full report"]
    print(f"load average before {loadavg()}", flush=True)
    wall_time(doctor), wall_time(bare)  # warm the page cache for both
    doctor_times, floor_times, ratios = [], [], []
    for _ in range(args.runs):
        d, f = wall_time(doctor), wall_time(bare)
        doctor_times.append(d)
        floor_times.append(f)
        ratios.append(d / f)
    print(f"load average after {loadavg()}")
    print(
        f"doctor  {' '.join(doctor)}: median {statistics.median(doctor_times):.3f}s over {args.runs} runs"
    )
    print(f"floor   {' '.join(bare)}: median {statistics.median(floor_times):.3f}s")
    print(
        f"ratio   median {statistics.median(ratios):.2f}x "
        f"(of medians {statistics.median(doctor_times) / statistics.median(floor_times):.2f}x; "
        f"min {min(ratios):.2f}x, max {max(ratios):.2f}x; target <= {target:.1f}x)"
    )


if __name__ == "__main__":
    main()
