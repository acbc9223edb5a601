"""The report experience on the command line: exit codes, usage errors, CI files, colour."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import run_cli, script
from samples import SAMPLES, bad_env, fitting, oversubscribed

from lkdoctor.cli import doctor, lenskit
from lkdoctor.output import exit_code, github_outputs, make_console

ANSI = re.compile(r"\x1b\[[0-9;]*m")
# A malformed LensKit variable is an error finding, never a usage error.
BAD_ENV = {"LK_NUM_THREADS": "abc"}
NO_GITHUB = {"GITHUB_OUTPUT": "", "GITHUB_STEP_SUMMARY": ""}


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    runner = CliRunner()
    result = runner.invoke(doctor, ["--no-bench", *args], env={**NO_GITHUB, **(env or {})})
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    ("name", "fail_on", "code"),
    [
        ("fitting", "warning", 0),  # only an info finding
        ("fitting", "error", 0),
        ("oversubscribed", "never", 0),
        ("oversubscribed", "warning", 1),
        ("oversubscribed", "error", 1),
        ("bad_env", "error", 1),
    ],
)
def test_fail_on_thresholds(name: str, fail_on: str, code: int) -> None:
    assert exit_code(SAMPLES[name](), fail_on) == code  # type: ignore[arg-type]


def test_fail_on_warning_is_not_met_by_warnings_below_an_error_threshold() -> None:
    report = oversubscribed()
    report.findings = [f for f in report.findings if f.severity == "warning"]
    assert exit_code(report, "error") == 0
    assert exit_code(report, "warning") == 1


def test_bad_lenskit_variable_is_a_finding_and_fail_on_exits_1() -> None:
    code, out, _ = invoke("--format", "json", env=BAD_ENV)
    assert code == 0  # --fail-on defaults to never: the report is produced
    assert "env-invalid" in {f["id"] for f in json.loads(out)["findings"]}
    code, out, _ = invoke("--fail-on", "error", "--format", "json", env=BAD_ENV)
    assert code == 1
    assert json.loads(out)["findings"]  # the report is still complete


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "yaml"], "Invalid value for '--format'"),
        (["--fail-on", "sometimes"], "Invalid value for '--fail-on'"),
        (["--color", "rainbow"], "Invalid value for '--color'"),
        (["--pid", "abc"], "Invalid value for '--pid'"),
        (["--pid", "0"], "Invalid value for '--pid'"),
        (["--sample-time", "soon"], "Invalid value for '--sample-time'"),
        (["--no-such-option"], "No such option"),
        (["--json", "--format", "markdown"], "--json conflicts with --format markdown"),
        (["--apply", "--pid", "1"], "--apply changes this process"),
        (["--ray", "127.0.0.1:1", "--apply"], "--ray cannot be combined with --apply or --pid"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(args: list[str], message: str) -> None:
    result = run_cli(script("lkdoctor"), *args, add_env=NO_GITHUB)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_lenskit_command_is_one_line_exit_2() -> None:
    result = CliRunner().invoke(lenskit, ["no-such-command"])
    assert result.exit_code == 2
    assert result.stderr.strip() == "lenskit: No such command 'no-such-command'."


def test_pid_of_no_process_is_a_usage_error() -> None:
    result = run_cli(script("lkdoctor"), "--pid", "4194303", add_env=NO_GITHUB)  # above pid_max
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_github_output_appends_key_value_lines(tmp_path: Path) -> None:
    out = tmp_path / "github_output"
    out.write_text("earlier=step\n")
    code, _, _ = invoke("--github-output", str(out), env=BAD_ENV)
    assert code == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "earlier=step"  # appended, never truncated
    values = dict(line.split("=", 1) for line in lines[1:])
    assert values["status"] == "error"
    assert "env-invalid" in values["findings"].split(",")
    assert int(values["effective_cpus"]) >= 1
    assert float(values["oversubscription"]) > 0
    assert values["verdict"] == "skipped"
    assert values["lenskit_version"] and values["pytorch_version"] and values["numpy_version"]


def test_github_output_defaults_to_the_environment_variable(tmp_path: Path) -> None:
    out = tmp_path / "github_output"
    code, _, _ = invoke(env={"GITHUB_OUTPUT": str(out)})
    assert code == 0
    assert "effective_cpus=" in out.read_text()


def test_unwritable_github_output_is_a_usage_error(tmp_path: Path) -> None:
    code, _, err = invoke("--github-output", str(tmp_path / "missing" / "out"))
    assert code == 2
    assert "cannot append to" in err


def test_github_outputs_are_single_lines() -> None:
    report = oversubscribed()
    report.bench.reason = "multi\nline"
    outputs = github_outputs(report)
    assert outputs["status"] == "error"
    assert outputs["effective_cpus"] == "2" and outputs["lenskit_cpus"] == "64"
    assert outputs["oversubscription"] == "32.00" and outputs["verdict"] == "oversubscribed"
    assert all("\n" not in v for v in outputs.values())
    assert github_outputs(fitting())["status"] == "ok"


def test_step_summary_gets_the_markdown_report(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    code, out, _ = invoke("--format", "json", env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert code == 0
    json.loads(out)  # stdout stays JSON only
    text = summary.read_text()
    assert text.startswith("# lenskit doctor report")
    assert "<details>" in text


def test_markdown_format_on_stdout() -> None:
    code, out, _ = invoke("--format", "markdown", env=BAD_ENV)
    assert code == 0
    assert out.startswith("# lenskit doctor report\n")
    assert "`env-invalid`" in out


def test_color_always_never_and_no_color() -> None:
    always = run_cli(script("lkdoctor"), "--no-bench", "--color", "always", add_env=NO_GITHUB)
    assert ANSI.search(always.stdout)
    never = run_cli(
        script("lkdoctor"),
        "--no-bench",
        "--color",
        "never",
        add_env={**NO_GITHUB, "FORCE_COLOR": "1"},
    )
    assert not ANSI.search(never.stdout)
    assert make_console("auto", {"NO_COLOR": "1"}).color_system is None
    assert make_console("always", {"NO_COLOR": "1"}).color_system is not None


def test_packages_and_paths_only_when_asked() -> None:
    _, plain, _ = invoke("--format", "json")
    environment = json.loads(plain)["environment"]
    assert environment["packages"] is None and environment["paths"] is None
    _, asked, _ = invoke("--format", "json", "--packages", "--paths")
    environment = json.loads(asked)["environment"]
    assert "lkdoctor" in {p["name"] for p in environment["packages"]}
    assert environment["paths"]["sys_path"] and environment["paths"]["executable"]
    _, full, _ = invoke("--format", "json", "--full")
    assert json.loads(full)["environment"]["packages"] is not None


def test_text_default_hides_packages_that_full_shows() -> None:
    _, short, _ = invoke()
    _, full, _ = invoke("--full")
    assert "installed packages" not in short
    assert "installed packages" in full and "Python search path:" in full


def test_environment_lists_threading_variables() -> None:
    env = {"OMP_NUM_THREADS": "3", "RAYON_NUM_THREADS": "2", "UNRELATED_THING": "x"}
    _, out, _ = invoke("--format", "json", env=env)
    variables = json.loads(out)["environment"]["variables"]
    assert variables["OMP_NUM_THREADS"] == "3" and variables["RAYON_NUM_THREADS"] == "2"
    assert "UNRELATED_THING" not in variables


def test_summary_line_ends_the_text_report() -> None:
    _, out, _ = invoke(env=BAD_ENV)
    last = out.strip().splitlines()[-1]
    assert re.fullmatch(r"(\d+ warnings?, )?\d+ errors?(, .*)?", last), last


def test_samples_cover_every_section_mark() -> None:
    marks = {f.severity for name in SAMPLES for f in SAMPLES[name]().findings}
    assert marks == {"info", "warning", "error"}
    assert bad_env().errors
