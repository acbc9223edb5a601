"""What the compute facts (issue #28) add to the cost of a report without benchmarks.

In one process, with torch already imported (as the report imports it for the live pools):
times the parts the compute facts add (`python_runtime`, `collect_compute`: CPU frequency,
memory, torch backends, counting the GPUs) and a whole `lkdoctor.collect()` without
benchmarks, alternately, and prints the medians and how much the compute facts make the rest of the
report grow. Target: <= 3%.

    python scripts/bench_compute.py [--runs 15]

On a machine with CUDA devices the count is through NVML and their properties are read by
a child process (it imports torch), which this script times too: that cost is there only
where GPUs are.
"""

from __future__ import annotations

import argparse
import statistics
import time

TARGET_GROWTH = 0.03


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()

    import torch

    import lkdoctor
    from lkdoctor.environment.compute import collect_compute, python_runtime

    lkdoctor.collect(bench=False)  # warm: imports, LensKit's own answer's first start
    compute_times: list[float] = []
    report_times: list[float] = []
    for _ in range(args.runs):
        start = time.perf_counter()
        python_runtime()
        collect_compute(torch)
        compute_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        lkdoctor.collect(bench=False)
        report_times.append(time.perf_counter() - start)
    compute = statistics.median(compute_times)
    report = statistics.median(report_times)
    growth = compute / (report - compute)  # the report includes them
    print(f"runs {args.runs}")
    print(f"compute facts      {compute * 1000:9.3f} ms (median)")
    print(f"report, no bench   {report * 1000:9.3f} ms (median)")
    verdict = "ok" if growth <= TARGET_GROWTH else "over"
    print(f"the report grows by {growth:.2%} (target <= {TARGET_GROWTH:.0%}): {verdict}")


if __name__ == "__main__":
    main()
