"""Cost of `lenskit doctor --verify`: the full report with it against the report without it.

Issue #17's target: the report with --verify takes at most 2x the report without it. Runs
both alternately (so machine noise hits both alike) under settings that oversubscribe this
machine (so --verify has a suggestion to measure; default LK_NUM_THREADS=8), and prints the
median wall time of each, the median of the per-pair ratios and the verdicts --verify gave.

    python scripts/bench_verify.py [--runs 7] [--env LK_NUM_THREADS=8 ...]
        [--bench-time SECONDS] [--python ENV/bin/python]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_cost import VERSIONS, loadavg  # beside this script

TARGET = 2.0


def doctor(python: str) -> list[str]:
    script = Path(python).parent / "lenskit"
    found = str(script) if script.exists() else shutil.which("lenskit")
    return [found or "lenskit", "doctor", "--json"]


def timed(argv: list[str], env: dict[str, str], report: Path) -> tuple[float, str | None]:
    """Wall time of one report, and --verify's verdict in it (None without --verify)."""
    start = time.perf_counter()
    subprocess.run(
        [*argv, "--report", str(report)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=True,
        timeout=300,
    )
    took = time.perf_counter() - start
    verification = json.loads(report.read_text())["bench"].get("verification")
    return took, None if verification is None else verification["verdict"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument(
        "--env",
        action="append",
        metavar="NAME=VALUE",
        help="settings of both runs (default LK_NUM_THREADS=8); repeatable",
    )
    parser.add_argument("--bench-time", help="--bench-time of both runs (default: the doctor's)")
    parser.add_argument(
        "--python", default=sys.executable, help="the environment's python (default: this one)"
    )
    args = parser.parse_args()
    settings = dict(item.split("=", 1) for item in (args.env or ["LK_NUM_THREADS=8"]))
    env = {k: v for k, v in os.environ.items() if not k.startswith("LK_")} | settings
    plain = doctor(args.python) + (["--bench-time", args.bench_time] if args.bench_time else [])
    verify = [*plain, "--verify"]
    version = subprocess.run(
        [args.python, "-c", VERSIONS], capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()
    print(f"environment {args.python}: {version}; {os.cpu_count()} CPUs", flush=True)
    print(f"settings {' '.join(f'{k}={v}' for k, v in settings.items())}", flush=True)
    print(f"load average before {loadavg()}", flush=True)
    without, with_verify, ratios = [], [], []
    verdicts: collections.Counter[str] = collections.Counter()
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "report.json"
        timed(plain, env, report)  # warm the page cache
        for _ in range(args.runs):
            base, _none = timed(plain, env, report)
            cost, verdict = timed(verify, env, report)
            without.append(base)
            with_verify.append(cost)
            ratios.append(cost / base)
            verdicts[verdict or "none"] += 1
    print(f"load average after {loadavg()}")
    print(f"without  {' '.join(plain)}: median {statistics.median(without):.2f}s")
    print(f"with     ... --verify: median {statistics.median(with_verify):.2f}s")
    print(
        f"ratio    median {statistics.median(ratios):.2f}x over {args.runs} pairs "
        f"(of medians {statistics.median(with_verify) / statistics.median(without):.2f}x; "
        f"min {min(ratios):.2f}x, max {max(ratios):.2f}x; target <= {TARGET:.1f}x)"
    )
    print("verdicts " + ", ".join(f"{v} {n}" for v, n in verdicts.most_common()))


if __name__ == "__main__":
    main()
