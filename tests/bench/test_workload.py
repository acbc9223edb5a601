"""The ``--verify`` workload's command line: it applies level 0 as the plan's own LensKit
line does, so it is told the line, and a line that is not registered is a usage error."""

from __future__ import annotations

import sys

from helpers import run_cli

from lkdoctor.model import PlanLevel

LEVEL = PlanLevel(level=0, processes=1, threads=1, backend_threads=1, demand=1)
WORKLOAD = (sys.executable, "-m", "lkdoctor.bench.workload", "--level", LEVEL.model_dump_json())


def test_an_unregistered_line_is_a_usage_error_not_a_traceback() -> None:
    result = run_cli(*WORKLOAD, "--dialect", "1999")
    assert result.returncode == 2
    assert "invalid choice: '1999' (choose from '2025', '2026')" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_the_line_is_required() -> None:
    result = run_cli(*WORKLOAD)
    assert result.returncode == 2
    assert "the following arguments are required: --dialect" in result.stderr
    assert "Traceback" not in result.stderr
