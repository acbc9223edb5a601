"""LensKit 2026's own answer in the report (``plan.lenskit_resolved``, ``plan.lenskit_note``),
asserted against what the real LensKit 2026.4 command prints (``python -m lenskit [-R DIR]
config``: its root command configures, then ``config`` dumps the settings), on a matrix of
variables and settings files; ``lenskit-mismatch`` from an injected disagreement; and the
findings when LensKit's code fails or the child that runs it crashes or hangs, with the
rest of the report intact.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from helpers import script, target_environ

from lkdoctor.plan.lenskit2026 import LENSKIT_2026
from lkdoctor.plan.lenskit2026 import ask as ask_2026
from lkdoctor.plan.lenskit2026 import resolve as resolve_2026
from lkdoctor.plan.lenskit2026.checks import line_findings
from lkdoctor.plan.lenskit2026.shape import SettingValue, ThreadPlan2026
from lkdoctor.plan.line import PlanRequest

pytestmark = pytest.mark.lenskit2026

PY = sys.executable
REPORTED = ("num_cpus", "num_threads", "num_backend_threads", "num_batch_jobs", "use_ray")


def run(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        cwd=cwd,
        env=target_environ(env),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def lenskit_config(cwd: Path, env: dict[str, str], root: Path | None) -> dict[str, Any]:
    """The parallel settings LensKit's own `lenskit config` prints."""
    argv = [PY, "-m", "lenskit", *(["-R", str(root)] if root else []), "config"]
    result = run(argv, cwd, env)
    assert result.returncode == 0, result.stderr
    dumped: dict[str, Any] = json.loads(result.stdout[result.stdout.index("{") :])
    return {name: dumped["parallel"][name] for name in REPORTED}


def doctor_report(cwd: Path, env: dict[str, str], root: Path | None) -> dict[str, Any]:
    argv = [script("lenskit"), "doctor", "--json", "--no-bench"]
    result = run([*argv, *(["--project-root", str(root)] if root else [])], cwd, env)
    assert result.returncode in (0, 1), result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    return report


# (id, variables, files under the project root, how the root is found, working folder)
CASES: list[tuple[str, dict[str, str], dict[str, str], str, str]] = [
    ("defaults", {}, {}, "search", "."),
    (
        "flat-variables",
        {"LK_NUM_THREADS": "3", "LK_NUM_BACKEND_THREADS": "2", "LK_NUM_BATCH_JOBS": "2"},
        {},
        "search",
        ".",
    ),
    (
        "toml-by-R",
        {},
        {"lenskit.toml": "[parallel]\nnum_threads = 2\nnum_backend_threads = 3\n"},
        "-R",
        "../elsewhere",
    ),
    (
        "file-beats-flat-nested-beats-file",
        {"LK_NUM_THREADS": "4", "LK_PARALLEL__NUM_BACKEND_THREADS": "3"},
        {"lenskit.toml": "[parallel]\nnum_threads = 2\nnum_backend_threads = 1\n"},
        "search",
        ".",
    ),
    (
        "local-toml-found-from-a-subfolder",
        {"LK_NUM_BATCH_JOBS": "4"},
        {
            "lenskit.toml": "[parallel]\nnum_threads = 2\nnum_batch_jobs = 2\n",
            "lenskit.local.toml": "[parallel]\nnum_threads = 5\n",
            "sub/deeper/.keep": "",
        },
        "search",
        "sub/deeper",
    ),
    (
        "LK_PROJECT_ROOT-and-LK_PARALLEL-json",
        {"LK_PARALLEL": '{"num_backend_threads": 2, "num_batch_jobs": 3}'},
        {"lenskit.toml": "[parallel]\nnum_threads = 3\nnum_batch_jobs = 1\n"},
        "LK_PROJECT_ROOT",
        "../elsewhere",
    ),
    (
        "num_cpus-derives-defaults-negative-values",
        {"LK_NUM_CPUS": "7", "lk_num_threads": "-1", "LK_NUM_BACKEND_THREADS": "-1"},
        {},
        "search",
        ".",
    ),
    ("ray", {"LK_USE_RAY": "true", "LK_NUM_BACKEND_THREADS": "2"}, {}, "search", "."),
    ("PYTHON_CPU_COUNT", {"PYTHON_CPU_COUNT": "1"}, {}, "search", "."),
]


@pytest.mark.parametrize(
    ("env", "files", "how", "workdir"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_the_childs_answer_is_lenskits_own(
    env: dict[str, str], files: dict[str, str], how: str, workdir: str, tmp_path: Path
) -> None:
    root = tmp_path / "project"
    root.mkdir()
    (root / ".git").mkdir()  # LensKit's search stops here, not in the test's folders above
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    cwd = (root / workdir).resolve()
    cwd.mkdir(parents=True, exist_ok=True)
    env = {**env, "LK_PROJECT_ROOT": str(root)} if how == "LK_PROJECT_ROOT" else env
    given = root if how == "-R" else None

    expected = lenskit_config(cwd, env, given)
    report = doctor_report(cwd, env, given)
    plan = report["plan"]
    assert plan["dialect"] == "2026" and plan["lenskit_version"] == metadata.version("lenskit")
    assert plan["lenskit_note"] is None
    assert plan["lenskit_resolved"] == expected
    # the doctor's own model agrees with LensKit here, so nothing is flagged
    assert {name: plan["settings"][name]["value"] for name in REPORTED} == expected
    assert "lenskit-mismatch" not in {f["id"] for f in report["findings"]}


def project(tmp_path: Path, toml: str) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    (root / ".git").mkdir()
    (root / "lenskit.toml").write_text(toml)
    return root


def plan_here(cwd: Path, env: dict[str, str], *, ask: bool) -> ThreadPlan2026:
    cpus = len(os.sched_getaffinity(0))
    request = PlanRequest(
        lenskit_cpus=cpus,
        effective=cpus,
        environ=target_environ(env),
        reason="test",
        version=metadata.version("lenskit"),
        cwd=cwd,
    )
    plan = LENSKIT_2026.collect(request, ask=ask)
    assert isinstance(plan, ThreadPlan2026)
    return plan


def test_a_model_that_disagrees_with_lenskit_is_a_mismatch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Failure injection: the doctor's resolver is made to read num_threads one too high;
    LensKit's own answer (checked against its CLI) wins and the finding names both."""
    root = project(tmp_path, "[parallel]\nnum_threads = 2\n")
    real = resolve_2026.resolve_settings

    def off_by_one(*args: Any, **kwargs: Any) -> Any:
        res = real(*args, **kwargs)
        wrong = res.settings["num_threads"]
        res.settings["num_threads"] = SettingValue(value=int(wrong.value) + 1, source=wrong.source)
        return res

    monkeypatch.setattr(resolve_2026, "resolve_settings", off_by_one)
    plan = plan_here(root, {}, ask=True)
    assert lenskit_config(root, {}, None)["num_threads"] == 2
    assert plan.lenskit_resolved is not None and plan.lenskit_resolved.num_threads == 2
    [found] = [f for f in line_findings(plan) if f.id == "lenskit-mismatch"]
    assert found.severity == "warning"
    assert found.evidence == "num_threads: lkdoctor 3, LensKit 2"


def findings_by_id(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["id"]: f for f in report["findings"]}


def assert_rest_intact(report: dict[str, Any]) -> None:
    assert report["errors"] == []
    assert report["cpu"]["effective"] >= 1 and report["pools"] is not None
    assert report["plan"]["levels"] and report["plan"]["settings"]["num_threads"]["value"] >= 1


def test_a_broken_settings_file_fails_lenskit_and_is_named(tmp_path: Path) -> None:
    root = project(tmp_path, "[parallel]\nnum_threads = 2\nnum_batch_jobs = \n")
    config = run([PY, "-m", "lenskit", "config"], root, {})
    assert config.returncode != 0  # LensKit's own command fails on it
    report = doctor_report(root, {}, None)
    plan = report["plan"]
    assert plan["lenskit_resolved"] is None
    assert plan["lenskit_note"].startswith("LensKit failed at configure: TOMLDecodeError")
    found = findings_by_id(report)["settings-file-invalid"]
    assert found["severity"] == "error" and str(root / "lenskit.toml") in found["title"]
    assert_rest_intact(report)


def test_a_value_lenskit_rejects_in_the_file_carries_lenskits_own_message(
    tmp_path: Path,
) -> None:
    root = project(tmp_path, '[parallel]\nnum_threads = "lots"\n')
    assert run([PY, "-m", "lenskit", "config"], root, {}).returncode != 0
    report = doctor_report(root, {}, None)
    note = report["plan"]["lenskit_note"]
    assert note.startswith("LensKit failed at configure: ValidationError") and "num_threads" in note
    found = findings_by_id(report)["settings-file-invalid"]
    assert found["severity"] == "error" and "LensKit says" in found["evidence"]
    assert_rest_intact(report)


# Installed with PYTHONPATH: acts only in the child that runs LensKit's settings code.
SITECUSTOMIZE = """
import os, sys, time
if sys.argv and sys.argv[0].endswith("child.py"):
    sys.stderr.write("injected: the settings child fails\\n")
    if os.environ.get("INJECT") == "hang":
        time.sleep(600)
    os._exit(70)
"""


def injected(tmp_path: Path, how: str) -> dict[str, str]:
    folder = tmp_path / "inject"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(SITECUSTOMIZE)
    return {"PYTHONPATH": str(folder), "INJECT": how}


def test_a_crashing_child_is_a_finding_and_the_report_goes_on(tmp_path: Path) -> None:
    env = {**injected(tmp_path, "crash"), "LK_NUM_THREADS": "2"}
    report = doctor_report(tmp_path, env, None)
    plan = report["plan"]
    assert plan["lenskit_resolved"] is None
    assert plan["lenskit_note"] == (
        "LensKit's settings code failed (exit 70): injected: the settings child fails"
    )
    found = findings_by_id(report)["lenskit-unsupported"]
    assert found["evidence"] == plan["lenskit_note"]
    assert plan["settings"]["num_threads"] == {
        "value": 2,
        "source": "LK_NUM_THREADS",
        "line": None,
        "detail": plan["settings"]["num_threads"]["detail"],
    }
    assert_rest_intact(report)


def test_a_hanging_child_is_killed_at_its_deadline(tmp_path: Path) -> None:
    env = injected(tmp_path, "hang")
    plan = plan_here(tmp_path, env, ask=False)
    pending = ask_2026.PendingAnswer(target_environ(env), tmp_path, timeout=3.0)
    ask_2026.attach_answer(plan, pending.result())
    assert pending.process is not None and pending.process.returncode == -9  # killed, reaped
    assert plan.lenskit_resolved is None
    assert plan.lenskit_note == "LensKit's settings code did not answer within 3 s"
    [found] = [f for f in line_findings(plan) if f.id == "lenskit-unsupported"]
    assert found.evidence == plan.lenskit_note
    assert plan.levels and plan.settings["num_threads"].source == "derived"  # the doctor's own
