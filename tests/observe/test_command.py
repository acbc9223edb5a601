"""`lenskit doctor -- COMMAND`: the command runs untouched, the report goes elsewhere,
its exit status comes back, and signals reach it."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from helpers import SLEEPS_WHEN_READY, doctor_running, run_cli, script
from schema_contract import validate_report

PY = sys.executable
SIGNAL_TARGET = Path(__file__).resolve().parents[1] / "signal_target.py"


def doctor(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return run_cli(script("lkdoctor"), "--no-bench", *args, **kwargs)


def test_output_untouched_report_on_stderr_and_failing_status_comes_back() -> None:
    code = "import sys; print('the command speaks'); sys.exit(7)"
    result = doctor("--json", "--", PY, "-c", code)
    assert result.returncode == 7
    assert result.stdout == "the command speaks\n"  # nothing of the report on stdout
    data = json.loads(result.stderr)
    validate_report(data)
    observed = data["observed"]
    assert observed["exit_status"] == 7 and observed["command"] == [PY, "-c", code]
    assert observed["root_pid"] == observed["processes"][0]["pid"]
    assert observed["processes"][0]["exited"] is True
    assert observed["cpu_seconds"] > 0  # counted from its birth, not from the first look


def test_report_to_a_file_and_its_children_are_observed(tmp_path: Path) -> None:
    code = textwrap.dedent(
        """
        import subprocess, sys
        subprocess.run([sys.executable, "-c", "import time; time.sleep(0.6)"], check=True)
        """
    )
    report = tmp_path / "report.json"
    result = doctor("--json", "--report", str(report), "--", PY, "-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and result.stderr == ""
    observed = json.loads(report.read_text())["observed"]
    [root, child] = observed["processes"]
    assert child["ppid"] == root["pid"] and child["level"] == 1 and child["exited"]
    assert observed["exit_status"] == 0


def test_fail_on_applies_when_the_command_succeeds_oversubscribed(tmp_path: Path) -> None:
    """Pinned to one CPU, 3 busy threads run for seconds: the run is flagged, exit 1.

    Long enough that the interpreter's start and exit (one thread) stay a small part of
    the run on a loaded machine; a run of a moment was once judged to fit.
    """
    burn = textwrap.dedent(
        """
        import hashlib, threading
        data = b"x" * (4 << 20)
        def burn():
            for _ in range(250):
                hashlib.sha256(data).digest()
        threads = [threading.Thread(target=burn) for _ in range(3)]
        for t in threads: t.start()
        for t in threads: t.join()
        """
    )
    pin = "import os, sys; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); " + (
        "os.execv(sys.argv[1], sys.argv[1:])"
    )
    report = tmp_path / "r.json"
    args = ["--json", "--report", str(report), "--fail-on", "warning", "--", PY, "-c", burn]
    result = run_cli(PY, "-c", pin, script("lkdoctor"), "--no-bench", *args)
    assert result.returncode == 1, result.stderr
    data = json.loads(report.read_text())
    assert data["observed"]["cpus"] == 1 and data["observed"]["exit_status"] == 0
    assert data["observed"]["peak_runnable"] > 1
    assert "process-oversubscribed" in {f["id"] for f in data["findings"]}


def test_sigint_to_the_doctor_reaches_the_command(tmp_path: Path) -> None:
    """Ctrl-C sent to the doctor alone (kill -INT) is passed on; the command's death by
    SIGINT comes back as 130, and the report is still written."""
    report = tmp_path / "r.json"
    with doctor_running(report, SLEEPS_WHEN_READY) as proc:  # the command itself is running
        os.kill(proc.pid, signal.SIGINT)
        _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGINT
    assert "KeyboardInterrupt" in stderr  # raised in the command, not in the doctor
    data = json.loads(report.read_text())
    assert data["observed"]["exit_status"] == 130


def test_lenskit_doctor_passes_the_command_through() -> None:
    result = run_cli(
        script("lenskit"), "doctor", "--no-bench", "--json", "--", PY, "-c", "print(1)"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "1\n"
    assert json.loads(result.stderr)["observed"]["exit_status"] == 0


def test_a_missing_command_is_127_and_conflicts_are_usage_errors() -> None:
    result = doctor("--", "/nonexistent/command")
    assert result.returncode == 127
    assert result.stderr.startswith("lkdoctor: cannot run /nonexistent/command")
    conflict = doctor("--pid", "1", "--", PY, "-c", "pass")
    assert conflict.returncode == 2 and "cannot be combined" in conflict.stderr
    assert doctor("--single-process").returncode == 2


def test_a_command_is_only_run_after_the_double_dash() -> None:
    """`lkdoctor jsn` is a typo, not a program: a usage error that shows the `--` form."""
    for program in ("lkdoctor", "lenskit"):
        prefix = ["doctor"] if program == "lenskit" else []
        result = run_cli(script(program), *prefix, "--no-bench", "jsn")
        assert result.returncode == 2, result.stderr
        assert "unexpected argument 'jsn'" in result.stderr
        assert "doctor -- jsn" in result.stderr or "lkdoctor -- jsn" in result.stderr
        assert "Traceback" not in result.stderr


def test_a_progress_line_on_a_terminal_and_none_otherwise(tmp_path: Path) -> None:
    """With stderr a terminal the doctor shows what it watches, then erases the line."""
    import pty

    main, secondary = pty.openpty()
    report = tmp_path / "r.txt"
    code = "import time; time.sleep(0.3)"
    args = [script("lkdoctor"), "--no-bench", "--report", str(report), "--", PY, "-c", code]
    with subprocess.Popen(args, stderr=secondary, stdout=subprocess.DEVNULL) as proc:
        os.close(secondary)
        chunks = []
        while True:
            try:
                chunk = os.read(main, 4096)
            except OSError:  # the terminal closed with the doctor
                break
            if not chunk:
                break
            chunks.append(chunk)
        proc.wait(120)
    os.close(main)
    shown = b"".join(chunks).decode()
    assert proc.returncode == 0
    assert f"lenskit doctor: watching {PY}" in shown and shown.endswith("\r\x1b[K")
    assert "Observed" in report.read_text()
    plain = doctor("--report", str(report), "--", PY, "-c", "pass")
    assert "watching" not in plain.stderr


def test_markdown_report_has_the_run_and_a_row_per_process(tmp_path: Path) -> None:
    report = tmp_path / "r.md"
    # The child lives 1 s: many sampling intervals (at most 1 s each, 0.1 s for so small a tree).
    code = "import subprocess, sys; subprocess.run([sys.executable, '-c', 'import time; time.sleep(1)'])"
    result = doctor("--format", "markdown", "--report", str(report), "--", PY, "-c", code)
    assert result.returncode == 0, result.stderr
    text = report.read_text()
    details = text.split("<summary>✓ Observed</summary>", 1)[1].split("</details>", 1)[0]
    assert "exit status 0" in details
    assert "| pid | ppid | level | name | threads |" in details
    assert details.count("\n| ") == 3  # header, the command and its child


def test_ctrl_c_on_the_terminal_reaches_the_command_once(tmp_path: Path) -> None:
    """The terminal sends Ctrl-C to the whole foreground group, the command included: the
    doctor must not send it a second time. The command waits for a duplicate until the
    doctor holds no pending signal, then two seconds more (tests/signal_target.py)."""
    import fcntl
    import pty
    import termios

    main, secondary = pty.openpty()

    def take_terminal() -> None:  # in the child: the pty becomes its controlling terminal
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    receipts, report = tmp_path / "receipts", tmp_path / "r.json"
    args = [script("lkdoctor"), "--no-bench", "--json", "--report", str(report)]
    target = [PY, str(SIGNAL_TARGET), str(receipts), "SIGINT", "--exit-zero"]
    proc = subprocess.Popen(
        [*args, "--", *target],
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        start_new_session=True,
        preexec_fn=take_terminal,
    )
    os.close(secondary)
    shown = b""
    try:
        while b"ready" not in shown:
            shown += os.read(main, 4096)
        os.write(main, b"\x03")  # Ctrl-C, as typed
        while b"received" not in shown or not shown.rstrip()[-1:].isdigit():
            try:
                chunk = os.read(main, 4096)
            except OSError as exc:  # EIO: every process on the terminal has closed it
                if exc.errno != errno.EIO:
                    raise
                break
            if not chunk:
                break
            shown += chunk
        assert proc.wait(120) == 0
    finally:
        proc.kill()
        proc.wait(10)
        os.close(main)
    assert b"received 1" in shown
    assert receipts.read_text().split() == ["SIGINT"]
    assert json.loads(report.read_text())["observed"]["exit_status"] == 0
