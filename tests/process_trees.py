"""Real process trees for the observation tests, each in its own session so that the
whole tree (orphans included) is killed afterwards."""

from __future__ import annotations

import ast
import contextlib
import os
import selectors
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import target_environ

TREE_TARGET = Path(__file__).with_name("tree_target.py")


class Tree:
    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(TREE_TARGET)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=target_environ(env),
            start_new_session=True,
        )
        ready = self.answer()
        assert ready.startswith("ready"), ready
        self.pids: dict[str, Any] = ast.literal_eval(ready.split(" ", 1)[1])

    @property
    def pid(self) -> int:
        return self.proc.pid

    def answer(self, timeout: float = 120) -> str:
        """The target's next line (it answers each command once it has taken effect)."""
        assert self.proc.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self.proc.stdout, selectors.EVENT_READ)
            if not selector.select(timeout=timeout):
                pytest.fail("the process tree did not answer within 120 s")
        return self.proc.stdout.readline().strip()

    def command(self, line: str) -> str:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self.answer()

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(60)  # a loaded machine (5 busy threads on its one CPU) is slow to reap
