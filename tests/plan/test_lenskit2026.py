"""LensKit 2026's settings resolution with provenance, on fake folder trees.

These are the pure functions; tests/plan/test_lenskit2026_real.py checks the same rules
against the real LensKit 2026 (its own CLI as the oracle).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lkdoctor.plan.lenskit2026.checks import line_findings
from lkdoctor.plan.lenskit2026.resolve import applied, collect_plan_2026
from lkdoctor.plan.lenskit2026.settings import (
    fit,
    key_lines,
    locate_configuration_root,
    peak_demand,
    read_settings_file,
    resolve_settings,
)
from lkdoctor.plan.lines import ChosenDialect, dialect_named

DIALECT = ChosenDialect(dialect_named("2026"), None, "test")


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_defaults_are_derived_from_the_cpus(tmp_path: Path) -> None:
    res = resolve_settings({}, tmp_path, 16)
    values = {name: s.value for name, s in res.settings.items()}
    assert values == {
        "num_cpus": 16,
        "num_threads": 8,
        "num_backend_threads": 2,
        "num_batch_jobs": 1,
        "use_ray": False,
    }
    assert res.settings["num_cpus"].source == "default"
    assert res.settings["num_backend_threads"].source == "derived"


def test_precedence_nested_over_files_over_flat(tmp_path: Path) -> None:
    _write(tmp_path / "lenskit.toml", "[parallel]\nnum_threads = 3\nnum_backend_threads = 2\n")
    local = _write(tmp_path / "lenskit.local.toml", "# mine\n[parallel]\n\nnum_threads = 4\n")
    env = {"LK_NUM_THREADS": "1", "LK_NUM_BATCH_JOBS": "2", "LK_PARALLEL__NUM_CPUS": "6"}
    res = resolve_settings(env, tmp_path, 2)
    threads = res.settings["num_threads"]
    assert (threads.value, threads.source, threads.line) == (4, str(local), 4)
    assert res.settings["num_backend_threads"].source == str(tmp_path / "lenskit.toml")
    assert res.settings["num_backend_threads"].line == 3
    assert res.settings["num_batch_jobs"].source == "LK_NUM_BATCH_JOBS"
    assert (res.settings["num_cpus"].value, res.settings["num_cpus"].source) == (
        6,
        "LK_PARALLEL__NUM_CPUS",
    )


def test_nested_variable_beats_the_json(tmp_path: Path) -> None:
    env = {"LK_PARALLEL": '{"num_threads": 5, "use_ray": true}', "LK_PARALLEL__NUM_THREADS": "1"}
    res = resolve_settings(env, tmp_path, 8)
    assert res.settings["num_threads"].source == "LK_PARALLEL__NUM_THREADS"
    assert res.settings["use_ray"].source == "LK_PARALLEL"
    assert res.settings["num_batch_jobs"].value == 1  # = threads, with Ray


def test_root_search_stops_at_pyproject(tmp_path: Path) -> None:
    _write(tmp_path / "lenskit.toml", "")
    _write(tmp_path / "a" / "pyproject.toml", "")
    (tmp_path / "a" / "b").mkdir()
    assert locate_configuration_root(tmp_path / "a" / "b") is None
    assert locate_configuration_root(tmp_path) == tmp_path.resolve()


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        *[(" 4 ", True), ("+4", True), ("4.0", True), ("1_0", True)],
        *[("8,1", False), ("2.5", False), ("", False), ("0x10", False)],
    ],
)
def test_flat_values_are_read_as_pydantic_does(tmp_path: Path, value: str, ok: bool) -> None:
    res = resolve_settings({"LK_NUM_THREADS": value}, tmp_path, 4)
    fatal = [p for p in res.problems if p.fails == "import"]
    assert (not fatal) == ok
    if not ok:
        assert "valid integer" in fatal[0].message


def test_a_2025_list_gets_its_2026_equivalent_and_the_finding_says_import_fails(
    tmp_path: Path,
) -> None:
    plan = collect_plan_2026(2, 2, {"LK_NUM_THREADS": "8,1"}, DIALECT, cwd=tmp_path, ask=False)
    findings = line_findings(plan)
    invalid = [f for f in findings if f.id == "env-invalid"]
    assert invalid and invalid[0].severity == "error"
    assert "import lenskit.config" in invalid[0].title
    assert "export LK_NUM_THREADS=8" in invalid[0].remediation
    assert plan.suggested_env["LK_NUM_THREADS"] == "2"


def test_ignored_variables_are_named(tmp_path: Path) -> None:
    env = {"LK_NUM_PROCS": "4", "LK_NUM_CHILD_THREADS": "2"}
    plan = collect_plan_2026(2, 2, env, DIALECT, cwd=tmp_path, ask=False)
    ignored = {f.evidence.split("=")[0] for f in line_findings(plan) if f.id == "env-ignored"}
    assert ignored == {"LK_NUM_PROCS", "LK_NUM_CHILD_THREADS"}


def test_file_problems_name_the_file_and_line(tmp_path: Path) -> None:
    bad = _write(tmp_path / "lenskit.toml", "[random]\nseed = 1\n\n[parallel]\nnum_thread = 3\n")
    found = read_settings_file(bad)
    assert [(p.where, p.line) for p in found.problems] == [(str(bad), 5)]
    broken = _write(tmp_path / "x" / "lenskit.toml", "[parallel\n")
    assert read_settings_file(broken).problems[0].line == 1


def test_key_lines_follow_tables_and_dotted_keys() -> None:
    text = "parallel.num_threads = 2\n[other]\nnum_threads = 9\n[parallel]\nuse_ray = true\n"
    assert key_lines(text) == {"num_threads": 1, "use_ray": 5}


def test_file_over_flat_variable_is_a_divergence(tmp_path: Path) -> None:
    _write(tmp_path / "lenskit.toml", "[parallel]\nnum_threads = 2\n")
    plan = collect_plan_2026(2, 2, {"LK_NUM_THREADS": "1"}, DIALECT, cwd=tmp_path, ask=False)
    found = [f for f in line_findings(plan) if f.id == "lenskit-divergence"]
    assert found and "overrides LK_NUM_THREADS" in found[0].title


@pytest.mark.parametrize(
    ("threads", "backend", "jobs", "ray"),
    [(8, 4, 1, False), (2, 1, 4, False), (8, -1, 8, True), (1, 8, 16, False)],
)
def test_fit_gives_a_peak_within_the_cpus(threads: int, backend: int, jobs: int, ray: bool) -> None:
    for effective in (1, 2, 3, 8):
        t, b, j = fit(threads, backend, jobs, ray, effective, effective)
        assert peak_demand(t, b, j, ray, effective, effective) <= effective


def test_suggestion_uses_the_variable_that_beats_the_file(tmp_path: Path) -> None:
    _write(tmp_path / "lenskit.toml", "[parallel]\nnum_threads = 8\n")
    plan = collect_plan_2026(2, 2, {}, DIALECT, cwd=tmp_path, ask=False)
    assert plan.suggested_env["LK_PARALLEL__NUM_THREADS"] == "2"
    after = resolve_settings(applied({}, plan.suggested_env, plan.suggested_unset), tmp_path, 2)
    assert peak_demand(after.threads, after.backend, after.batch_jobs, after.use_ray, 2, 2) <= 2


@pytest.mark.parametrize("value", ["3", "8,1"])
def test_suggestion_keeps_the_spelling_of_the_variable(tmp_path: Path, value: str) -> None:
    # pydantic-settings reads names case-insensitively: a second spelling would race.
    plan = collect_plan_2026(2, 2, {"lk_num_threads": value}, DIALECT, cwd=tmp_path, ask=False)
    assert plan.suggested_env["lk_num_threads"] == "2"
    assert "LK_NUM_THREADS" not in plan.suggested_env
