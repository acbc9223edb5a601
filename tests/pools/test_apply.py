"""--apply: level 0 applied the way LensKit's initialize() does, with the real torch,
threadpoolctl and lenskit._accel, each in a fresh process (applying changes it for good)."""

from __future__ import annotations

import json
import os
import sys
import textwrap
from typing import Any

import pytest
from click.testing import CliRunner
from helpers import run_cli, script

from lkdoctor.cli import doctor

pytestmark = pytest.mark.torch

BLAS_VARIABLES = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS")


def clean_env(**extra: str) -> dict[str, str]:
    """Our environment without the variables that decide pool sizes, plus ``extra``."""
    env = {
        k: v for k, v in os.environ.items() if k not in BLAS_VARIABLES and not k.startswith("LK_")
    }
    return {**env, **extra}


def apply_json(env: dict[str, str]) -> dict[str, Any]:
    result = run_cli(script("lkdoctor"), "--apply", "--json", "--no-bench", env=env, timeout=180)
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def steps_by_number(data: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {step["step"]: step for step in data["pools"]["apply_steps"]}


@pytest.mark.lenskit2025
def test_apply_sets_every_pool_to_level_zero() -> None:
    data = apply_json(clean_env(LK_NUM_THREADS="3", LK_NUM_BACKEND_THREADS="2"))
    level = data["plan"]["levels"][0]
    threads, backend = level["threads"], level["backend_threads"]
    assert (threads, backend) == (3, 2)  # the plan honoured the variables
    pools = data["pools"]
    assert pools["applied"] is True
    steps = steps_by_number(data)
    assert sorted(steps) == [0, 1, 2, 3, 4]
    assert all(step["status"] == "applied" for step in steps.values()), steps
    assert pools["torch"]["inter_op"] == threads
    assert pools["torch"]["intra_op"] == backend
    assert pools["rayon"]["lenskit_threads"] == threads  # read, now that LensKit built it
    blas = [e for e in pools["blas"] if e["user_api"] == "blas"]
    assert blas and all(e["num_threads"] == backend for e in blas)
    assert not [f for f in data["findings"] if f["id"] == "apply-failed"]


@pytest.mark.parametrize("variable", ["OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"])
def test_blas_limit_is_skipped_when_a_blas_variable_is_set(variable: str) -> None:
    data = apply_json(clean_env(LK_NUM_BACKEND_THREADS="2", **{variable: "1"}))
    step = steps_by_number(data)[1]
    assert step["status"] == "skipped"
    assert f"{variable}=1" in step["detail"]
    if variable == "OPENBLAS_NUM_THREADS":
        # Skipped: OpenBLAS keeps what its own variable gave it, not B0=2.
        openblas = [e for e in data["pools"]["blas"] if e["internal_api"] == "openblas"]
        assert openblas and all(e["num_threads"] == 1 for e in openblas)
    assert data["pools"]["torch"]["intra_op"] == 2  # step 4 still applies


@pytest.mark.lenskit2025
def test_each_failing_step_is_a_finding_and_the_rest_still_apply() -> None:
    code = textwrap.dedent(
        """
        import torch
        from lenskit._accel import init_accel_pool
        torch.set_num_interop_threads(1)  # inter-op threads can be set only once
        init_accel_pool(1)                # and LensKit's Rayon pool built only once
        import lkdoctor
        print(lkdoctor.collect(apply=True).model_dump_json())
        """
    )
    result = run_cli(
        sys.executable, "-c", code,
        env=clean_env(LK_NUM_THREADS="2", LK_NUM_BACKEND_THREADS="2"), timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    steps = steps_by_number(data)
    assert steps[2]["status"] == "failed" and "RuntimeError" in steps[2]["detail"]
    assert steps[3]["status"] == "failed"
    assert "already exists with 1 threads" in steps[3]["detail"]
    assert steps[1]["status"] == steps[4]["status"] == "applied"
    failed = sorted(f["title"] for f in data["findings"] if f["id"] == "apply-failed")
    assert len(failed) == 2
    assert "step 2" in failed[0] and "step 3" in failed[1]
    pools = data["pools"]
    assert pools["torch"]["inter_op"] == 1  # the earlier setting stands, as in LensKit
    assert pools["torch"]["intra_op"] == 2
    assert pools["rayon"]["lenskit_threads"] == 1


def test_apply_with_pid_is_a_usage_error() -> None:
    result = CliRunner().invoke(doctor, ["--apply", "--pid", str(os.getpid())])
    assert result.exit_code == 2
    assert "--apply" in result.output
    import lkdoctor

    with pytest.raises(ValueError):
        lkdoctor.collect(apply=True, pid=os.getpid())


@pytest.mark.lenskit2025
def test_apply_text_lists_the_steps() -> None:
    result = run_cli(script("lkdoctor"), "--apply", "--no-bench", env=clean_env(LK_NUM_THREADS="2"))
    assert result.returncode == 0, result.stderr
    section = result.stdout.split("Live pools", 1)[1]
    assert "applied level 0" in section
    assert "torch.set_num_interop_threads(2)" in section
    assert "lenskit._accel.init_accel_pool(2)" in section
    assert "LensKit Rayon" in section and "not read" not in section


# --- LensKit 2026: what its init_threading does -------------------------------------------


@pytest.mark.lenskit2026
def test_apply_under_2026_does_what_init_threading_does() -> None:
    data = apply_json(clean_env(LK_NUM_THREADS="3", LK_NUM_BACKEND_THREADS="2"))
    assert data["plan"]["dialect"] == "2026"
    steps = steps_by_number(data)
    assert sorted(steps) == [0, 1, 3, 4]  # no inter-op step in 2026
    assert all(step["status"] == "applied" for step in steps.values()), steps
    pools = data["pools"]
    assert pools["torch"]["intra_op"] == 2
    assert pools["rayon"]["lenskit_threads"] == 3
    blas = [e for e in pools["blas"] if e["user_api"] == "blas"]
    assert blas and all(e["num_threads"] == 2 for e in blas)


@pytest.mark.lenskit2026
def test_apply_under_2026_leaves_backends_alone_when_negative() -> None:
    data = apply_json(clean_env(LK_NUM_THREADS="2", LK_NUM_BACKEND_THREADS="-1"))
    steps = steps_by_number(data)
    assert steps[1]["status"] == "skipped" and steps[4]["status"] == "skipped"
    assert steps[3]["status"] == "applied"
