"""LensKit's own answer, from the installed LensKit 2025.8.1, and without LensKit."""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path

import pytest
from helpers import run_cli, script, target_environ

from lkdoctor.checks.plan import check
from lkdoctor.model import ToolInfo
from lkdoctor.plan.lenskit2025.ask import LensKitAnswer, answer_from_source
from lkdoctor.plan.lenskit2025.resolve import collect_plan
from lkdoctor.plan.lenskit2025.settings import parse_lk_settings
from lkdoctor.plan.lenskit2025.shape import ThreadPlan2025
from lkdoctor.report import Report

# Written for LensKit 2025.x (its config API and initialize()); see pyproject markers.
pytestmark = pytest.mark.lenskit2025


def shape(levels) -> list[tuple[int, int, int]]:  # type: ignore[no-untyped-def]
    return [(lv.processes, lv.threads, lv.backend_threads) for lv in levels]


def lenskit_plan(cpus: int, effective: int, env: dict[str, str]) -> ThreadPlan2025:
    result = collect_plan(cpus, effective, env)
    assert result.lenskit_note is None, result.lenskit_note
    assert result.lenskit_resolved is not None
    return result


def findings(plan: ThreadPlan2025) -> dict[str, str]:
    report = Report(tool=ToolInfo(version="t", python="3", platform="t"), plan=plan)
    return {f.id: f.severity for f in check(report)}


def test_installed_lenskit_is_the_one_the_spec_describes() -> None:
    import lenskit

    assert lenskit.__version__ == "2025.8.1"
    assert collect_plan(4, 4, {}).lenskit_version == "2025.8.1"


# Hand-computed from lenskit/parallel/config.py 2025.8.1: a worker divides C by its own
# process count (not its parent's), does not floor at 1, and LK_NUM_CHILD_THREADS is appended.
OWN_CASES = [
    pytest.param(64, {}, [(4, 8, 4), (1, 4, 4)], id="C64-agrees"),
    pytest.param(8, {}, [(4, 8, 1), (1, 4, 1)], id="C8-worker-threads"),
    pytest.param(2, {"LK_NUM_PROCS": "4,4"}, [(4, 2, 1), (4, 0, 0), (1, 0, 0)], id="C2-zero"),
    pytest.param(
        64,
        {"LK_NUM_PROCS": "2,2", "LK_NUM_BACKEND_THREADS": "2,5", "LK_NUM_CHILD_THREADS": "3"},
        [(2, 8, 2), (2, 4, 5), (1, 4, 3)],
        id="C64-child-appended",
    ),
    pytest.param(1, {"LK_NUM_THREADS": "abc"}, [(1, 1, 1)], id="C1-invalid-unset"),
]


@pytest.mark.parametrize(("cpus", "env", "expected"), OWN_CASES)
def test_lenskit_resolves_every_level_with_its_own_code(
    cpus: int, env: dict[str, str], expected: list[tuple[int, int, int]]
) -> None:
    result = lenskit_plan(cpus, cpus, env)
    assert shape(result.lenskit_resolved) == expected


def test_divergence_is_reported_and_a_warning_when_lenskit_demands_more() -> None:
    result = lenskit_plan(8, 8, {})
    assert shape(result.levels) == [(4, 8, 1), (1, 2, 1)]
    assert [lv.demand for lv in result.lenskit_resolved or []] == [8, 16]
    assert findings(result)["lenskit-divergence"] == "warning"
    assert "lenskit-divergence" not in findings(lenskit_plan(64, 64, {}))


def test_divergence_evidence_names_the_level() -> None:
    report = Report(
        tool=ToolInfo(version="t", python="3", platform="t"), plan=lenskit_plan(8, 8, {})
    )
    (finding,) = [f for f in check(report) if f.id == "lenskit-divergence"]
    assert "level 1: documented 1 process, 2 threads" in finding.evidence
    assert "LensKit 2025.8.1 1 process, 4 threads" in finding.evidence


def test_a_zero_count_from_lenskits_code_counts_as_every_cpu() -> None:
    result = lenskit_plan(2, 2, {"LK_NUM_PROCS": "4,4"})
    # level 1: 4 processes whose 0 threads and 0 backend threads fall back to 2 each.
    assert [lv.demand for lv in result.lenskit_resolved or []] == [2, 4 * 2 * 2, 16 * 2 * 2]
    report = Report(tool=ToolInfo(version="t", python="3", platform="t"), plan=result)
    (finding,) = [f for f in check(report) if f.id == "lenskit-divergence"]
    assert finding.severity == "warning"
    assert "a count of 0" in finding.evidence


def test_lenskit_reads_the_given_environment_not_ours() -> None:
    assert os.environ.get("LK_NUM_PROCS") != "3"
    assert lenskit_plan(8, 8, {"LK_NUM_PROCS": "3"}).lenskit_resolved[0].processes == 3  # type: ignore[index]


@pytest.mark.parametrize(
    ("cpus", "effective", "env"),
    [
        (8, 8, {}),
        (64, 2, {}),
        (2, 2, {"LK_NUM_PROCS": "4,4"}),
        (64, 16, {"LK_NUM_CHILD_THREADS": "3", "LK_NUM_BACKEND_THREADS": "2,5"}),
        (64, 64, {"OPENBLAS_NUM_THREADS": "16", "LK_NUM_PROCS": "8,2"}),
    ],
)
def test_suggestion_fits_under_lenskits_own_code_too(
    cpus: int, effective: int, env: dict[str, str]
) -> None:
    suggested = collect_plan(cpus, effective, env).suggested_env
    applied = lenskit_plan(cpus, effective, {**env, **suggested})
    assert max(lv.demand for lv in applied.lenskit_resolved or []) <= effective
    assert shape(applied.lenskit_resolved) == shape(applied.levels)


def _thread_count() -> int:
    return len(os.listdir("/proc/self/task"))


def test_asking_lenskit_initializes_nothing() -> None:
    import lenskit.parallel.config as config
    import torch

    def state() -> tuple[object, ...]:
        return (
            _thread_count(),
            torch.get_num_threads(),
            torch.get_num_interop_threads(),
            config._config,
            config.effective_cpu_count,
            config.os,
            dict(os.environ),
            list(warnings.filters),
        )

    before = state()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        collect_plan(64, 64, {"LK_NUM_CHILD_THREADS": "2", "LK_NUM_PROCS": "4,2,2"})
    after = state()
    assert after == before
    assert config._config is None  # LensKit's parallelism was never initialized
    assert [str(w.message) for w in caught] == []  # its DeprecationWarning was captured


# --- other LensKit versions and no LensKit -----------------------------------------------


NEWER_API = """
from lenskit.config import lenskit_config

def effective_cpu_count():
    return 1

def get_parallel_config():
    return lenskit_config().parallel
"""

RAISING = """
class ParallelConfig:
    def subprocess(self):
        return self

def _resolve_parallel_config():
    raise RuntimeError("boom")
"""

NEEDS_A_DROPPED_IMPORT = """
from typing_extensions import deprecated

@deprecated("use settings")
def _resolve_parallel_config():
    return None
"""


def _answer(source: str, version: str | None = "2025.9.0") -> LensKitAnswer:
    return answer_from_source(source, "config.py", version, {}, parse_lk_settings({}), 4)


def test_a_lenskit_without_the_2025_api_gives_null_and_a_note() -> None:
    answer = _answer(NEWER_API, "2026.1.0")
    assert answer.counts is None and answer.version == "2026.1.0"
    assert answer.note is not None and answer.note.startswith("LensKit 2026.1.0 does not have")


def test_a_lenskit_whose_resolution_raises_gives_null_and_a_note() -> None:
    answer = _answer(RAISING)
    assert answer.counts is None
    assert answer.note is not None and "RuntimeError: boom" in answer.note


@pytest.mark.parametrize("source", [NEEDS_A_DROPPED_IMPORT, "def broken(:\n"])
def test_a_config_that_cannot_be_read_gives_a_note(source: str) -> None:
    answer = _answer(source, None)
    assert answer.counts is None
    assert answer.note is not None and answer.note.startswith(
        "LensKit (unknown version): reading config.py failed"
    )


def _install_fake_lenskit(site: Path, version: str, config: str) -> None:
    package = site / "lenskit"
    (package / "parallel").mkdir(parents=True)
    (package / "__init__.py").write_text("raise ImportError('the doctor must not import me')\n")
    (package / "parallel" / "__init__.py").write_text("")
    (package / "parallel" / "config.py").write_text(config)
    dist = site / f"lenskit-{version}.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: lenskit\nVersion: {version}\n")


def test_another_installed_lenskit_version_is_found_and_reported(tmp_path: Path) -> None:
    _install_fake_lenskit(tmp_path, "2026.1.0", NEWER_API)
    code = (
        "import json\n"
        "from lkdoctor.pipeline import collect\n"
        "report = collect()\n"
        "print(json.dumps({'plan': report.plan.model_dump(), "
        "'findings': [f.id for f in report.findings]}))\n"
    )
    result = run_cli(sys.executable, "-c", code, add_env={"PYTHONPATH": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["plan"]["lenskit_resolved"] is None
    assert out["plan"]["lenskit_version"] == "2026.1.0"
    # 2026.x is planned in its own dialect; a LensKit that cannot be imported is said so.
    assert out["plan"]["dialect"] == "2026"
    assert "the doctor must not import me" in out["plan"]["lenskit_note"]
    assert "lenskit-unsupported" in out["findings"]


def test_the_answer_imports_neither_lenskit_nor_torch() -> None:
    code = (
        "import sys\n"
        "from lkdoctor.plan.lenskit2025.resolve import collect_plan\n"
        "plan = collect_plan(8, 8, {'LK_NUM_CHILD_THREADS': '2'})\n"
        "assert plan.lenskit_resolved, plan.lenskit_note\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('lenskit', 'torch')))\n"
    )
    result = run_cli(sys.executable, "-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_hidden_lenskit_is_absent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "lenskit", None)  # type: ignore[arg-type]
    result = collect_plan(4, 4, {})
    assert result.lenskit_resolved is None
    assert result.lenskit_version is None and result.lenskit_note is None


def test_without_lenskit_the_report_has_null_and_no_lenskit_finding() -> None:
    code = (
        "import sys; sys.modules['lenskit'] = None\n"
        "from lkdoctor.cli import doctor\n"
        "doctor(['--json', '--no-bench'])\n"
    )
    result = run_cli(sys.executable, "-c", code, env=target_environ({"LK_NUM_THREADS": "abc"}))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    plan = report["plan"]
    assert plan["lenskit_resolved"] is None
    assert plan["lenskit_version"] is None and plan["lenskit_note"] is None
    assert plan["levels"] and plan["suggested_env"]
    found = {f["id"] for f in report["findings"]}
    assert "env-invalid" in found
    assert not found & {"lenskit-divergence", "lenskit-unsupported"}


def test_report_json_carries_the_plan_keys(tmp_path: Path) -> None:
    result = run_cli(
        script("lkdoctor"),
        "--json",
        "--no-bench",
        env={"LK_NUM_PROCS": "2,2", "LK_NUM_CHILD_THREADS": "1", "OMP_NUM_THREADS": "4,,2"},
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    plan = report["plan"]
    assert [set(lv) >= {"processes", "threads", "backend_threads"} for lv in plan["levels"]] == [
        True
    ] * 3
    assert isinstance(plan["peak_threads"], int) and isinstance(plan["oversubscription"], float)
    assert len(plan["lenskit_resolved"]) == 3
    assert all(isinstance(v, str) for v in plan["suggested_env"].values())
    found = {(f["id"], f.get("section")) for f in report["findings"]}
    assert ("env-deprecated", "plan") in found
    assert ("env-invalid", "plan") in found  # OMP_NUM_THREADS=4,,2
