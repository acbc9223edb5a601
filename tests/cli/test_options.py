"""The three entry points, JSON and its schema, text output hygiene."""

from __future__ import annotations

import copy
import json
import re
import sys
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner
from helpers import run_cli, script, target_environ
from schema_contract import committed_schema

from lkdoctor.cli import doctor, lenskit

ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.mark.parametrize(
    "argv",
    [
        ["lenskit", "doctor"],
        ["lkdoctor"],
        ["python", "-m", "lkdoctor"],
    ],
    ids=["lenskit-doctor", "lkdoctor", "python-m"],
)
def test_every_entry_point_prints_a_report(argv: list[str]) -> None:
    cmd = [sys.executable, *argv[1:]] if argv[0] == "python" else [script(argv[0]), *argv[1:]]
    result = run_cli(*cmd, "--no-bench")
    assert result.returncode == 0, result.stderr
    assert "CPU budget" in result.stdout
    assert "Thread plan" in result.stdout
    assert "Traceback" not in result.stderr


def test_json_output_is_only_json_and_validates_against_schema(plain_json_report: str) -> None:
    schema = run_cli(script("lenskit"), "doctor", "--json-schema")
    assert schema.returncode == 0
    data = json.loads(plain_json_report)  # the whole of stdout must parse
    jsonschema.validate(data, json.loads(schema.stdout))
    assert re.fullmatch(r"\d+\.\d+", data["schema_version"])
    assert data["tool"]["version"]
    assert data["cpu"]["effective"] >= 1
    assert data["cpu"]["logical"] >= data["cpu"]["effective"]
    assert data["plan"]["levels"][0]["processes"] >= 1


def test_format_json_equals_json_flag() -> None:
    runner = CliRunner()
    a = json.loads(runner.invoke(doctor, ["--json", "--no-bench"]).output)
    b = json.loads(runner.invoke(lenskit, ["doctor", "--format", "json", "--no-bench"]).output)
    assert a["cpu"] == b["cpu"]
    assert a["plan"]["levels"] == b["plan"]["levels"]


def test_json_conflicting_with_format_text_is_a_usage_error() -> None:
    result = CliRunner().invoke(doctor, ["--json", "--format", "text"])
    assert result.exit_code == 2
    assert "conflicts" in result.output


def test_no_ansi_when_piped_or_no_color() -> None:
    piped = run_cli(script("lkdoctor"), "--no-bench")
    assert not ANSI.search(piped.stdout)
    forced = run_cli(
        script("lkdoctor"),
        "--no-bench",
        add_env={"NO_COLOR": "1", "FORCE_COLOR": "", "TERM": "xterm"},
    )
    assert not ANSI.search(forced.stdout)


def test_text_fits_80_columns() -> None:
    result = run_cli(script("lkdoctor"), "--no-bench", add_env={"COLUMNS": "80"})
    widths = [len(line) for line in result.stdout.splitlines()]
    assert max(widths) <= 80, result.stdout


@pytest.fixture(scope="module")
def real_report() -> dict[str, Any]:
    """One real report, with an invalid LK_* value so that it has a finding."""
    result = run_cli(
        script("lkdoctor"), "--json", "--no-bench", env=target_environ({"LK_NUM_THREADS": "x"})
    )
    assert result.returncode == 0, result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    assert report["findings"] and report["plan"]["levels"] and report["errors"] == []
    return report


def _broken(report: dict[str, Any], path: tuple[str | int, ...], value: object) -> dict[str, Any]:
    """A deep copy of ``report`` with the value at ``path`` replaced, or removed (``...``)."""
    broken = copy.deepcopy(report)
    target = broken
    for step in path[:-1]:
        target = target[step]
    if value is Ellipsis:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return broken


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("tool",), ...),  # a required section missing
        (("cpu", "effective"), ...),  # a required key missing
        (("cpu", "effective"), "2"),  # a count as a string
        (("cpu", "limits"), {"source": "logical"}),  # a list as an object
        (("plan", "levels", 0, "threads"), 1.5),  # a count as a float
        (("findings", 0, "severity"), "fatal"),  # outside the vocabulary
        (("bench", "verdict"), "great"),
        (("errors",), [{"section": "cpu"}]),  # an error without its message
    ],
)
def test_the_schema_rejects_a_report_that_breaks_the_contract(
    real_report: dict[str, Any], path: tuple[str | int, ...], value: object
) -> None:
    """Real reports validate (above); the same report, broken in one place, does not."""
    validator = jsonschema.Draft202012Validator(committed_schema())
    report = copy.deepcopy(real_report)
    validator.validate(report)
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(_broken(report, path, value))
