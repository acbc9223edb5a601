"""Cost of hostile input a user controls: what each one adds to `lenskit doctor --json --no-bench`.

Issue #29: one long environment value made the report take minutes (quadratic
backtracking in the masking patterns). Each case runs the real doctor in a fresh process,
round-robin with the plain report so that machine noise hits all alike, and prints the
median wall time and the median CPU time (user + system of the doctor and its children)
of each, the CPU time it adds to the plain report (target: at most 1 s) and whether its
report is valid JSON with a finding for every long thread variable.

    python scripts/bench_hostile.py [--runs 3] [--python ENV/bin/python] [--case NAME ...]

The cases: a 100,000-character value in each thread variable alone; the longest value
Linux lets a process inherit (128 KiB a variable) in five at once; 1 MB in each of the five
set inside the doctor's own process (the report's whole pipeline, from ``os.environ``);
a 10 MB ``lenskit.toml`` with a 1 MB string value (``-R``); ``--pid`` of a process whose
command line is 1 MB (ten 100 kB arguments) and whose environment holds the five long
values; a ``--ray`` address of 100,000 characters; ``-- COMMAND`` with 10,000 arguments.
CPU time is the figure that decides: on a shared machine waiting for a CPU stretches the
wall time of every run alike.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

TARGET_SECONDS = 1.0
THREAD_VARIABLES = (
    "PYTHON_CPU_COUNT",
    "OMP_NUM_THREADS",
    "SLURM_CPUS_PER_TASK",
    "LK_NUM_THREADS",
    "MKL_NUM_THREADS",
)
LONG = 100_000
MEGABYTE = 1_000_000
#: Linux's MAX_ARG_STRLEN: the most one ``NAME=value`` string can carry through exec.
MAX_ARG_STRLEN = 32 * 4096
#: In the doctor's own process: the five 1 MB values, then the CLI as ``python -m lkdoctor``.
IN_PROCESS = (
    "import os, runpy, sys\n"
    "for name in sys.argv[2:]:\n"
    "    os.environ[name] = 'a' * int(sys.argv[1])\n"
    "sys.argv = ['lkdoctor', '--json', '--no-bench']\n"
    "runpy.run_module('lkdoctor', run_name='__main__')\n"
)
SLEEPER = "import time; time.sleep(600)"


def long_value(length: int) -> str:
    return "a" * length


@dataclass
class Case:
    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    long_variables: tuple[str, ...] = ()  # each must be a finding
    expect_status: tuple[int, ...] = (0,)
    report_on_stdout: bool = True
    report_file: Path | None = None  # where --report writes it instead


@dataclass
class Run:
    wall: float
    cpu: float
    problem: str | None


def run_case(case: Case, timeout: float) -> Run:
    env = {**os.environ, **case.env}
    if case.report_file:
        case.report_file.unlink(missing_ok=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    try:
        done = subprocess.run(
            case.argv, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return Run(timeout, float("nan"), f"no answer within {timeout:.0f} s")
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Run(wall, cpu, check(case, done))


def check(case: Case, done: subprocess.CompletedProcess[str]) -> str | None:
    """What is wrong with the run's report, or None."""
    if done.returncode not in case.expect_status:
        return f"exit status {done.returncode}: {done.stderr.strip()[-300:]}"
    if not case.report_on_stdout and case.report_file is None:
        return None
    try:
        text = case.report_file.read_text() if case.report_file else done.stdout
        report = json.loads(text)
    except (OSError, json.JSONDecodeError) as exc:
        return f"the report is not valid JSON: {exc}"
    titles = " ".join(finding["title"] for finding in report.get("findings", []))
    missing = [name for name in case.long_variables if name not in titles]
    return f"no finding for {', '.join(missing)}" if missing else None


def inherited(python: str) -> tuple[str, ...]:
    """The thread variables a new process of ``python`` can inherit long: Python 3.13 refuses
    to start with an invalid PYTHON_CPU_COUNT (a fatal error before the doctor runs)."""
    probe = [python, "-c", "import sys; print(sys.version_info >= (3, 13))"]
    refuses = subprocess.run(probe, capture_output=True, text=True, check=True, timeout=60)
    if refuses.stdout.strip() == "True":
        return tuple(name for name in THREAD_VARIABLES if name != "PYTHON_CPU_COUNT")
    return THREAD_VARIABLES


def cases(python: str, workdir: Path, sleepers: dict[str, int]) -> list[Case]:
    script = Path(python).parent / "lenskit"
    doctor = [str(script) if script.exists() else shutil.which("lenskit") or "lenskit", "doctor"]
    plain = [*doctor, "--json", "--no-bench"]
    found: list[Case] = [Case("plain report", plain)]
    variables = inherited(python)
    for name in variables:
        found.append(
            Case(f"{name} of 100,000 characters", plain, {name: long_value(LONG)}, (name,))
        )
    widest = {name: long_value(MAX_ARG_STRLEN - len(name) - 2) for name in variables}
    found.append(Case(f"{len(variables)} variables of 128 KiB at once", plain, widest, variables))
    found.append(Case("in-process: plain report", [python, "-c", IN_PROCESS, "0"]))
    found.append(
        Case(
            "in-process: 5 variables of 1 MB at once",
            [python, "-c", IN_PROCESS, str(MEGABYTE), *THREAD_VARIABLES],
            long_variables=THREAD_VARIABLES,
        )
    )
    found.append(Case("lenskit.toml of 10 MB (-R)", [*plain, "-R", str(workdir)]))
    found.append(Case("--pid: plain process", [*plain, "--pid", str(sleepers["plain"])]))
    found.append(
        Case("--pid: 1 MB command line and environment", [*plain, "--pid", str(sleepers["long"])])
    )
    # nothing listens there: the doctor says so and exits with status 2, at once
    found.append(
        Case(
            "--ray: a short address",
            [*plain, "--ray", "127.0.0.1:9"],
            expect_status=(2,),
            report_on_stdout=False,
        )
    )
    found.append(
        Case(
            "--ray: an address of 100,000 characters",
            [*plain, "--ray", "127.0.0.1:" + "9" * LONG],
            expect_status=(2,),
            report_on_stdout=False,
        )
    )
    report = workdir / "report.json"
    to_file = [*plain, "--report", str(report), "--", "true"]
    found.append(Case("-- COMMAND: true", to_file, report_on_stdout=False, report_file=report))
    found.append(
        Case(
            "-- COMMAND: true with 10,000 arguments",
            [*to_file, *(f"argument-{i}" for i in range(10_000))],
            report_on_stdout=False,
            report_file=report,
        )
    )
    return found


def write_settings(workdir: Path) -> None:
    """A 10 MB lenskit.toml: a 1 MB string where a count belongs, and 9 MB of other keys."""
    filler = "".join(f'key_{i} = "{"x" * 900}"\n' for i in range(10_000))
    text = f'[parallel]\nnum_threads = "{long_value(MEGABYTE)}"\n\n[other]\n{filler}'
    (workdir / "lenskit.toml").write_text(text)


def start_sleepers(python: str) -> tuple[dict[str, int], list[subprocess.Popen[bytes]]]:
    arguments = [long_value(LONG) for _ in range(10)]  # 1 MB of command line
    environ = {**os.environ, **{name: long_value(LONG) for name in inherited(python)}}
    plain = subprocess.Popen([python, "-c", SLEEPER])
    long = subprocess.Popen([python, "-c", SLEEPER, *arguments], env=environ)
    return {"plain": plain.pid, "long": long.pid}, [plain, long]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--timeout", type=float, default=300.0, help="per run, seconds")
    parser.add_argument("--case", action="append", help="only cases whose name contains this")
    args = parser.parse_args()
    # a kill ends the run through the finally below, so the sleepers it started go too
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory(prefix="bench-hostile-") as folder:
        workdir = Path(folder)
        write_settings(workdir)
        sleepers, processes = start_sleepers(args.python)
        try:
            measure(args, cases(args.python, workdir, sleepers))
        finally:
            for process in processes:
                process.kill()
                process.wait()


BASELINES: dict[str, Callable[[str], bool]] = {
    # each case is compared with the plain run of the same kind
    "in-process: plain report": lambda name: name.startswith("in-process"),
    "--pid: plain process": lambda name: name.startswith("--pid"),
    "--ray: a short address": lambda name: name.startswith("--ray"),
    "-- COMMAND: true": lambda name: name.startswith("-- COMMAND"),
}


def measure(args: argparse.Namespace, all_cases: list[Case]) -> None:
    version = subprocess.run(
        [
            args.python,
            "-c",
            "import sys, importlib.metadata as m; "
            "print(sys.version.split()[0], 'LensKit', m.version('lenskit'), 'lkdoctor', m.version('lkdoctor'))",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    ).stdout.strip()
    print(f"environment {args.python}: Python {version}; load average {loadavg()}", flush=True)
    chosen = [
        case
        for case in all_cases
        if not args.case
        or case.name in BASELINES
        or case.name == "plain report"
        or any(part in case.name for part in args.case)
    ]
    runs: dict[str, list[Run]] = {case.name: [] for case in chosen}
    for _ in range(args.runs):  # round-robin: a busier moment hits every case alike
        for case in chosen:
            runs[case.name].append(run_case(case, args.timeout))
    print(f"load average after {loadavg()}\n")
    print(f"{'case':<46} {'wall':>8} {'CPU':>8} {'added CPU':>10}  report")
    failed = False
    for case in chosen:
        baseline = next(
            (base for base, covers in BASELINES.items() if covers(case.name)), "plain report"
        )
        wall = median([run.wall for run in runs[case.name]])
        cpu = median([run.cpu for run in runs[case.name]])
        added = cpu - median([run.cpu for run in runs[baseline]])
        problems = {run.problem for run in runs[case.name] if run.problem}
        verdict = "; ".join(sorted(problems)) if problems else "valid"
        over = case.name != baseline and not added <= TARGET_SECONDS
        failed |= over or bool(problems)
        mark = "  > 1 s" if over else ""
        print(f"{case.name:<46} {wall:7.2f}s {cpu:7.2f}s {added:+9.2f}s  {verdict}{mark}")
    print(
        f"\nmedians of {args.runs} run(s); target: each case adds at most {TARGET_SECONDS:.0f} s CPU"
    )
    sys.exit(1 if failed else 0)


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


if __name__ == "__main__":
    main()
