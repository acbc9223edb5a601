"""Rendering snapshots: characteristic reports, rendered at 80 columns, against reviewed files.

The reports are built from model objects (tests/samples.py), so they are the
same on every machine. When a renderer changes on purpose, regenerate and review:

    LKDOCTOR_UPDATE_SNAPSHOTS=1 python -m pytest tests/render/test_snapshots.py
    git diff tests/render/snapshots/

With the variable set the files are rewritten (and the tests still compare against what
was written); without it, a difference fails the test with a diff.
"""

from __future__ import annotations

import difflib
import os
from io import StringIO
from pathlib import Path

import pytest
from rich.console import Console
from samples import SAMPLES

from lkdoctor.render.markdown import render_markdown
from lkdoctor.render.text import render_text

SNAPSHOTS = Path(__file__).parent / "snapshots"
UPDATE = os.environ.get("LKDOCTOR_UPDATE_SNAPSHOTS") == "1"


def render_text_80(name: str, *, full: bool) -> str:
    console = Console(file=StringIO(), width=80, color_system=None, highlight=False)
    render_text(SAMPLES[name](), console, full=full)
    output = console.file.getvalue()  # type: ignore[attr-defined]
    # Rich pads table cells with spaces; trailing blanks are invisible and editors strip them.
    return "\n".join(line.rstrip() for line in output.splitlines()) + "\n"


def check_snapshot(file_name: str, rendered: str) -> None:
    path = SNAPSHOTS / file_name
    if UPDATE:
        path.write_text(rendered, encoding="utf-8")
    expected = path.read_text(encoding="utf-8")
    if rendered != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                rendered.splitlines(keepends=True),
                f"{file_name} (reviewed)",
                f"{file_name} (rendered now)",
            )
        )
        pytest.fail(f"{file_name} differs; review, then LKDOCTOR_UPDATE_SNAPSHOTS=1\n{diff}")


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_text_matches_snapshot(name: str) -> None:
    check_snapshot(f"{name}.txt", render_text_80(name, full=False))


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_full_text_matches_snapshot(name: str) -> None:
    check_snapshot(f"{name}.full.txt", render_text_80(name, full=True))


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_markdown_matches_snapshot(name: str) -> None:
    check_snapshot(f"{name}.md", render_markdown(SAMPLES[name]()))


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_text_fits_80_columns(name: str) -> None:
    for full in (False, True):
        lines = render_text_80(name, full=full).splitlines()
        assert max(len(line) for line in lines) <= 80


def test_sections_open_with_their_worst_mark() -> None:
    lines = render_text_80("oversubscribed", full=False).splitlines()
    assert "! CPU budget" in lines
    assert "✗ Thread plan" in lines
    assert "! Measured" in lines
    assert "✓ Environment" in lines
    assert lines[-1] == "2 warnings, 1 error"


def test_failed_section_is_marked_and_summarised() -> None:
    text = render_text_80("bad_env", full=False)
    assert "✗ Live pools" in text  # no data, but its finding and its failure are shown
    assert "could not collect: OSError: /proc/self/task unreadable" in text
    assert "✗ Other" in text and "probe" in text  # an error with no section of its own
    assert text.splitlines()[-1] == "1 warning, 2 errors, 2 sections could not be collected"


def test_no_issues_found_when_only_info() -> None:
    assert render_text_80("fitting", full=False).splitlines()[-1] == "No issues found"


def test_findings_show_evidence_remedy_and_exports() -> None:
    text = render_text_80("oversubscribed", full=False)
    assert "lenskit_effective=64 (affinity), effective=2" in text
    assert "→ use the suggested plan" in text
    assert "      export LK_NUM_PROCS=1" in text


def test_default_hides_what_full_shows() -> None:
    short = render_text_80("fitting", full=False)
    full = render_text_80("fitting", full=True)
    # an info finding is one line by default; --full adds its evidence
    assert "SMT: 4 logical CPUs" in short and "1 hardware thread per core" not in short
    assert "1 hardware thread per core" in full
    # Python's own variables appear only with --full
    bad_short = render_text_80("bad_env", full=False)
    assert "PYTHONPATH" not in bad_short
    assert "PYTHONPATH" in render_text_80("bad_env", full=True)
    assert "OMP_NUM_THREADS" in bad_short


def test_export_values_are_shell_quoted() -> None:
    from lkdoctor.render.text import export_lines

    assert export_lines({"A": "1,2", "B": "x y", "C": "$(rm)"}) == [
        "export A=1,2",
        "export B='x y'",
        "export C='$(rm)'",
    ]
