"""Helpers for running the installed commands, and fresh interpreters, as a user would."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent


def script(name: str) -> str:
    """The installed console script ``name`` beside this interpreter."""
    path = BIN / name
    found = str(path) if path.exists() else shutil.which(name)
    assert found, f"console script {name!r} is not installed"
    return found


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run an installed command as a user would, with ``env`` added to ours."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        list(args), capture_output=True, text=True, env=full_env, timeout=timeout, check=False
    )


def run_python(code: str, env: dict[str, str] | None = None, timeout: float = 180) -> Any:
    """Run ``code`` in a fresh interpreter; it prints one JSON document as its last line."""
    full_env = {**os.environ, **(env or {})}
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])
