"""Cost of the thread plan section: `collect_plan` with and without LensKit's own answer.

LensKit's answer reads and runs the definitions of the installed `lenskit/parallel/config.py`
without importing LensKit or torch; this measures what that adds, and checks that neither
got imported.

    python scripts/bench_plan.py [--runs 50]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from lkdoctor.plan.lenskit2025.resolve import collect_plan

ENVIRONMENTS = {
    "defaults": {},
    "nested lists": {
        "LK_NUM_PROCS": "4,2",
        "LK_NUM_THREADS": "8,2,1",
        "LK_NUM_BACKEND_THREADS": "2",
    },
    "child + BLAS": {"LK_NUM_CHILD_THREADS": "2", "OPENBLAS_NUM_THREADS": "16"},
}


def median_ms(env: dict[str, str], runs: int, *, ask_lenskit: bool) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        collect_plan(64, 8, env, ask_lenskit=ask_lenskit)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    first = time.perf_counter()
    answered = collect_plan(64, 8, {}).lenskit_resolved is not None
    print(f"first call (finds LensKit): {1000 * (time.perf_counter() - first):.1f} ms")
    for name, env in ENVIRONMENTS.items():
        with_lenskit = median_ms(env, args.runs, ask_lenskit=True)
        without = median_ms(env, args.runs, ask_lenskit=False)
        print(
            f"{name:14} documented rule {without:7.3f} ms   with LensKit's answer {with_lenskit:7.3f} ms"
        )
    imported = sorted({m.split(".")[0] for m in sys.modules} & {"lenskit", "torch"})
    print(f"LensKit answered: {answered}; imported lenskit/torch: {imported or 'none'}")


if __name__ == "__main__":
    main()
