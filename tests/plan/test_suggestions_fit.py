"""The suggested exports fit, judged here and not by the code under test.

Each case makes a real CPU limit (``taskset`` to one CPU, or a cgroup quota of one CPU
beside two allowed CPUs, which LensKit does not see), asks ``lenskit doctor`` for its
suggestion under settings that oversubscribe, applies it, and lets the installed LensKit
resolve it for real under the same limit: 2025.8 by ``lenskit.parallel.initialize()`` and
the worker configs its process pools give (``ParallelConfig.subprocess()``), 2026.4 by its
``lenskit config`` command. The demand is then computed in this file, from LensKit's
values, and compared with the CPUs the limit leaves; the original settings must not fit
by the same arithmetic, or the case proves nothing. No ``peak_demand``/``collect_plan``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fixtures.real_cgroup import make_quota_group
from helpers import script, target_environ

PY = sys.executable

#: Prints LensKit 2025's levels as it configures them: [[processes, threads, backend], ...]
#: from initialize() in this process and subprocess() for each level of worker processes
#: (what its process pools hand their workers), and what initialize() set up.
LENSKIT_2025_LEVELS = """
import json, os, torch
import lenskit._accel as accel
from lenskit.parallel import get_parallel_config, initialize, effective_cpu_count
initialize()
config = get_parallel_config()
levels = [[config.processes, config.threads, config.backend_threads]]
while config.processes > 1:
    config = config.subprocess()
    levels.append([config.processes, config.threads, config.backend_threads])
print(json.dumps({
    "levels": levels,
    "cpus": effective_cpu_count(),
    "torch_threads": torch.get_num_threads(),
    "rayon_threads": accel.thread_count(),
}))
"""


@contextmanager
def limited(how: str) -> Iterator[list[str]]:
    """A command prefix that runs its command under a one-CPU limit."""
    if how == "taskset":
        yield ["taskset", "-c", str(min(os.sched_getaffinity(0)))]
        return
    if len(os.sched_getaffinity(0)) < 2:
        pytest.fail("the quota case needs two allowed CPUs, to differ from the quota")
    group = make_quota_group(on_parent=False, quota_us=100000)  # 1 CPU per 100 ms period
    try:
        yield group.command()
    finally:
        group.remove()


def run(argv: list[str], env: dict[str, str], cwd: Path | None = None) -> str:
    result = subprocess.run(
        argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=240, check=False
    )
    assert result.returncode in (0, 1), result.stderr
    return result.stdout


def suggestion(prefix: list[str], env: dict[str, str], cwd: Path | None = None) -> dict[str, Any]:
    argv = [*prefix, script("lenskit"), "doctor", "--json", "--no-bench"]
    report: dict[str, Any] = json.loads(run(argv, target_environ(env), cwd))
    assert report["cpu"]["effective"] == 1, report["cpu"]  # the limit is the one made here
    plan: dict[str, Any] = report["plan"]
    assert plan["suggested_env"], plan
    return plan


def applied(env: dict[str, str], plan: dict[str, Any]) -> dict[str, str]:
    kept = {k: v for k, v in env.items() if k not in plan["suggested_unset"]}
    return {**kept, **plan["suggested_env"]}


def lenskit_2025(prefix: list[str], env: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(
        run([*prefix, PY, "-c", LENSKIT_2025_LEVELS], target_environ(env)).splitlines()[-1]
    )
    return out


def demand_2025(levels: list[list[int]]) -> int:
    """The most threads busy at once: at each level, every process of it (the product of the
    process counts above) runs ``threads`` threads that may each drive ``backend`` threads."""
    busiest, processes = 0, 1
    for count, threads, backend in levels:
        busiest = max(busiest, processes * threads * backend)
        processes *= count
    return busiest


CASES_2025 = [
    (
        "taskset",
        {"LK_NUM_PROCS": "4", "LK_NUM_THREADS": "4,2", "LK_NUM_BACKEND_THREADS": "2"},
    ),
    # LensKit counts both allowed CPUs; the quota leaves one
    ("quota", {"LK_NUM_THREADS": "2"}),
    ("quota", {"LK_NUM_PROCS": "2,2", "LK_NUM_BACKEND_THREADS": "2"}),
]


@pytest.mark.lenskit2025
@pytest.mark.parametrize(("how", "env"), CASES_2025, ids=["taskset", "quota", "quota-nested"])
def test_lenskit_2025_initializes_the_suggestion_within_the_cpus(
    how: str, env: dict[str, str]
) -> None:
    with limited(how) as prefix:
        before = lenskit_2025(prefix, env)
        plan = suggestion(prefix, env)
        after = lenskit_2025(prefix, applied(env, plan))
    cpus = 1
    assert demand_2025(before["levels"]) > cpus, before  # the settings as found do not fit
    assert demand_2025(after["levels"]) <= cpus, (plan["suggested_env"], after)
    # what initialize() really set up in the main process is that first level
    _, threads, backend = after["levels"][0]
    assert (after["rayon_threads"], after["torch_threads"]) == (threads, backend)


def lenskit_2026(prefix: list[str], env: dict[str, str], cwd: Path) -> dict[str, Any]:
    """The parallel settings LensKit 2026's own `lenskit config` resolves (and the CPU count
    it resolves them with, which Ray's node size follows)."""
    out = run([*prefix, PY, "-m", "lenskit", "config"], target_environ(env), cwd)
    assert out.strip(), "lenskit config printed nothing"
    parallel: dict[str, Any] = json.loads(out[out.index("{") :])["parallel"]
    code = "import os; print(os.process_cpu_count())"
    parallel["node_cpus"] = int(run([*prefix, PY, "-c", code], target_environ(env)).strip())
    return parallel


def demand_2026(s: dict[str, Any]) -> int:
    """The most threads busy at once under LensKit 2026's resolved settings.

    ``t`` Rayon threads each drive backends of ``b`` threads (``b`` < 0: the backends keep
    their default, one per CPU). Sequential: ``t × b``. A thread pool of ``j`` batch jobs in
    one process: every job may be in backend code (``j × b``), or one may hold the Rayon
    pool while the others are in backend code. Ray: ``min(j, node // max(b, 1))`` task
    processes at once, each ``t × b``.
    """
    t, j = s["num_threads"], s["num_batch_jobs"]
    b = s["num_backend_threads"] if s["num_backend_threads"] >= 1 else s["num_cpus"]
    if s["use_ray"]:
        tasks = min(j, s["node_cpus"] // max(s["num_backend_threads"], 1))
        return max(tasks, 1) * t * b
    if j <= 1:
        return t * b
    return max(t * b, j * b, (j - 1) * b + t)


CASES_2026 = [
    (
        "taskset",
        {"LK_NUM_THREADS": "4", "LK_NUM_BACKEND_THREADS": "2", "LK_NUM_BATCH_JOBS": "3"},
        None,
    ),
    # the file beats flat exports, so the suggestion must use what beats the file
    ("quota", {}, "[parallel]\nnum_threads = 2\nnum_batch_jobs = 2\n"),
    ("taskset", {"LK_USE_RAY": "1", "LK_NUM_THREADS": "2", "LK_NUM_BATCH_JOBS": "4"}, None),
    ("quota", {"LK_NUM_BACKEND_THREADS": "-1"}, None),
]


@pytest.mark.lenskit2026
@pytest.mark.parametrize(
    ("how", "env", "toml"),
    CASES_2026,
    ids=["taskset-thread-pool", "quota-lenskit.toml", "taskset-ray", "quota-backends-alone"],
)
def test_lenskit_2026_resolves_the_suggestion_within_the_cpus(
    how: str, env: dict[str, str], toml: str | None, tmp_path: Path
) -> None:
    (tmp_path / ".git").mkdir()  # LensKit's search for lenskit.toml stops here
    if toml is not None:
        (tmp_path / "lenskit.toml").write_text(toml)
    with limited(how) as prefix:
        before = lenskit_2026(prefix, env, tmp_path)
        plan = suggestion(prefix, env, tmp_path)
        after = lenskit_2026(prefix, applied(env, plan), tmp_path)
    cpus = 1
    assert demand_2026(before) > cpus, before
    assert demand_2026(after) <= cpus, (plan["suggested_env"], plan["suggested_unset"], after)
