"""The registry of LensKit lines: which line a plan is resolved in, and what adding one takes.

The toy third line (tests/toy_lenskit2099/) is registered the way a real one would be, one
entry in `LINES`, and nothing else changes: detection, the report model and its JSON
Schema (the line's own plan shape), the whole pipeline, the checks, every renderer and the
command line's ``--dialect`` then handle it.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import sys
from pathlib import Path

import jsonschema
import pytest
from helpers import run_cli, run_python, target_environ
from pydantic import TypeAdapter, ValidationError
from toy_lenskit2099 import LENSKIT_2099, VARIABLE, ThreadPlan2099
from toy_lenskit2099.checks import TOY_FINDING
from toy_lenskit2099.view import TOY_FACT

from lkdoctor.plan import lines
from lkdoctor.plan.lenskit2025 import LENSKIT_2025
from lkdoctor.plan.lenskit2025.shape import ThreadPlan2025
from lkdoctor.plan.lenskit2026 import LENSKIT_2026
from lkdoctor.plan.lenskit2026.shape import ThreadPlan2026
from lkdoctor.plan.line import LensKitLine, PlanRequest
from lkdoctor.plan.lines import detect_dialect, dialect_named, dialect_names
from lkdoctor.plan.view import DetailRow
from lkdoctor.report import plan_union, report_json_schema

TESTS = Path(__file__).resolve().parents[1]
NO_LENSKIT = ""  # detect_dialect's `version` for "no LensKit installed"


# --- the real lines ---------------------------------------------------------------------


def test_the_registry_holds_the_real_lines_oldest_first() -> None:
    assert lines.LINES == (LENSKIT_2025, LENSKIT_2026)
    assert dialect_names() == ("2025", "2026")
    assert dialect_named("2025") is LENSKIT_2025 and dialect_named("2026") is LENSKIT_2026
    with pytest.raises(KeyError, match="1999"):
        dialect_named("1999")


@pytest.mark.parametrize(
    ("version", "line"),
    [
        ("2025.1.0", LENSKIT_2025),
        ("2025.8.1", LENSKIT_2025),
        ("2026.1.0", LENSKIT_2026),
        ("2026.4.0", LENSKIT_2026),
        ("2031.2", LENSKIT_2026),  # a later year stays in the newest line
    ],
)
def test_the_installed_lenskit_version_decides(version: str, line: object) -> None:
    for python in ((3, 11, 7), (3, 13, 0)):  # whatever the interpreter
        chosen = detect_dialect(version=version, python=python)
        assert chosen.line is line and chosen.version == version
        assert chosen.reason == f"LensKit {version} is installed"


def test_a_version_that_is_not_a_lenskit_year_is_read_as_the_newest_line() -> None:
    chosen = detect_dialect(version="0.14.4", python=(3, 11, 7))
    assert chosen.line is LENSKIT_2026
    assert chosen.reason == "LensKit 0.14.4 is installed; read as the current 2026.x"


@pytest.mark.parametrize(
    ("python", "line", "reason"),
    [
        ((3, 11, 7), LENSKIT_2025, "pip installs 2025.8 on Python 3.11.7 (< 3.12.5)"),
        ((3, 12, 4), LENSKIT_2025, "pip installs 2025.8 on Python 3.12.4 (< 3.12.5)"),
        ((3, 12, 5), LENSKIT_2026, "pip installs 2026.x on Python 3.12.5"),
        ((3, 13, 0), LENSKIT_2026, "pip installs 2026.x on Python 3.13.0"),
    ],
)
def test_without_lenskit_the_line_pip_installs_on_this_python(
    python: tuple[int, int, int], line: object, reason: str
) -> None:
    chosen = detect_dialect(version=NO_LENSKIT, python=python)
    assert chosen.line is line and chosen.version is None
    assert chosen.reason == f"no LensKit installed; {reason}"


def test_the_users_choice_wins_over_the_installed_version() -> None:
    chosen = detect_dialect("2025", version="2026.4.0")
    assert chosen.line is LENSKIT_2025
    assert chosen.reason == "chosen with --dialect 2025 (LensKit 2026.4.0 is installed)"


def test_this_environment_gets_the_line_of_its_installed_lenskit() -> None:
    installed = importlib.metadata.version("lenskit")  # the test environments have one
    chosen = detect_dialect()
    assert chosen.version == installed
    assert chosen.dialect == installed.split(".")[0]  # 2025.8.1 on 3.11, 2026.4.0 on 3.13
    assert chosen.dialect == ("2025" if sys.version_info < (3, 12, 5) else "2026")


# --- a third line: one folder, one registry entry ------------------------------------------


@pytest.fixture
def toy_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    """The one line a new LensKit line adds to lkdoctor/plan/lines.py."""
    monkeypatch.setattr(lines, "LINES", (*lines.LINES, LENSKIT_2099))


@pytest.mark.usefixtures("toy_registered")
def test_a_registered_line_is_detected_by_version_python_and_name() -> None:
    assert dialect_names() == ("2025", "2026", "2099")
    assert dialect_named("2099") is LENSKIT_2099
    assert detect_dialect(version="2099.1.0").line is LENSKIT_2099
    assert detect_dialect(version="2026.4.0").line is LENSKIT_2026  # the others keep theirs
    assert detect_dialect(version="2098.1").line is LENSKIT_2026
    newest = detect_dialect(version=NO_LENSKIT, python=(3, 99, 0))
    assert newest.line is LENSKIT_2099
    assert newest.reason == "no LensKit installed; pip installs 2099.x on Python 3.99.0"
    older = detect_dialect(version=NO_LENSKIT, python=(3, 13, 0))
    assert older.line is LENSKIT_2026
    assert older.reason == "no LensKit installed; pip installs 2026.x on Python 3.13.0 (< 3.99.0)"
    assert detect_dialect("2099", version="2025.8.1").line is LENSKIT_2099


def _toy_threads() -> int:
    """More threads than this process has CPUs, by more than twice (an error)."""
    return 2 * len(os.sched_getaffinity(0)) + 1


def test_the_report_plan_is_the_union_of_the_lines_shapes() -> None:
    """Each plan reads back in its own line's shape, told apart by ``dialect``."""
    registered = [line.plan_shape() for line in lines.LINES]
    assert registered == [ThreadPlan2025, ThreadPlan2026]
    with_toy = TypeAdapter(plan_union([*registered, ThreadPlan2099]))
    common = {"inputs": {}, "cpu_count": 2, "effective": 2, "levels": []}
    common |= {"peak_threads": 2, "oversubscription": 1.0}
    toy = with_toy.validate_python({**common, "dialect": "2099", "threads_source": VARIABLE})
    assert type(toy) is ThreadPlan2099 and toy.line_fields() == {"threads_source": VARIABLE}
    assert type(with_toy.validate_python({**common, "dialect": "2025"})) is ThreadPlan2025
    with pytest.raises(ValidationError, match="2099"):  # the report's union has no toy
        TypeAdapter(plan_union(registered)).validate_python({**common, "dialect": "2099"})
    assert "ThreadPlan2099" not in report_json_schema()["$defs"]


def test_a_line_without_checks_or_a_view_gets_every_plans_checks_and_its_fields() -> None:
    """What `LensKitLine` gives a line that writes no ``findings`` or ``details``."""
    plan = LENSKIT_2099.collect(
        PlanRequest(lenskit_cpus=4, effective=2, environ={VARIABLE: "6"}), ask=False
    )
    shared = LensKitLine.findings(LENSKIT_2099, plan)
    assert [f.id for f in shared] == ["plan-oversubscribed"]  # 6 threads on 2 CPUs
    assert [f.id for f in LENSKIT_2099.findings(plan)] == ["plan-oversubscribed", TOY_FINDING]
    generic = LensKitLine.details(LENSKIT_2099, plan)
    assert generic.rows == [DetailRow(label="threads_source", value=VARIABLE)]
    assert generic.noun == "field" and generic.answer is None and not generic.facts


def test_a_plan_is_handed_to_its_own_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lines, "LINES", (*lines.LINES, LENSKIT_2099))
    plan = LENSKIT_2099.collect(PlanRequest(lenskit_cpus=2, effective=2, environ={}), ask=False)
    assert lines.line_of(plan) is LENSKIT_2099
    assert lines.line_named("2099") is LENSKIT_2099 and lines.line_named("1999") is None


REGISTERED = str(TESTS / "toy_lenskit2099" / "registered.py")


def test_the_command_line_refuses_a_line_that_is_not_registered() -> None:
    result = run_cli(sys.executable, "-m", "lkdoctor", "--dialect", "2099", "--no-bench")
    assert result.returncode == 2 and "'2099' is not one of '2025', '2026'" in result.stderr


def test_a_registered_line_with_its_own_shape_is_resolved_checked_and_rendered() -> None:
    """The whole program, with the toy line's one registry entry added (registered.py)."""
    threads = _toy_threads()
    env = {VARIABLE: str(threads)}
    args = ["--dialect", "2099", "--no-bench"]

    schema = json.loads(run_cli(sys.executable, REGISTERED, "--json-schema").stdout)
    toy_shape = schema["$defs"]["ThreadPlan2099"]
    assert toy_shape["properties"]["dialect"]["const"] == "2099"
    assert "threads_source" in toy_shape["required"]

    result = run_cli(sys.executable, REGISTERED, *args, "--json", env=target_environ(env))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    jsonschema.validate(data, schema)
    plan = data["plan"]
    installed = importlib.metadata.version("lenskit")
    assert plan["dialect"] == "2099" and plan["threads_source"] == VARIABLE
    assert (
        plan["dialect_reason"] == f"chosen with --dialect 2099 (LensKit {installed} is installed)"
    )
    assert [(lv["processes"], lv["threads"], lv["demand"]) for lv in plan["levels"]] == [
        (1, threads, threads)
    ]
    effective = plan["effective"]
    assert plan["inputs"] == env and plan["suggested_env"] == {VARIABLE: str(effective)}
    [finding] = [f for f in data["findings"] if f["id"] == "plan-oversubscribed"]
    assert finding["severity"] == "error" and finding["env"] == {VARIABLE: str(effective)}
    assert f"level 0: 1 process × {threads} threads" in finding["evidence"]
    [own] = [f for f in data["findings"] if f["id"] == TOY_FINDING]  # the line's own check
    assert own["severity"] == "info" and own["evidence"] == f"from {VARIABLE}"

    read_back = run_cli(sys.executable, REGISTERED, "--read-back", input_text=result.stdout)
    assert read_back.returncode == 0, read_back.stderr
    assert json.loads(read_back.stdout) == data  # the JSON reads back as the same report

    text = run_cli(
        sys.executable, REGISTERED, *args, "--color", "never", env=target_environ(env)
    ).stdout
    assert "dialect 2099: chosen with --dialect 2099" in text
    assert f"  threads = {threads}  from {VARIABLE}\n" in text  # the line's own view rows
    assert f"toy pool: {TOY_FACT}\n" in text
    assert f"i LensKit 2099 sizes its toy pool to {threads} threads" in text  # its finding
    assert f"export {VARIABLE}={effective}" in text
    markdown = run_cli(
        sys.executable, REGISTERED, *args, "--format", "markdown", env=target_environ(env)
    ).stdout
    assert "| setting | value | source | how |" in markdown
    assert f"| threads | {threads} | {VARIABLE} |  |" in markdown
    assert f"Toy pool: {TOY_FACT}." in markdown
    assert f"LensKit 2099 sizes its toy pool to {threads} threads" in markdown
    assert f"export {VARIABLE}={effective}" in markdown


# --- what LensKit applied in this process, read by its own line --------------------------

APPLIED = """
import json
import lenskit.parallel.config as config
from lkdoctor.plan.lines import applied_setup
before = applied_setup()
getattr(config, SETUP)()
after = applied_setup()
print(json.dumps({
    "before": before is None,
    "threads": after.threads,
    "backend": after.backend_threads,
    "by_cli": after.by_cli,
    "names": sorted(after.settings),
}))
"""


@pytest.mark.parametrize(
    ("setup", "names"),
    [
        pytest.param(
            "initialize",
            ["backend_threads", "processes", "threads"],
            marks=pytest.mark.lenskit2025,
            id="2025",
        ),
        pytest.param(
            "init_threading",
            ["num_backend_threads", "num_batch_jobs", "num_cpus", "num_threads", "use_ray"],
            marks=pytest.mark.lenskit2026,
            id="2026",
        ),
    ],
)
def test_each_line_reads_what_its_lenskit_applied(setup: str, names: list[str]) -> None:
    """Nothing before LensKit sets its pools up; then the sizes it applied, read by the line
    of the installed LensKit from LensKit's own object."""
    env = {"LK_NUM_THREADS": "3", "LK_NUM_BACKEND_THREADS": "2", "LK_NUM_PROCS": "1"}
    found = run_python(APPLIED.replace("SETUP", repr(setup)), env=env)
    assert found["before"] is True
    assert (found["threads"], found["backend"], found["by_cli"]) == (3, 2, False)
    assert set(names) <= set(found["names"])
