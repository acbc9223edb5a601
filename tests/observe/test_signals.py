"""`lenskit doctor -- COMMAND` passes every stopping or poking signal sent to it (kill, to
the doctor alone) on to the command exactly once, and the command's death by that signal
comes back as the shell shows it, 128 + N, in the exit status and in the report."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import pytest
from helpers import doctor_running

PY = sys.executable
TARGET = Path(__file__).resolve().parents[1] / "signal_target.py"


@pytest.mark.parametrize(
    "signum",
    [signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2],
    ids=lambda s: signal.Signals(s).name,
)
def test_a_signal_to_the_doctor_reaches_the_command_once(
    signum: signal.Signals, tmp_path: Path
) -> None:
    receipts, report = tmp_path / "receipts", tmp_path / "r.json"
    command = [PY, str(TARGET), str(receipts), signum.name]
    with doctor_running(report, command) as proc:  # "ready": its handler is in place
        proc.send_signal(signum)  # once, to the doctor alone
        stdout, stderr = proc.communicate(timeout=120)
    assert receipts.read_text().split() == [signum.name], stderr
    assert stdout.strip() == "received 1"  # after the wait for a duplicate
    assert proc.returncode == 128 + signum, stderr
    assert json.loads(report.read_text())["observed"]["exit_status"] == 128 + signum
