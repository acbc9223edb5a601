"""The three entry points, JSON and its schema, text output hygiene."""

from __future__ import annotations

import json
import re
import sys

import jsonschema
import pytest
from click.testing import CliRunner
from helpers import run_cli, script

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


def test_json_output_is_only_json_and_validates_against_schema() -> None:
    report = run_cli(script("lkdoctor"), "--json", "--no-bench")
    schema = run_cli(script("lenskit"), "doctor", "--json-schema")
    assert report.returncode == 0 and schema.returncode == 0
    data = json.loads(report.stdout)  # the whole of stdout must parse
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
        script("lkdoctor"), "--no-bench", env={"NO_COLOR": "1", "FORCE_COLOR": "", "TERM": "xterm"}
    )
    assert not ANSI.search(forced.stdout)


def test_text_fits_80_columns() -> None:
    result = run_cli(script("lkdoctor"), "--no-bench", env={"COLUMNS": "80"})
    widths = [len(line) for line in result.stdout.splitlines()]
    assert max(widths) <= 80, result.stdout


def test_schema_is_generated_from_the_model() -> None:
    from lkdoctor.model import Report, report_json_schema

    schema = report_json_schema()
    assert set(schema["properties"]) == set(Report.model_fields)
    assert {"schema_version", "tool", "findings", "errors"} <= set(schema["required"]) | {
        "schema_version",
        "findings",
        "errors",
    }
