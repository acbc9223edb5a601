"""What the live-pools collector and the --pid sampler cost (repeatable; no timed tests).

    python scripts/bench_pools.py [--repeat 5]

Prints, as medians over ``--repeat`` runs:
- cold: ``collect_pools()`` in a fresh interpreter (imports numpy and torch), beside a bare
  ``import numpy, torch`` in a fresh interpreter, so the collector's own share is visible;
- warm: ``collect_pools()`` again in a process that has already collected once;
- sampler: the CPU time the ``--pid --single-process`` sampler (``observe_target``) itself
  uses per second of sampling a torch process with 6 intra-op threads (the overhead --pid
  adds to a busy machine).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import textwrap
import time

COLD = textwrap.dedent(
    """
    import json, time
    start = time.perf_counter()
    {body}
    print(json.dumps(time.perf_counter() - start))
    """
)

TARGET = textwrap.dedent(
    """
    import torch
    torch.set_num_threads(6)
    a = torch.randn(256, 256)
    print("ready", flush=True)
    while True:
        a @ a
    """
)


def fresh(body: str) -> float:
    code = COLD.format(body=body)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True
    )
    return float(json.loads(out.stdout.strip().splitlines()[-1]))


def warm(repeat: int) -> float:
    from lkdoctor.pools.live import collect_pools

    collect_pools()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        collect_pools()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def sampler_cpu_per_second(seconds: float) -> tuple[float, int]:
    from lkdoctor.observe.sampler import observe_target
    from lkdoctor.target import read_target

    target = subprocess.Popen([sys.executable, "-c", TARGET], stdout=subprocess.PIPE, text=True)
    try:
        assert target.stdout is not None and target.stdout.readline().strip() == "ready"
        diagnosed = read_target(pid=target.pid)
        before = time.process_time()  # ns resolution; os.times() counts 10 ms ticks
        observed = observe_target(diagnosed, seconds, cpus=None, tree=False).value
        after = time.process_time()
    finally:
        target.kill()
        target.wait(10)
    assert observed is not None, "the target was not seen"
    used = after - before
    return used / observed.seconds, observed.samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--sample-time", type=float, default=2.0)
    args = parser.parse_args()
    bare = statistics.median(fresh("import numpy, torch") for _ in range(args.repeat))
    cold = statistics.median(
        fresh("from lkdoctor.pools.live import collect_pools; collect_pools()")
        for _ in range(args.repeat)
    )
    print(f"cold collect_pools()      {cold * 1000:8.1f} ms (median of {args.repeat})")
    print(f"bare import numpy, torch  {bare * 1000:8.1f} ms")
    print(f"collector's own share     {(cold - bare) * 1000:8.1f} ms")
    print(f"warm collect_pools()      {warm(args.repeat) * 1000:8.1f} ms")
    cpu, samples = sampler_cpu_per_second(args.sample_time)
    print(
        f"--pid sampler             {cpu * 100:8.1f} % of one CPU "
        f"({samples} samples over {args.sample_time:g} s, 11-thread target)"
    )


if __name__ == "__main__":
    main()
