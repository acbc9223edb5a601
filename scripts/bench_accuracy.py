"""How often the benchmark verdict is right, per scenario (issue #6: target >= 19/20 each).

Runs `lkdoctor --json` (default benchmarks) in a scenario matrix, round-robin so that
machine noise hits every scenario alike, and prints the share of right verdicts:

  fitting      the default plan, nothing else asked of the machine        -> ok
  8x4          LK_NUM_THREADS=8 LK_NUM_BACKEND_THREADS=4 (32 threads)      -> oversubscribed
  taskset      taskset -c 0 with LK_NUM_THREADS=4                         -> oversubscribed
  quota        a real 1-CPU cgroup quota below the default 2-thread plan  -> oversubscribed
               (+ cgroup-throttled); a cgroup v1 cpu group (or v2) this script creates
               and removes; needs root
  contended    taskset -c 0, default (fitting) plan, beside a process burning CPU 0
                                                                          -> contended

The expected verdicts are for a machine with at least 2 CPUs and otherwise idle: on a
loaded machine `fitting` is rightly `contended`. Prints the load average before/after.

    python scripts/bench_accuracy.py [--runs 20] [--scenario quota ...] [--bench-time 1.0]
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

LK_VARIABLES = ("LK_NUM_PROCS", "LK_NUM_THREADS", "LK_NUM_BACKEND_THREADS", "LK_NUM_CHILD_THREADS")
CGROUP_V1_CPU = Path("/sys/fs/cgroup/cpu")
CGROUP_V2 = Path("/sys/fs/cgroup")
TIMEOUT = 120


def doctor_command(bench_time: float) -> list[str]:
    script = Path(sys.executable).parent / "lkdoctor"
    found = str(script) if script.exists() else shutil.which("lkdoctor")
    base = [found] if found else [sys.executable, "-m", "lkdoctor"]
    return [*base, "--json", "--bench-time", str(bench_time)]


def clean_environ(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in LK_VARIABLES}
    env.update(extra)
    return env


@dataclass
class Scenario:
    name: str
    expected: str
    env: dict[str, str]
    prefix: list[str] = field(default_factory=list)
    cgroup: Path | None = None
    burner: list[str] | None = None
    finding: str | None = None


@dataclass
class Tally:
    verdicts: collections.Counter[str] = field(default_factory=collections.Counter)
    right: int = 0
    finding_seen: int = 0
    runs: int = 0
    seconds: list[float] = field(default_factory=list)


@contextlib.contextmanager
def quota_cgroup(cpus: float) -> Iterator[Path | None]:
    """A cgroup with a CPU quota of ``cpus``, removed afterwards; None when the host forbids it."""
    name = f"lkdoctor-accuracy-{os.getpid()}"
    period = 100_000
    group: Path | None = None
    try:
        if (CGROUP_V1_CPU / "cpu.cfs_quota_us").exists():
            group = CGROUP_V1_CPU / name
            group.mkdir()
            (group / "cpu.cfs_period_us").write_text(str(period))
            (group / "cpu.cfs_quota_us").write_text(str(int(cpus * period)))
        elif (CGROUP_V2 / "cgroup.controllers").exists() and "cpu" in (
            CGROUP_V2 / "cgroup.subtree_control"
        ).read_text().split():
            group = CGROUP_V2 / name
            group.mkdir()
            (group / "cpu.max").write_text(f"{int(cpus * period)} {period}")
    except OSError as exc:
        print(f"quota scenario unavailable: {exc}", file=sys.stderr)
        with contextlib.suppress(OSError):
            if group is not None:
                group.rmdir()
        group = None
    try:
        yield group
    finally:
        if group is not None:
            for _ in range(50):  # the last child may still be leaving the group
                try:
                    group.rmdir()
                    break
                except OSError:
                    time.sleep(0.1)


def join_cgroup(group: Path) -> Callable[[], None]:
    def join() -> None:
        (group / "cgroup.procs").write_text(str(os.getpid()))

    return join


@contextlib.contextmanager
def burning(argv: list[str] | None) -> Iterator[None]:
    if argv is None:
        yield
        return
    burner = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.3)  # let it reach full speed before we measure
        yield
    finally:
        burner.kill()
        burner.wait(10)


def run_once(scenario: Scenario, command: list[str]) -> tuple[str, list[str], float]:
    start = time.perf_counter()
    with burning(scenario.burner):
        result = subprocess.run(
            [*scenario.prefix, *command],
            env=scenario.env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            preexec_fn=join_cgroup(scenario.cgroup) if scenario.cgroup else None,
            check=False,
        )
    seconds = time.perf_counter() - start
    try:
        data = json.loads(result.stdout)
    except json.JSONDecodeError:
        return f"error(rc={result.returncode})", [], seconds
    return data["bench"]["verdict"], [f["id"] for f in data["findings"]], seconds


def scenarios(quota_group: Path | None) -> list[Scenario]:
    taskset = shutil.which("taskset")
    pin = [taskset, "-c", "0"] if taskset else []
    burn = [*pin, sys.executable, "-c", "while True: pass"]
    found = [
        Scenario("fitting", "ok", clean_environ()),
        Scenario(
            "8x4",
            "oversubscribed",
            clean_environ(LK_NUM_THREADS="8", LK_NUM_BACKEND_THREADS="4"),
            finding="bench-oversubscribed",
        ),
    ]
    if pin:
        found.append(
            Scenario(
                "taskset",
                "oversubscribed",
                clean_environ(LK_NUM_THREADS="4"),
                prefix=pin,
                finding="bench-oversubscribed",
            )
        )
    if quota_group is not None:
        found.append(
            Scenario(
                "quota",
                "oversubscribed",
                clean_environ(),
                cgroup=quota_group,
                finding="cgroup-throttled",
            )
        )
    if pin:
        found.append(Scenario("contended", "contended", clean_environ(), prefix=pin, burner=burn))
    return found


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--bench-time", type=float, default=1.0)
    parser.add_argument("--scenario", action="append", help="only these (repeatable)")
    parser.add_argument("--quota", type=float, default=1.0, help="CPUs of the quota scenario")
    parser.add_argument("--verbose", action="store_true", help="print every run")
    args = parser.parse_args()
    command = doctor_command(args.bench_time)
    print(f"cpus {os.cpu_count()}, load average before {loadavg()}", flush=True)
    with quota_cgroup(args.quota) as group:
        matrix = [s for s in scenarios(group) if not args.scenario or s.name in args.scenario]
        tallies = {s.name: Tally() for s in matrix}
        for index in range(args.runs):
            for scenario in matrix:
                verdict, ids, seconds = run_once(scenario, command)
                tally = tallies[scenario.name]
                tally.runs += 1
                tally.verdicts[verdict] += 1
                tally.right += verdict == scenario.expected
                tally.finding_seen += scenario.finding in ids if scenario.finding else 0
                tally.seconds.append(seconds)
                if args.verbose:
                    print(f"  run {index + 1} {scenario.name}: {verdict} {ids}", flush=True)
    print(f"load average after {loadavg()}")
    print(f"{'scenario':<10} {'expected':<15} {'right':>7}  verdicts")
    for scenario in matrix:
        tally = tallies[scenario.name]
        verdicts = ", ".join(f"{v} {n}" for v, n in tally.verdicts.most_common())
        line = f"{scenario.name:<10} {scenario.expected:<15} {tally.right:>3}/{tally.runs:<3}  {verdicts}"
        if scenario.finding:
            line += f"; {scenario.finding} in {tally.finding_seen}/{tally.runs}"
        print(line)


if __name__ == "__main__":
    main()
