"""Which script a command runs: python PATH, python -m, through env and bash -c."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from lkdoctor.workers.command import script_of


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (["python", "run.py", "--epochs", "3"], "run.py"),
        (["/usr/bin/python3.11", "-u", "-X", "dev", "run.py"], "run.py"),
        (["env", "-u", "HOME", "LK_NUM_PROCS=2", "python3", "run.py"], "run.py"),
        (["bash", "-c", "cd sub && python ../run.py"], "run.py"),
        (["sh", "-c", "exec nice -n 5 python3.13t run.py arg"], "run.py"),
    ],
)
def test_the_script_of_a_command(tmp_path: Path, command: list[str], expected: str) -> None:
    found = script_of(command, cwd=tmp_path)
    assert found is not None and found.kind == "file" and found.path is not None
    assert found.path.resolve() == (tmp_path / expected).resolve()


def test_python_m_finds_the_module_file_without_importing_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PYTHONSAFEPATH", raising=False)
    package = tmp_path / "experiments"
    package.mkdir()
    (package / "__init__.py").write_text("raise SystemExit('imported!')\n")
    (package / "batch.py").write_text("print('hi')\n")
    found = script_of(["bash", "-c", "python -m experiments.batch"], cwd=tmp_path)
    assert found is not None and found.kind == "module"
    assert found.path == package / "batch.py"
    assert "experiments" not in sys.modules
    # -P keeps the current folder off the search path, in Python and here
    safe = script_of(["python", "-P", "-m", "experiments.batch"], cwd=tmp_path)
    assert safe is not None and (safe.kind, safe.path) == ("unknown", None)


@pytest.mark.parametrize(
    "command", [["python", "-c", "pass"], ["python"], ["python", "-"], ["python", "nb.ipynb"]]
)
def test_inline_code_is_inline(command: list[str]) -> None:
    found = script_of(command)
    assert found is not None and found.kind == "inline" and found.path is None


def test_other_commands_run_no_script() -> None:
    assert script_of(["ls", "-l"]) is None
    assert script_of(["bash", "-c", "echo 'unclosed"]) is None
    assert script_of([]) is None
