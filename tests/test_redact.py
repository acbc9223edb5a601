"""Secrets never leave the machine: masking on the model, then every format, end to end."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from io import StringIO
from pathlib import Path

import pytest
from helpers import run_cli, script
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console
from samples import bad_env, oversubscribed

from lkdoctor.host.undecodable import SHOWN_CHARS, cut, quoted
from lkdoctor.model import EnvironmentInfo, ErrorEntry, Finding
from lkdoctor.redact import (
    MASK,
    Identity,
    looks_secret,
    mask_assignments,
    mask_urls,
    redact_report,
)
from lkdoctor.render import render_json
from lkdoctor.render.markdown import render_markdown
from lkdoctor.render.text import render_text
from lkdoctor.report import Report


@pytest.mark.parametrize(
    "name",
    [
        "GITHUB_TOKEN",
        "HF_TOKEN",
        "AWS_SECRET_ACCESS_KEY",
        "DB_PASSWORD",
        "SMTP_PASSWD",
        "GPG_PASSPHRASE",
        "API_KEY",
        "apikey",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "NPM_AUTH",
        "RAY_AUTH_TOKEN",
        "MYSQL_PWD",
        "SSH_PRIVATE_KEY",
        "LK_SESSION_COOKIE",
    ],
)
def test_secret_looking_names(name: str) -> None:
    assert looks_secret(name)


@pytest.mark.parametrize(
    "name",
    ["LK_NUM_THREADS", "OMP_NUM_THREADS", "PATH", "PWD", "OLDPWD", "HOME", "SLURM_CPUS_PER_TASK"],
)
def test_ordinary_names(name: str) -> None:
    assert not looks_secret(name)


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("https://bob:hunter2@host/x", f"https://{MASK}@host/x"),
        ("git+https://ghp_abc@github.com/o/r", f"git+https://{MASK}@github.com/o/r"),
        ("redis://:pw@cache:6379/0", f"redis://{MASK}@cache:6379/0"),
        ("alice:pw123@db.example:5432", f"{MASK}@db.example:5432"),
        ("see https://example.org/a@b", "see https://example.org/a@b"),
        ("mail alice@example.org", "mail alice@example.org"),
    ],
)
def test_url_credentials_are_masked(text: str, masked: str) -> None:
    assert mask_urls(text) == masked


def test_secret_assignments_in_free_text() -> None:
    text = "GITHUB_TOKEN=ghp_x, LK_NUM_THREADS=abc and api_key='a b'"
    assert mask_assignments(text) == f"GITHUB_TOKEN={MASK}, LK_NUM_THREADS=abc and api_key={MASK}"


def _evidence_of(value: str, environ: dict[str, str]) -> str:
    report = Report.model_validate(bad_env().model_dump())
    report.findings.append(
        Finding(
            id="env-invalid",
            severity="error",
            section="plan",
            title="OMP_NUM_THREADS has an invalid value",
            evidence=f"OMP_NUM_THREADS={quoted(cut(value))}",
            remediation="unset it",
        )
    )
    masked = redact_report(report, environs=[{**environ, "OMP_NUM_THREADS": value}])
    return masked.findings[-1].evidence


def test_a_secret_split_by_the_cut_of_a_long_value_is_masked() -> None:
    secret = "Zq9-hunter2-" + "x7" * 10
    shown = SHOWN_CHARS - 10  # the cut keeps the secret's first 10 characters
    evidence = _evidence_of("a" * shown + secret + "b" * 1000, {"API_TOKEN": secret})
    assert f"… ({shown + len(secret) + 1000:,} characters)" in evidence
    assert secret[:4] not in evidence and MASK in evidence


def test_url_credentials_split_by_the_cut_of_a_long_value_are_masked() -> None:
    value = "a" * (SHOWN_CHARS - 30) + " https://alice:pa55w0rd-long-enough@db.example.org"
    evidence = _evidence_of(value + "b" * 1000, {})
    assert "alice" not in evidence and "pa55" not in evidence
    assert f"https://{MASK}…" in evidence


def test_a_secret_assignment_inside_another_value_is_masked() -> None:
    # evidence quotes a value that holds an assignment: the outer name is no secret
    text = "OMP_NUM_THREADS='API_TOKEN=ghp_secret1' and LK_NUM_THREADS=DB_PASSWORD=hunter22"
    assert mask_assignments(text) == (
        f"OMP_NUM_THREADS='API_TOKEN={MASK} and LK_NUM_THREADS=DB_PASSWORD={MASK}"
    )


def test_identity_hides_home_user_and_host_but_not_lookalikes() -> None:
    me = Identity(homes=["/home/alice"], users=["alice"], hosts=["node7.example.org", "node7"])
    assert me.hide("/home/alice/.venv/bin/python") == "~/.venv/bin/python"
    assert me.hide("/home/alice") == "~"
    assert me.hide("/home/alicex/data") == "/home/alicex/data"
    assert me.hide("/scratch/alice/run") == "/scratch/<user>/run"
    assert me.hide("alice") == "<user>"
    assert me.hide("ssh alice@node7.example.org") == "ssh <user>@<host>"
    assert me.hide("node7 and node7-ib and node70") == "<host> and node7-ib and node70"
    assert me.hide("malice in alicewonderland") == "malice in alicewonderland"


def _planted_report() -> Report:
    report = oversubscribed()
    report.environment = EnvironmentInfo(
        variables={
            "LK_API_TOKEN": "tok-planted-0001",
            "LK_DATA_URL": "https://bob:hunter2-planted@data.example/ml",
            "OMP_NUM_THREADS": "4",
        }
    )
    report.findings.append(
        Finding(
            id="planted",
            severity="warning",
            section="plan",
            title="planted",
            evidence="GITHUB_TOKEN=ghp_plantedvalue99 was set",
            env={"AWS_SECRET_ACCESS_KEY": "aws-planted-key"},
        )
    )
    report.errors.append(
        ErrorEntry(section="cpu", message="cannot fetch https://u:pw-planted-7@x.example")
    )
    return report


PLANTED = ("tok-planted-0001", "hunter2-planted", "ghp_plantedvalue99", "aws-planted-key")


def _all_formats(report: Report) -> dict[str, str]:
    console = Console(file=StringIO(), width=80, color_system=None)
    render_text(report, console, full=True)
    return {
        "text": console.file.getvalue(),  # type: ignore[attr-defined]
        "json": render_json(report),
        "markdown": render_markdown(report),
    }


def test_redact_report_masks_every_place_in_every_format() -> None:
    masked = redact_report(_planted_report(), environs=[{"LK_API_TOKEN": "tok-planted-0001"}])
    for fmt, output in _all_formats(masked).items():
        for secret in (*PLANTED, "pw-planted-7"):
            assert secret not in output, (fmt, secret)
        assert MASK in output
        assert "data.example" in output  # only the credentials go
    assert masked.environment is not None
    assert masked.environment.variables["OMP_NUM_THREADS"] == "4"
    assert masked.findings[-1].env == {"AWS_SECRET_ACCESS_KEY": MASK}


def test_a_secret_value_is_hunted_down_anywhere() -> None:
    report = bad_env()
    assert report.environment is not None
    report.environment.variables["PYTHONPATH"] = "/opt/sk-live-planted42/site"
    masked = redact_report(report, environs=[{"OPENAI_API_KEY": "sk-live-planted42"}])
    assert "sk-live-planted42" not in masked.model_dump_json()
    assert masked.environment is not None
    assert masked.environment.variables["PYTHONPATH"] == f"/opt/{MASK}/site"


def test_mask_that_would_break_a_fixed_field_leaves_that_field() -> None:
    # a secret that happens to equal a verdict: the free text is masked, the enum survives
    masked = redact_report(oversubscribed(), environs=[{"MY_TOKEN": "oversubscribed"}])
    assert masked.bench.verdict == "oversubscribed"
    assert "oversubscribed" not in masked.bench.reason + masked.findings[1].title


@settings(max_examples=40, deadline=None)
@given(
    secret=st.text(
        alphabet=st.characters(min_codepoint=33, max_codepoint=126, exclude_characters="\\"),
        min_size=8,
        max_size=30,
    ),
    name=st.sampled_from(["LK_TOKEN", "OMP_SECRET", "SLURM_JOB_PASSWORD", "TORCH_API_KEY"]),
)
def test_any_planted_secret_is_absent_from_every_format(secret: str, name: str) -> None:
    secret = "Zq9" + secret  # cannot occur in the renderers' own words
    report = oversubscribed()
    report.environment = EnvironmentInfo(variables={name: secret, "PYTHONPATH": f"/x/{secret}"})
    report.findings[0].evidence += f" ({name}={secret})"
    masked = redact_report(report, environs=[{name: secret}])
    for fmt, output in _all_formats(masked).items():
        assert secret not in output, fmt


def test_identity_is_kept_unless_redact() -> None:
    report = bad_env()
    assert report.environment is not None
    report.environment.variables["SLURM_JOB_USER"] = "alice"
    me = Identity(homes=["/home/alice"], users=["alice"], hosts=["node7"])
    kept = redact_report(report, identity=me)
    assert kept.environment is not None
    assert kept.environment.variables["SLURM_JOB_USER"] == "alice"
    hidden = redact_report(report, identity=me, hide_identity=True)
    assert hidden.environment is not None
    assert hidden.environment.variables["SLURM_JOB_USER"] == "<user>"
    assert hidden.environment.redacted


# End to end: the installed command, real environment, --full, all three formats.
SECRET_ENV = {
    "LK_API_TOKEN": "tok-planted-0001",
    "LK_DATA_URL": "https://bob:hunter2-planted@data.example/ml",
    "LK_CACHE": "alice:pw-planted-77@cache.example:6379",
    "MKL_LICENSE_KEY": "mkl-planted-key-42",
    "GITHUB_TOKEN": "ghp_plantedvalue99",
}
SECRETS = (
    "tok-planted-0001",
    "hunter2-planted",
    "pw-planted-77",
    "mkl-planted-key-42",
    "ghp_plantedvalue99",
)


@pytest.mark.parametrize("fmt", ["text", "json", "markdown"])
def test_planted_secrets_never_reach_any_output(fmt: str, tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    outputs = tmp_path / "outputs"
    env = {
        **SECRET_ENV,
        # the token also sits inside PATH, which --full lists
        "PATH": f"/opt/ghp_plantedvalue99/bin{os.pathsep}{os.environ['PATH']}",
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_OUTPUT": str(outputs),
    }
    result = run_cli(script("lkdoctor"), "--full", "--no-bench", "--format", fmt, add_env=env)
    assert result.returncode == 0, result.stderr
    written = {"stdout": result.stdout, "summary": summary.read_text(), "out": outputs.read_text()}
    for where, text in written.items():
        for secret in SECRETS:
            assert secret not in text, (where, secret)
    assert MASK in result.stdout and MASK in written["summary"]
    assert "data.example" in result.stdout  # the rest of the value stays readable
    if fmt == "json":
        variables = json.loads(result.stdout)["environment"]["variables"]
        assert variables["LK_API_TOKEN"] == MASK
        assert variables["LK_DATA_URL"] == f"https://{MASK}@data.example/ml"


def test_redact_hides_home_user_and_host(tmp_path: Path) -> None:
    home = tmp_path / "home" / "zed-planted"
    project = home / "project"
    project.mkdir(parents=True)
    host = socket.gethostname()
    env = {
        "HOME": str(home),
        "USER": "zed-planted",
        "SLURM_JOB_USER": "zed-planted",
        "SLURM_JOB_NODELIST": host,
        "SLURMD_NODENAME": "gpu-planted-07",
    }
    args = [script("lkdoctor"), "--paths", "--no-bench", "--format", "json"]

    def run(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*args, *extra],
            env={**os.environ, **env},
            cwd=project,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    plain, redacted = run(), run("--redact")
    assert plain.returncode == 0 and redacted.returncode == 0, redacted.stderr
    assert "zed-planted" in plain.stdout and "gpu-planted-07" in plain.stdout
    assert "zed-planted" not in redacted.stdout
    assert "gpu-planted-07" not in redacted.stdout
    data = json.loads(redacted.stdout)
    env_section = data["environment"]
    assert env_section["redacted"] is True
    assert env_section["paths"]["cwd"] == "~/project"
    assert env_section["variables"]["SLURM_JOB_USER"] == "<user>"
    assert env_section["variables"]["SLURMD_NODENAME"] == "<host>"
    assert env_section["variables"]["SLURM_JOB_NODELIST"] == "<host>"


def test_library_collect_masks_too() -> None:
    import lkdoctor

    environ = {**os.environ, "LK_API_TOKEN": "tok-planted-0001", "LK_NUM_THREADS": "2"}
    report = lkdoctor.collect(environ=environ)
    assert report.environment is not None
    assert report.environment.variables["LK_API_TOKEN"] == MASK
    assert report.environment.variables["LK_NUM_THREADS"] == "2"
    assert "tok-planted-0001" not in report.model_dump_json()
