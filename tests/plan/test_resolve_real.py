"""The plan model against real LensKit 2025.8.1: it initializes itself in throw-away processes.

Each case runs `tests/plan_lenskit_probe.py`, where LensKit's `initialize()` sets the BLAS,
torch and Rayon pools (and, for worker cases, its own process pool spawns a worker); the
pools it leaves are compared with what `collect_plan` predicts for the same environment.
All cases start at once so the slow imports overlap.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from lkdoctor.plan.lenskit2025.resolve import collect_plan
from lkdoctor.plan.lenskit2025.settings import LK_VARIABLES
from lkdoctor.plan.lenskit2025.shape import ThreadPlan2025
from lkdoctor.plan.parse import BACKEND_VARIABLES

# Written for LensKit 2025.x (its config API and initialize()); see pyproject markers.
pytestmark = pytest.mark.lenskit2025

PROBE = Path(__file__).parents[1] / "plan_lenskit_probe.py"
CPUS = len(os.sched_getaffinity(0))

# Backend counts of 1 keep LensKit's choice apart from the libraries' defaults (one per CPU).
CASES: dict[str, tuple[dict[str, str], bool]] = {
    "defaults": ({}, False),
    "lists": ({"LK_NUM_THREADS": "1", "LK_NUM_BACKEND_THREADS": str(CPUS)}, False),
    "openblas-set": ({"LK_NUM_BACKEND_THREADS": "1", "OPENBLAS_NUM_THREADS": str(CPUS)}, False),
    "openblas-empty": ({"LK_NUM_BACKEND_THREADS": "1", "OPENBLAS_NUM_THREADS": ""}, False),
    "mkl-alone": ({"LK_NUM_BACKEND_THREADS": "1", "MKL_NUM_THREADS": "1"}, False),
    "mkl-and-omp": (
        {"LK_NUM_BACKEND_THREADS": "1", "MKL_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"},
        False,
    ),
    "worker": ({"LK_NUM_PROCS": "2", "LK_NUM_BACKEND_THREADS": "1"}, True),
    "worker-openblas": (
        {"LK_NUM_PROCS": "2", "LK_NUM_BACKEND_THREADS": "1", "OPENBLAS_NUM_THREADS": str(CPUS)},
        True,
    ),
}


def _clean_environ(case: dict[str, str]) -> dict[str, str]:
    ours = {*LK_VARIABLES, *(v.name for v in BACKEND_VARIABLES)}
    base = {k: v for k, v in os.environ.items() if k not in ours}
    return {**base, **case}


@pytest.fixture(scope="module")
def observed() -> dict[str, dict[str, Any]]:
    running = {
        name: subprocess.Popen(
            [sys.executable, str(PROBE), *(["--worker"] if worker else [])],
            env=_clean_environ(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, (env, worker) in CASES.items()
    }
    results = {}
    for name, process in running.items():
        try:
            out, err = process.communicate(timeout=600)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
        assert process.returncode == 0, f"{name}: {err[-2000:]}"
        results[name] = json.loads(out)
    return results


def predicted_blas(plan: ThreadPlan2025, backend_threads: int) -> int:
    """BLAS threads the model expects: a BLAS variable's pool, else LensKit's backend count."""
    blas = [
        s.threads
        for s in plan.backend_env
        if s.variable in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS") and s.threads is not None
    ]
    return max(blas) if blas else backend_threads


@pytest.mark.parametrize("name", [n for n, (_, worker) in CASES.items() if not worker])
def test_level_zero_is_what_lenskit_applies(name: str, observed: dict[str, Any]) -> None:
    plan = collect_plan(CPUS, CPUS, CASES[name][0])
    main = observed[name]["main"]
    level0 = plan.levels[0]
    assert main["counts"] == [level0.processes, level0.threads, level0.backend_threads]
    assert plan.lenskit_resolved is not None
    assert main["counts"] == [
        plan.lenskit_resolved[0].processes,
        plan.lenskit_resolved[0].threads,
        plan.lenskit_resolved[0].backend_threads,
    ]
    assert main["torch_intra"] == level0.backend_threads
    assert main["torch_inter"] == level0.threads
    assert main["blas"] == predicted_blas(plan, level0.backend_threads)


@pytest.mark.parametrize("name", [n for n, (_, worker) in CASES.items() if worker])
def test_worker_is_what_lenskit_resolved(name: str, observed: dict[str, Any]) -> None:
    plan = collect_plan(CPUS, CPUS, CASES[name][0])
    assert plan.lenskit_resolved is not None and len(plan.lenskit_resolved) >= 2
    own = plan.lenskit_resolved[1]
    worker = observed[name]["worker"]
    assert worker["counts"] == [own.processes, own.threads, own.backend_threads]
    assert worker["torch_intra"] == own.backend_threads
    assert worker["blas"] == predicted_blas(plan, own.backend_threads)
