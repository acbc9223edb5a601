"""The 2026 plan against the real LensKit 2026: LensKit's own CLI is the oracle.

For each setting, the oracle is LensKit's real ``lenskit`` root command (which finds the
project root and calls ``configure()``) with a subcommand added that prints
``lenskit_config().parallel``; run in a child process with the case's environment, folder
and CPU affinity. The doctor resolves the same case in another child (same affinity), and
its values must equal LensKit's; when LensKit rejects the settings, the doctor must say
that it does, at the same stage. Then the doctor's suggested lines are applied and LensKit
is asked again: it must accept them and the resulting plan must fit.

These tests need Python ≥ 3.12.5 with LensKit 2026 installed: they are marked
``lenskit2026`` and selected with ``-m lenskit2026`` in that environment (deselected with
``-m "not lenskit2026"`` elsewhere). Selected without LensKit 2026 they fail, never skip.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from lkdoctor.plan.lenskit2026.settings import peak_demand

pytestmark = pytest.mark.lenskit2026

REPORTED = ("num_cpus", "num_threads", "num_backend_threads", "num_batch_jobs", "use_ray")

ORACLE = textwrap.dedent(
    """
    import json, sys
    try:
        from lenskit.cli import lenskit
        from lenskit.config import lenskit_config
    except Exception as exc:
        print(json.dumps({"ok": False, "stage": "import", "error": type(exc).__name__,
                          "message": str(exc)}))
        raise SystemExit(0)

    @lenskit.command("lkdoctor-oracle")
    def oracle():
        print(json.dumps({"ok": True, "parallel": lenskit_config().parallel.model_dump()}))

    try:
        lenskit.main(args=[*sys.argv[1:], "lkdoctor-oracle"], standalone_mode=False)
    except Exception as exc:
        print(json.dumps({"ok": False, "stage": "configure", "error": type(exc).__name__,
                          "message": str(exc)}))
    """
)

DOCTOR = textwrap.dedent(
    """
    import json, os, sys
    from pathlib import Path
    from lkdoctor.cpu.budget import collect_cpu
    from lkdoctor.plan.lines import detect_dialect
    from lkdoctor.plan.lenskit2026.resolve import collect_plan_2026
    from lkdoctor.target import read_target
    cpu = collect_cpu(read_target())
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else None
    plan = collect_plan_2026(cpu.lenskit_effective, cpu.effective, os.environ, detect_dialect(),
                             project_root=root, ask=False)
    print(json.dumps({"plan": plan.model_dump(mode="json"), "effective": cpu.effective,
                      "lenskit_cpus": cpu.lenskit_effective}))
    """
)


@dataclass
class Case:
    env: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)  # path under the tree → content
    cwd: str = "proj"
    root: str | None = None  # -R, relative to the tree
    cpus: str | None = None  # taskset CPU list
    fails: str | None = None  # the stage LensKit fails at, as the test expects it


TOML_3 = "[parallel]\nnum_threads = 3\n"
CASES: dict[str, Case] = {
    "defaults": Case(),
    "flat-threads": Case(env={"LK_NUM_THREADS": "1"}),
    "flat-lax-ints": Case(env={"LK_NUM_THREADS": " 4 ", "LK_NUM_BACKEND_THREADS": "+2"}),
    "flat-float-and-underscore": Case(env={"LK_NUM_THREADS": "4.0", "LK_NUM_BATCH_JOBS": "1_0"}),
    "negative": Case(env={"LK_NUM_THREADS": "-1", "LK_NUM_BACKEND_THREADS": "-1"}),
    "batch-jobs-negative": Case(env={"LK_NUM_BATCH_JOBS": "-1"}),
    "ray": Case(env={"LK_USE_RAY": "true"}),
    "ray-with-num-cpus": Case(env={"LK_USE_RAY": "1", "LK_NUM_CPUS": "8"}),
    "num-cpus": Case(env={"LK_NUM_CPUS": "16"}),
    "lower-case-name": Case(env={"lk_num_threads": "3"}),
    "nested": Case(env={"LK_PARALLEL__NUM_THREADS": "3"}),
    "json": Case(env={"LK_PARALLEL": '{"num_threads": 5, "num_backend_threads": 2}'}),
    "json-and-nested": Case(
        env={"LK_PARALLEL": '{"num_threads": 5}', "LK_PARALLEL__NUM_THREADS": "1"}
    ),
    "toml-beats-flat": Case(env={"LK_NUM_THREADS": "1"}, files={"proj/lenskit.toml": TOML_3}),
    "nested-beats-toml": Case(
        env={"LK_PARALLEL__NUM_THREADS": "2"}, files={"proj/lenskit.toml": TOML_3}
    ),
    "toml-in-parent": Case(files={"proj/lenskit.toml": TOML_3}, cwd="proj/sub/deeper"),
    "local-beats-toml-in-parent": Case(
        files={
            "proj/lenskit.toml": TOML_3 + "num_backend_threads = 2\n",
            "proj/lenskit.local.toml": "[parallel]\nnum_threads = 1\n",
        },
        cwd="proj/sub",
    ),
    "local-only-in-cwd": Case(files={"proj/lenskit.local.toml": "[parallel]\nnum_threads = 1\n"}),
    "stops-at-pyproject": Case(
        files={"proj/lenskit.toml": TOML_3, "proj/sub/pyproject.toml": ""}, cwd="proj/sub/deeper"
    ),
    "stops-at-git": Case(
        files={"proj/lenskit.toml": TOML_3, "proj/sub/.git/HEAD": ""}, cwd="proj/sub"
    ),
    "project-root-option": Case(
        files={"other/lenskit.toml": "[parallel]\nnum_batch_jobs = 2\nuse_ray = false\n"},
        root="other",
    ),
    "project-root-variable": Case(
        files={"other/lenskit.toml": "[parallel]\nnum_backend_threads = 3\n"},
        env={"LK_PROJECT_ROOT": "{tree}/other"},
    ),
    "affinity-one-cpu": Case(cpus="0"),
    "python-cpu-count": Case(env={"PYTHON_CPU_COUNT": "1"}),
    "toml-values-lax": Case(files={"proj/lenskit.toml": '[parallel]\nnum_threads = "2"\n'}),
    # values LensKit rejects
    "list-2025": Case(env={"LK_NUM_THREADS": "8,1"}, fails="import"),
    "float": Case(env={"LK_NUM_BACKEND_THREADS": "2.5"}, fails="import"),
    "empty": Case(env={"LK_NUM_THREADS": ""}, fails="import"),
    "hex": Case(env={"LK_NUM_BATCH_JOBS": "0x10"}, fails="import"),
    "bad-bool": Case(env={"LK_USE_RAY": "2"}, fails="import"),
    "procs-list": Case(env={"LK_NUM_PROCS": "4,2"}, fails="import"),
    "lower-case-list": Case(env={"lk_num_threads": "8,1"}, fails="import"),
    "nested-unknown-key": Case(env={"LK_PARALLEL__NUM_THREAD": "2"}, fails="configure"),
    "nested-bad-value": Case(env={"LK_PARALLEL__NUM_THREADS": "two"}, fails="configure"),
    "json-not-json": Case(env={"LK_PARALLEL": "threads=2"}, fails="configure"),
    "toml-unknown-key": Case(
        files={"proj/lenskit.toml": "[parallel]\nnum_thread = 3\n"}, fails="configure"
    ),
    "toml-malformed": Case(files={"proj/lenskit.toml": "[parallel\n"}, fails="configure"),
}


def _clean_env(extra: dict[str, str], tree: Path) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.upper().startswith(("LK_", "PYTHON_CPU_COUNT", "RAYON_", "OMP_"))
        and name.upper() not in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    }
    env.update({name: value.replace("{tree}", str(tree)) for name, value in extra.items()})
    return env


def _run(code: str, args: list[str], env: dict[str, str], cwd: Path, cpus: str | None) -> Any:
    command = [sys.executable, "-c", code, *args]
    if cpus is not None:
        command = ["taskset", "-c", cpus, *command]
    done = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=240, check=False
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert lines, f"no JSON from {command[:4]}: {done.stderr[-2000:]}"
    return json.loads(lines[-1])


def _tree(tmp_path: Path, case: Case) -> tuple[Path, Path]:
    tree = tmp_path / "tree"
    (tree / "proj" / "sub" / "deeper").mkdir(parents=True)
    (tree / "other").mkdir()
    for name, content in case.files.items():
        path = tree / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return tree, tree / case.cwd


def test_lenskit_2026_is_installed() -> None:
    from lkdoctor.plan.lines import detect_dialect

    found = detect_dialect()
    assert found.version is not None and found.dialect == "2026", found


@pytest.mark.parametrize("name", sorted(CASES))
def test_doctor_resolves_what_lenskit_resolves(name: str, tmp_path: Path) -> None:
    case = CASES[name]
    tree, cwd = _tree(tmp_path, case)
    env = _clean_env(case.env, tree)
    root_args = [str(tree / case.root)] if case.root else []
    lenskit = _run(ORACLE, ["-R", root_args[0]] if root_args else [], env, cwd, case.cpus)
    doctor = _run(DOCTOR, root_args, env, cwd, case.cpus)
    plan = doctor["plan"]
    fatal = {p["fails"] for p in plan["settings_problems"] if p["fails"]}
    assert plan["dialect"] == "2026"
    if case.fails is None:
        assert lenskit["ok"], lenskit
        assert not fatal, plan["settings_problems"]
        resolved = {key: plan["settings"][key]["value"] for key in REPORTED}
        assert resolved == {key: lenskit["parallel"][key] for key in REPORTED}
    else:
        assert not lenskit["ok"] and lenskit["stage"] == case.fails, lenskit
        # LensKit stops at its first failing stage; the doctor names every problem.
        assert case.fails in fatal, plan["settings_problems"]

    # Every suggested line, applied, is accepted by LensKit and gives a plan that fits.
    if any(p["kind"] == "settings-file-invalid" for p in plan["settings_problems"]):
        return  # a broken file is fixed by editing it, not by an export
    applied = {k: v for k, v in env.items() if k not in plan["suggested_unset"]}
    applied.update(plan["suggested_env"])
    # nothing suggested: LensKit's answer for the same environment is the one above (each
    # asking imports torch, 3 s of CPU)
    after = (
        lenskit
        if applied == env
        else _run(ORACLE, ["-R", root_args[0]] if root_args else [], applied, cwd, case.cpus)
    )
    assert after["ok"], (plan["suggested_env"], after)
    par = after["parallel"]
    peak = peak_demand(
        par["num_threads"],
        par["num_backend_threads"],
        par["num_batch_jobs"],
        par["use_ray"],
        par["num_cpus"],
        doctor["lenskit_cpus"],
    )
    assert peak <= doctor["effective"], (plan["suggested_env"], par)
