"""Hostile surroundings never crash the report, tried as a new user would.

The real ``lkdoctor`` runs with a stdout that is not UTF-8 (``PYTHONIOENCODING=ascii`` or
``latin-1``, as on some CI runners and old terminals) and with bytes that are not valid
UTF-8 in the variables the report shows, in a PATH entry, in the working directory's name,
in a secret and in another process's environment (``--pid``).
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import script
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schema_contract import validate_report

from lkdoctor.host.undecodable import decode_host_bytes
from lkdoctor.output import make_console, render
from lkdoctor.report import Report

UNDECODABLE = b"\xff\xfe"
#: How the report writes those bytes.
SHOWN = r"\xff\xfe"
#: A secret that must never be printed, in whole or in part, escaped or not.
SECRET = b"hunter2-" + UNDECODABLE + b"-s3cr3t"
ENCODINGS = ("ascii", "latin-1", "utf-8")
FORMATS = ("text", "json", "markdown")


@pytest.fixture(scope="module")
def hostile_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder whose name is not valid UTF-8: the working directory and a PATH entry."""
    folder = tmp_path_factory.mktemp("hostile") / os.fsdecode(b"bin-" + UNDECODABLE)
    folder.mkdir()
    return folder


def hostile_environ(hostile_dir: Path, encoding: str) -> dict[bytes, bytes]:
    env = {k: v for k, v in os.environb.items() if not k.startswith(b"GITHUB_")}
    env[b"PYTHONIOENCODING"] = encoding.encode()
    env[b"OMP_NUM_THREADS"] = UNDECODABLE  # a threading variable the report lists
    env[b"LK_NUM_THREADS"] = b"4" + UNDECODABLE  # an LK_* value the plan rejects
    env[b"PATH"] = env.get(b"PATH", b"") + b":" + os.fsencode(hostile_dir)
    env[b"RAY_TEST_API_TOKEN"] = SECRET  # a secret-looking name: masked, never shown
    env[b"LK_NUM_BACKEND_THREADS"] = SECRET  # the same secret where evidence quotes it
    env[b"NO_COLOR"] = b"1"
    return env


def run_doctor(
    args: list[str], env: dict[bytes, bytes], cwd: Path | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [script("lkdoctor"), "--no-bench", *args],
        capture_output=True,
        env=env,
        cwd=cwd,
        timeout=180,
        check=False,
    )


def assert_clean_exit(result: subprocess.CompletedProcess[bytes]) -> None:
    stderr = result.stderr.decode("utf-8", "replace")
    assert result.returncode == 0, stderr
    assert b"Traceback" not in result.stderr, stderr
    assert b"Error" not in result.stderr.replace(b"libgomp", b""), stderr


def assert_no_secret(out: str) -> None:
    assert "hunter2" not in out
    assert "s3cr3t" not in out


def validate(report: dict[str, Any]) -> None:
    validate_report(report)


def checked_json(out: str, hostile_dir: Path) -> None:
    report = json.loads(out)
    validate(report)
    assert report["environment"]["variables"]["OMP_NUM_THREADS"] == SHOWN
    evidence = " ".join(f["evidence"] for f in report["findings"] if f["id"] == "env-invalid")
    assert any(form in evidence for form in lk_threads_shown())
    assert f"OMP_NUM_THREADS='{SHOWN}'" in evidence
    shown_dir = str(hostile_dir.parent / f"bin-{SHOWN}")
    assert shown_dir in report["environment"]["paths"]["path"]
    assert report["environment"]["paths"]["cwd"] == shown_dir
    assert report["environment"]["variables"]["RAY_TEST_API_TOKEN"] == "****"
    assert not report["errors"], report["errors"]


def lk_threads_shown() -> tuple[str, str]:
    """The malformed LK_NUM_THREADS, escaped, as the 2025 and the 2026 dialect quote it."""
    return f"LK_NUM_THREADS='4{SHOWN}'", f"LK_NUM_THREADS (4{SHOWN})"


def checked_text(out: str, fmt: str, encoding: str) -> None:
    assert f"OMP_NUM_THREADS='{SHOWN}'" in out
    assert any(form in out for form in lk_threads_shown())
    assert f"bin-{SHOWN}" in out or f"bin-{SHOWN}".replace("\\", "\\\\") in out
    mark = r"[+!x]" if encoding != "utf-8" else r"[✓!✗]"
    heading = rf"^{mark} CPU budget" if fmt == "text" else rf"^\| {mark} \| CPU budget \|"
    assert re.search(heading, out, re.MULTILINE), out[:400]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("encoding", ENCODINGS)
def test_full_report_in_a_hostile_environment(hostile_dir: Path, encoding: str, fmt: str) -> None:
    result = run_doctor(
        ["--full", "--format", fmt], hostile_environ(hostile_dir, encoding), cwd=hostile_dir
    )
    assert_clean_exit(result)
    out = result.stdout.decode(encoding)  # strict: every byte is in the stream's encoding
    if encoding != "utf-8":
        assert "✓" not in result.stdout.decode("utf-8", "replace")
    assert_no_secret(out)
    if fmt == "json":
        checked_json(out, hostile_dir)
    else:
        checked_text(out, fmt, encoding)


@pytest.mark.parametrize("encoding", ["ascii", "utf-8"])
def test_paths_alone_with_an_undecodable_path_entry(hostile_dir: Path, encoding: str) -> None:
    env = {k: v for k, v in os.environb.items() if not k.startswith(b"GITHUB_")}
    env[b"PYTHONIOENCODING"] = encoding.encode()
    env[b"PATH"] = os.fsencode(hostile_dir) + b":" + env.get(b"PATH", b"")
    for fmt in ("json", "text"):
        result = run_doctor(["--paths", "--format", fmt], env)
        assert_clean_exit(result)
        out = result.stdout.decode(encoding)
        if fmt == "json":
            report = json.loads(out)
            validate(report)
            assert report["environment"]["paths"]["path"][0] == str(
                hostile_dir.parent / f"bin-{SHOWN}"
            )
        else:
            assert f"bin-{SHOWN}" in out


@pytest.fixture
def hostile_target() -> Iterator[subprocess.Popen[bytes]]:
    """A process with undecodable bytes in its environment; it runs until its stdin closes."""
    env = {k: v for k, v in os.environb.items() if not k.startswith(b"GITHUB_")}
    env[b"OMP_NUM_THREADS"] = UNDECODABLE
    env[b"RAYON_NUM_THREADS"] = b"2" + UNDECODABLE
    env[b"RAY_TEST_API_TOKEN"] = SECRET
    target = subprocess.Popen(
        [sys.executable, "-c", "import sys; print('ready', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
    )
    assert target.stdout is not None and target.stdout.readline() == b"ready\n"
    yield target
    assert target.stdin is not None
    target.stdin.close()
    target.wait(timeout=30)


@pytest.mark.parametrize("encoding", ["ascii", "utf-8"])
def test_pid_whose_environment_is_not_utf8(
    hostile_target: subprocess.Popen[bytes], encoding: str
) -> None:
    env = {k: v for k, v in os.environb.items() if not k.startswith(b"GITHUB_")}
    env[b"PYTHONIOENCODING"] = encoding.encode()
    args = ["--pid", str(hostile_target.pid), "--sample-time", "0.1"]
    result = run_doctor([*args, "--json"], env)
    assert_clean_exit(result)
    report = json.loads(result.stdout.decode(encoding))
    validate(report)
    [row] = [r for r in report["observed"]["processes"] if r["pid"] == hostile_target.pid]
    assert row["env"]["OMP_NUM_THREADS"] == SHOWN  # its tree's row
    assert row["env"]["RAYON_NUM_THREADS"] == f"2{SHOWN}"
    assert_no_secret(result.stdout.decode(encoding))
    result = run_doctor([*args, "--single-process", "--json"], env)
    assert_clean_exit(result)
    report = json.loads(result.stdout.decode(encoding))
    [row] = report["observed"]["processes"]  # the process alone
    assert row["pid"] == hostile_target.pid and not report["observed"]["tree"]
    assert row["env"]["OMP_NUM_THREADS"] == SHOWN
    assert row["env"]["RAYON_NUM_THREADS"] == f"2{SHOWN}"
    assert_no_secret(result.stdout.decode(encoding))
    result = run_doctor(args, env)
    assert_clean_exit(result)
    assert SHOWN in result.stdout.decode(encoding)


HOSTILE_VARIABLES = (
    "LK_NUM_PROCS",
    "LK_NUM_THREADS",
    "LK_NUM_BACKEND_THREADS",
    "LK_NUM_CHILD_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "RAYON_NUM_THREADS",
    "SLURM_CPUS_PER_TASK",
    "SLURM_CPUS_ON_NODE",
    "PYTHON_CPU_COUNT",
    "NSLOTS",
    "PATH",
    "HOME",
)
#: What a shell can put in a variable: undecodable bytes, any text but NUL, near-misses.
hostile_value = st.one_of(
    st.binary(max_size=24).filter(lambda b: b"\0" not in b).map(decode_host_bytes),
    st.text(st.characters(blacklist_characters="\0"), max_size=24),
    st.sampled_from(["", "0", "-1", "4,,2", "1.5", " 2 ", "2,", "\u0662", "9" * 30, "4,\udcff"]),
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(HOSTILE_VARIABLES), hostile_value, max_size=6))
def test_hostile_variables_never_break_the_report(variables: dict[str, str]) -> None:
    """The whole chain in this process (collect, analyse, mask, every format) on a stream
    that is ASCII only: findings, never a failed section or an exception."""
    import lkdoctor

    environ = {k: v for k, v in os.environ.items() if not k.startswith(("LK_", "SLURM_"))}
    report = lkdoctor.collect(environ={**environ, **variables}, paths=True)
    assert report.errors == [], report.errors
    for fmt in ("text", "markdown", "json"):
        raw = io.BytesIO()
        stream = io.TextIOWrapper(raw, encoding="ascii", errors="strict", write_through=True)
        render(report, fmt, full=True, console=make_console("never", {}, file=stream))
        out = raw.getvalue().decode("ascii")
        if fmt == "json":
            assert Report.model_validate(json.loads(out)).model_dump_json()  # UTF-8 throughout
