"""Every input a user controls may be absurdly long, and the report still comes, whole and valid.

Tried as a broken job script would: the longest value Linux lets a process inherit (128 KiB
a variable) in five thread variables at once, a megabyte in each set inside the process, a
10 MB ``lenskit.toml`` with a 1 MB string, ``--pid`` of a process with a 1 MB command line,
a ``--ray`` address of 100,000 characters and ``-- COMMAND`` with 10,000 arguments. How
long each takes is measured by ``scripts/bench_hostile.py``, not here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import ready_process, run_cli, run_python, script
from schema_contract import validate_report

THREAD_VARIABLES = (
    "PYTHON_CPU_COUNT",
    "OMP_NUM_THREADS",
    "SLURM_CPUS_PER_TASK",
    "LK_NUM_THREADS",
    "MKL_NUM_THREADS",
)
#: The ones a new Python process can inherit long: Python 3.13 refuses to start with an
#: invalid PYTHON_CPU_COUNT (a fatal error before any code of ours runs), so there it is set
#: only inside the process.
INHERITED = tuple(
    name for name in THREAD_VARIABLES if name != "PYTHON_CPU_COUNT" or sys.version_info < (3, 13)
)
#: Linux's MAX_ARG_STRLEN: the most one ``NAME=value`` string can carry through exec.
MAX_ARG_STRLEN = 32 * 4096
SECRET = "hunter2-long-input-s3cr3t"
TIMEOUT = 300


def assert_valid_report(report: dict[str, Any], long_variables: tuple[str, ...] = ()) -> None:
    validate_report(report)
    titles = [finding["title"] for finding in report["findings"]]
    for name in long_variables:
        assert any(title.startswith(f"{name} ") for title in titles), (name, titles)
    assert SECRET not in json.dumps(report)


def test_five_thread_variables_as_long_as_linux_allows() -> None:
    env = {name: "a" * (MAX_ARG_STRLEN - len(name) - 2) for name in INHERITED}
    # a secret at the very end of a long value: masked there too
    env["RAY_TEST_API_TOKEN"] = SECRET
    env["OMP_NUM_THREADS"] = env["OMP_NUM_THREADS"][: -len(SECRET) - 1] + " " + SECRET
    result = run_cli(script("lkdoctor"), "--json", "--no-bench", env=env, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert SECRET not in result.stdout + result.stderr
    assert_valid_report(json.loads(result.stdout), INHERITED)


def test_a_megabyte_in_each_of_five_thread_variables() -> None:
    # set inside the process: exec cannot carry a 1 MB variable, os.environ can
    report = run_python(
        f"""
        import json, os
        for name in {THREAD_VARIABLES!r}:
            os.environ[name] = "a" * 1_000_000
        os.environ["RAY_TEST_API_TOKEN"] = {SECRET!r}
        os.environ["MKL_NUM_THREADS"] = {SECRET!r} + os.environ["MKL_NUM_THREADS"]
        import lkdoctor
        from lkdoctor.render import render_json
        print(json.dumps(json.loads(render_json(lkdoctor.collect(bench=False)))))
        """,
        timeout=TIMEOUT,
    )
    assert_valid_report(report, THREAD_VARIABLES)


@pytest.mark.lenskit2026
def test_a_ten_megabyte_settings_file_with_a_megabyte_value(tmp_path: Path) -> None:
    filler = "".join(f'key_{i} = "{"x" * 900}"\n' for i in range(10_000))
    text = f'[parallel]\nnum_threads = "{"a" * 1_000_000}"\n\n[other]\n{filler}'
    (tmp_path / "lenskit.toml").write_text(text)
    assert len(text) > 10_000_000
    result = run_cli(
        script("lkdoctor"), "--json", "--no-bench", "-R", str(tmp_path), timeout=TIMEOUT
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert_valid_report(report)
    invalid = [f for f in report["findings"] if f["id"] == "settings-file-invalid"]
    assert invalid and "lenskit.toml:2" in invalid[0]["title"], report["findings"]
    # the size is a finding of its own; the file was parsed once, by LensKit's own code,
    # whose parse gave the doctor the [parallel] table, and which fails on the same value
    large = [f for f in report["findings"] if f["id"] == "settings-file-large"]
    assert len(large) == 1 and f"{len(text.encode()):,} bytes" in large[0]["title"], large
    assert "from LensKit's own parse" in large[0]["evidence"]
    note = report["plan"]["lenskit_note"]
    assert note.startswith("LensKit failed at configure") and "num_threads" in note, note


@pytest.mark.lenskit2026
def test_a_large_settings_file_broken_outside_its_parallel_table(tmp_path: Path) -> None:
    # LensKit parses the whole 1.3 MB file and fails outside the [parallel] table; the
    # doctor, which takes LensKit's parse instead of parsing it again, says so at that line
    filler = "".join(f'key_{i} = "{"x" * 200}"\n' for i in range(6_000))
    text = f"[parallel]\nnum_threads = 2\n\n[other]\n{filler}key_7 = 'twice'\n"
    (tmp_path / "lenskit.toml").write_text(text)
    result = run_cli(
        script("lkdoctor"), "--json", "--no-bench", "-R", str(tmp_path), timeout=TIMEOUT
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert_valid_report(report)
    ids = [f["id"] for f in report["findings"]]
    assert "settings-file-large" in ids, ids
    invalid = [f for f in report["findings"] if f["id"] == "settings-file-invalid"]
    assert invalid and f"lenskit.toml:{6_000 + 5} " in invalid[0]["title"], invalid
    assert "TOMLDecodeError: Cannot overwrite a value" in invalid[0]["evidence"]
    # as LensKit, which loads none of the file's settings
    assert report["plan"]["settings"]["num_threads"]["source"] == "derived"
    assert report["plan"]["lenskit_note"].startswith("LensKit failed at configure")


@pytest.fixture
def long_command_line() -> Iterator[subprocess.Popen[str]]:
    """A process with a 1 MB command line (ten 100 kB arguments) and long thread variables."""
    env = {**os.environ, **{name: "a" * 100_000 for name in INHERITED}}
    idle = "import time; print('ready', flush=True); time.sleep(600)"
    with ready_process([sys.executable, "-c", idle, *["b" * 100_000] * 10], env=env) as process:
        yield process


def test_pid_of_a_process_with_a_megabyte_command_line(
    long_command_line: subprocess.Popen[str],
) -> None:
    result = run_cli(
        script("lkdoctor"),
        "--json",
        "--no-bench",
        "--full",
        "--pid",
        str(long_command_line.pid),
        "--sample-time",
        "0.5",
        timeout=TIMEOUT,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    report = json.loads(result.stdout)
    assert_valid_report(report)
    assert len(result.stdout) < 5_000_000


def test_a_ray_address_of_100000_characters_is_a_one_line_refusal() -> None:
    result = run_cli(
        script("lkdoctor"), "--json", "--no-bench", "--ray", "127.0.0.1:" + "9" * 100_000
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and len(result.stderr) < 1000, result.stderr[-1000:]
    assert "no valid port" in result.stderr and "(100,010 characters)" in result.stderr


def test_a_command_with_10000_arguments(tmp_path: Path) -> None:
    report_path = tmp_path / "report.json"
    arguments = [f"argument-{i}" for i in range(10_000)]
    result = run_cli(
        script("lkdoctor"),
        "--json",
        "--no-bench",
        "--full",
        "--report",
        str(report_path),
        "--",
        "true",
        *arguments,
        timeout=TIMEOUT,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert_valid_report(json.loads(report_path.read_text()))
