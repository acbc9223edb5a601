"""Every mode of ``lkdoctor`` against its golden report: the same inputs, the same JSON.

Each mode (plain, ``--pid`` of a sleeping child, ``-- COMMAND``, ``--compare``,
``--verify``, and the usage errors with their exit statuses) runs the installed command
pinned to one CPU, in an empty working folder, with a fixed environment and an empty
``/dev/shm`` of its own (a private mount namespace: what other runs on this machine leave
there is not an input), so what the report says depends on these inputs only. What a run measures (times, pids, thread counts,
ratios, the benchmark's numbers) and what names this machine (paths, versions, its CPU and
memory sizes) is replaced by a placeholder of its type; the rest must equal
``tests/golden/modes/<mode>.<LensKit line>.json`` exactly.

Regenerate after a change that is meant to change the output (review the diff):

    LKDOCTOR_UPDATE_GOLDEN=1 bash scripts/test.sh tests/test_modes_golden.py
"""

from __future__ import annotations

import json
import os
import platform
import re
import socket
import subprocess
import sys
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from helpers import KEPT_HOST_VARIABLES, ready_process, script

GOLDEN = Path(__file__).parent / "golden" / "modes"
UPDATE_VARIABLE = "LKDOCTOR_UPDATE_GOLDEN"
LINE = "lenskit" + metadata.version("lenskit").split(".", 1)[0]

#: Oversubscribed on the one CPU the doctor is pinned to, so there is a suggestion to
#: verify and compare.
THREADING = {"LK_NUM_PROCS": "2", "LK_NUM_THREADS": "4", "OMP_NUM_THREADS": "3"}

#: Keys whose values a run measures or this machine decides: compared by type only.
VOLATILE_KEYS = frozenset(
    {
        # times
        "at",
        "seconds",
        "elapsed_seconds",
        "wall_seconds",
        "cpu_seconds",
        "wait_seconds",
        "first_seen",
        "last_seen",
        "interval",
        "window_seconds",
        "observer_cpu_seconds",
        "throttled_seconds",
        "age_s",
        "wall_s",
        "budget_seconds",
        # pids
        "pid",
        "ppid",
        "root_pid",
        "lenskit_pid",
        "plan_environ_pid",
        "owner_pid",
        "tid",
        # thread counts and what the sampler saw
        "threads",
        "thread_names",
        "samples",
        "peak_processes",
        "peak_processes_at",
        "processor",
        "states",
        "state",
        "running",
        "waiting",
        "runnable",
        "avg_running",
        "avg_waiting",
        "avg_runnable",
        "peak_runnable",
        "nonvoluntary_switches_per_second",
        "periods",
        "throttled_periods",
        "throttled_share",
        "psi_some_share",
        # ratios and measurements
        "ratio",
        "ratio_min",
        "ratio_max",
        "interval_low",
        "interval_high",
        "speedup",
        "peak_speedup",
        "right_sized_speedup",
        "efficiency",
        "noise",
        "wait_share",
        "peak_wait_share",
        "oversubscribed_share",
        "contention_wait_share",
        "excess_wait_share",
        "expected_own_wait_share",
        "readings",
        "measure",
        "repeats",
        "overruns",
        "metrics",
        "timeline",
        "joules",
        "pairs",
        # memory sizes of this machine and of a run
        "host_memory_bytes",
        "host_total_bytes",
        "host_available_bytes",
        "memory_total_bytes",
        "memory_available_bytes",
        "usage_bytes",
        "budget_bytes",
        "used_bytes",
        "free_bytes",
        "size_bytes",
        "peak_pss_bytes",
        "peak_uss_bytes",
        "peak_shm_used_bytes",
        "peak_segments_bytes",
        "cgroup_peak_bytes",
        "shm_used_before_bytes",
        "parent_rss_bytes",
        "worker_base_rss_bytes",
        "worker_base_uss_bytes",
        "memory_bytes",
        "limit_bytes",
        "memory_limit_bytes",
        "cgroup_limit_bytes",
        "largest_fitting_workers",
        # this machine's CPUs and build
        "logical",
        "physical",
        "smt",
        "hardware_concurrency",
        "cpu_frequency_hz",
        "cpu_capability",
        "processor_name",
        "probe_build",
        "probe_version",
        "version",
        "versions",
        "python",
        "platform",
        "machine",
        "hostname",
        "openmp_version",
        "mkl_version",
        "mkldnn_version",
        "built",
        "gpus",
    }
)

#: Text that quotes what a run measured: its numbers are placeholders.
MEASURED_TEXT_KEYS = frozenset({"evidence", "title", "reason", "message", "stopped", "detail"})

#: A variable the test keeps for this machine's OpenBLAS (see helpers): not an input.
HOST_VARIABLES = frozenset(KEPT_HOST_VARIABLES)


def placeholder(value: Any) -> str:
    return f"<{type(value).__name__}>"


#: A run's own cgroup is named after the doctor's pid and a random number.
RUN_GROUP = re.compile(r"lkdoctor-run-\d+-\d+")
#: What a remediation adds once the suggestion was measured (a verdict, a ratio).
MEASURED_CLAUSE = re.compile(r"(measured[^:;]*:).*$")
#: A remediation that quotes the --verify measurement (see checks/verification.py).
MEASURED_REMEDIATION = re.compile(r"(^|; )measured\b")


def normalised(value: Any, substitutions: Sequence[tuple[str, str]], key: str = "") -> Any:
    """``value`` with its volatile parts replaced by placeholders (see the module's doc)."""
    if key in VOLATILE_KEYS and value is not None:
        return placeholder(value)
    if isinstance(value, dict):
        return {
            name: normalised(item, substitutions, name)
            for name, item in value.items()
            if name not in HOST_VARIABLES
        }
    if isinstance(value, list):
        items = [normalised(item, substitutions, key) for item in value]
        if key == "blas":  # threadpoolctl lists the libraries in no fixed order
            items.sort(key=lambda item: json.dumps(item, sort_keys=True))
        return items
    if isinstance(value, str):
        for found, replacement in substitutions:
            value = value.replace(found, replacement)
        value = RUN_GROUP.sub("lkdoctor-run-<pid>-<n>", value)
        if key == "remediation":
            value = MEASURED_CLAUSE.sub(r"\1 <measurement>", value)
        if key in MEASURED_TEXT_KEYS:
            value = re.sub(r"\d+(\.\d+)?", "<n>", value)
        return value
    return value


def sleeping_child(env: dict[str, str], cwd: Path) -> AbstractContextManager[subprocess.Popen[str]]:
    """A Python process that says ``ready`` and sleeps (a ``--pid`` target)."""
    return ready_process(
        [sys.executable, "-c", 'import time; print("ready", flush=True); time.sleep(120)'],
        env=env,
        cwd=cwd,
        preexec_fn=pin_to_one_cpu,
    )


ONE_CPU = min(os.sched_getaffinity(0))


def pin_to_one_cpu() -> None:
    os.sched_setaffinity(0, {ONE_CPU})


def fixed_environ(threading: dict[str, str]) -> dict[str, str]:
    """Only what the doctor needs to run, plus ``threading``: no variable of this test run."""
    kept = ("PATH", "HOME", "LANG", "TMPDIR", *KEPT_HOST_VARIABLES)
    env = {name: os.environ[name] for name in kept if name in os.environ}
    env["PYTHONSAFEPATH"] = "1"  # the installed lkdoctor, never a checkout's
    return {**env, **threading}


def own_cgroups() -> dict[str, str]:
    """This test's cgroup paths (where the machine placed it), which the doctor and its
    children inherit."""
    paths = {}
    for line in Path("/proc/self/cgroup").read_text(encoding="utf-8").splitlines():
        path = line.split(":", 2)[2]
        if len(path) > 1:  # "/" is in every path: not a name of this machine
            paths[path] = "<own-cgroup>"
    return paths


def substitutions(folder: Path) -> list[tuple[str, str]]:
    """Strings that name this machine or this run, longest first."""
    pairs = {
        **own_cgroups(),
        str(folder): "<folder>",
        sys.executable: "<python>",
        str(Path(sys.executable).parent): "<bin>",
        sys.prefix: "<prefix>",
        sys.base_prefix: "<base-prefix>",
        str(Path.home()): "<home>",
        socket.gethostname(): "<host>",
        platform.python_version(): "<python-version>",
    }
    return sorted(((k, v) for k, v in pairs.items() if k), key=lambda kv: -len(kv[0]))


#: Runs the rest of its command line in a private mount namespace with an empty /dev/shm.
WITH_EMPTY_SHM = (
    "unshare",
    "--mount",
    "--propagation",
    "private",
    "sh",
    "-c",
    'mount -t tmpfs -o size=64m lkdoctor-golden /dev/shm && exec "$@"',
    "with-empty-shm",
)


def doctor(
    args: Sequence[str], folder: Path, env: dict[str, str], timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*WITH_EMPTY_SHM, script("lkdoctor"), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=folder,
        timeout=timeout,
        check=False,
        preexec_fn=pin_to_one_cpu,
    )


def outcome(
    result: subprocess.CompletedProcess[str], report: dict[str, Any] | None, folder: Path
) -> dict[str, Any]:
    """What the golden file holds: the exit status, the normalised report, and stderr when
    there is no report (a usage error's one line)."""
    subs = substitutions(folder)
    recorded: dict[str, Any] = {"exit_status": result.returncode}
    if report is None:
        recorded["stderr"] = normalised(result.stderr, subs)
    else:
        recorded["report"] = normalised(report, subs)
    return recorded


def check_golden(name: str, recorded: dict[str, Any]) -> None:
    path = GOLDEN / f"{name}.{LINE}.json"
    text = json.dumps(recorded, indent=2, sort_keys=True) + "\n"
    if os.environ.get(UPDATE_VARIABLE) == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"no golden report {path}; record it with {UPDATE_VARIABLE}=1"
    golden = json.loads(path.read_text(encoding="utf-8"))
    changed = differences(golden, json.loads(text))
    assert changed == [], f"{name}: the output changed from {path}:\n" + "\n".join(changed)


def differences(golden: Any, now: Any, where: str = "") -> list[str]:
    """Where ``now`` differs from ``golden``: one line per path, golden → now."""
    if isinstance(golden, dict) and isinstance(now, dict):
        return [
            line
            for key in sorted(set(golden) | set(now))
            for line in differences(
                golden.get(key, "<absent>"), now.get(key, "<absent>"), f"{where}.{key}"
            )
        ]
    if isinstance(golden, list) and isinstance(now, list) and len(golden) == len(now):
        return [
            line
            for index, (was, is_now) in enumerate(zip(golden, now, strict=True))
            for line in differences(was, is_now, f"{where}[{index}]")
        ]
    return [] if golden == now else [f"{where}: {golden!r} -> {now!r}"[:400]]


def report_of(result: subprocess.CompletedProcess[str], path: Path | None) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8") if path is not None else result.stdout
    assert text.strip(), result.stderr
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def run_plain(folder: Path) -> dict[str, Any]:
    env = fixed_environ(THREADING)
    result = doctor(["--json", "--no-bench", "--fail-on", "warning"], folder, env)
    return outcome(result, report_of(result, None), folder)


def run_pid(folder: Path) -> dict[str, Any]:
    # the target's own threading variables, not the doctor's, make the report
    target_env = fixed_environ({"LK_NUM_THREADS": "2", "MKL_NUM_THREADS": "1"})
    with sleeping_child(target_env, folder) as child:
        args = ["--json", "--pid", str(child.pid), "--sample-time", "0.3"]
        result = doctor(args, folder, fixed_environ(THREADING))
    return outcome(result, report_of(result, None), folder)


def run_command(folder: Path) -> dict[str, Any]:
    path = folder / "report.json"
    command = [sys.executable, "-c", "import sys; print('out'); sys.exit(3)"]
    args = ["--json", "--no-bench", "--report", str(path), "--", *command]
    result = doctor(args, folder, fixed_environ(THREADING))
    recorded = outcome(result, report_of(result, path), folder)
    recorded["stdout"] = result.stdout  # the command's own output passes through
    return recorded


def run_compare(folder: Path) -> dict[str, Any]:
    path = folder / "report.json"
    args = ["--json", "--compare", "--repeat", "1", "--report", str(path)]
    command = [sys.executable, "-c", "pass"]
    result = doctor([*args, "--", *command], folder, fixed_environ(THREADING))
    return outcome(result, report_of(result, path), folder)


def run_verify(folder: Path) -> dict[str, Any]:
    args = ["--json", "--verify", "--bench-time", "0.05"]
    result = doctor(args, folder, fixed_environ(THREADING), timeout=600)
    recorded = outcome(result, report_of(result, None), folder)
    # how the measurement came out is the measurement's: that it was made, and its shape, are
    # the mode's
    verification = recorded["report"]["bench"]["verification"]
    for measured in ("verdict", "reason", "stopped", "pairs_needed"):
        verification[measured] = "<measured>"  # a str, a number or None, as it came out
    # the plan finding quotes that outcome: its wording and severity follow the verdict
    for finding in recorded["report"]["findings"]:
        if MEASURED_REMEDIATION.search(finding.get("remediation") or ""):
            finding["remediation"] = finding["severity"] = "<measured>"
    return recorded


MODES: dict[str, Callable[[Path], dict[str, Any]]] = {
    "plain": run_plain,
    "pid": run_pid,
    "command": run_command,
    "compare": run_compare,
    "verify": run_verify,
}


@pytest.mark.parametrize("mode", sorted(MODES))
def test_each_mode_reports_as_its_golden_report(mode: str, tmp_path: Path) -> None:
    check_golden(mode, MODES[mode](tmp_path))


#: Refused options, commands that cannot run, a process that does not exist: the exit
#: status and the one line on stderr.
USAGE: dict[str, list[str]] = {
    "verify-pid": ["--verify", "--pid", "1"],
    "verify-command": ["--verify", "--", "true"],
    "verify-no-bench": ["--verify", "--no-bench"],
    "command-apply": ["--apply", "--", "true"],
    "command-pid": ["--pid", "1", "--", "true"],
    "single-process": ["--single-process"],
    "apply-pid": ["--apply", "--pid", "1"],
    "ray-pid": ["--ray", "127.0.0.1:1", "--pid", "1"],
    "model-ray": ["--model", "/dev/null", "--ray", "127.0.0.1:1"],
    "compare-no-command": ["--compare"],
    "repeat-no-compare": ["--repeat", "2"],
    "compare-pid": ["--compare", "--pid", "1", "--", "true"],
    "compare-apply": ["--compare", "--apply", "--", "true"],
    "compare-verify": ["--compare", "--verify", "--", "true"],
    "compare-no-bench": ["--compare", "--no-bench", "--", "true"],
    "json-format": ["--json", "--format", "text"],
    "typo": ["jsn"],
    "no-process": ["--no-bench", "--pid", "4194303"],
    "command-not-found": ["--no-bench", "--", "/nonexistent/lkdoctor-golden"],
    "command-not-runnable": ["--no-bench", "--", "./not-runnable"],
    "compare-not-found": ["--compare", "--repeat", "1", "--", "/nonexistent/lkdoctor-golden"],
}


def test_usage_errors_and_exit_statuses_are_as_golden(tmp_path: Path) -> None:
    env = fixed_environ(THREADING)
    (tmp_path / "not-runnable").write_text("a file without the execute bit\n")
    recorded = {}
    for name, args in USAGE.items():
        result = doctor(args, tmp_path, env, timeout=120)
        recorded[name] = {
            "args": args,
            "exit_status": result.returncode,
            "stderr_last_line": normalised(
                (result.stderr.strip().splitlines() or [""])[-1], substitutions(tmp_path)
            ),
        }
    check_golden("usage", recorded)
