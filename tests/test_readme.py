"""Every path the README names exists in the repository.

Anywhere in the README, a word in backticks that starts at a top folder of the repository
(`lkdoctor/...`, `tests/...`, `scripts/...`, `rust_probe/...`, `.ci/...`) is a path; in
"How it is built", where paths are written under `lkdoctor/`, so is every word in
backticks that ends in a file suffix or a slash.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
TOP_FOLDERS = ("lkdoctor/", "tests/", "scripts/", "rust_probe/", ".ci/")
#: A word that names a file or folder: a suffix of one of the repository's file types, or
#: a trailing slash.
PATHLIKE = re.compile(r"^[\w.]+(/[\w.]+)*(/|\.(py|pyi|rs|sh|toml|md|json|txt))$")
BUILT = "## How it is built"


def sections(text: str) -> dict[str, str]:
    """The README's ``## `` sections by heading (the text before the first under "")."""
    found: dict[str, str] = {}
    heading = ""
    for line in text.splitlines(keepends=True):
        if line.startswith("## "):
            heading = line.strip()
        found[heading] = found.get(heading, "") + line
    return found


def backticked_words(text: str) -> list[str]:
    """Every word of every ``code`` span, trailing punctuation removed."""
    spans = re.findall(r"`([^`\n]+)`", text)
    return [word.rstrip(".,;:)") for span in spans for word in span.split()]


def named_paths(text: str) -> set[str]:
    """The repository paths ``text`` (the README) names, relative to the repository."""
    paths = {word for word in backticked_words(text) if word.startswith(TOP_FOLDERS)}
    built = sections(text).get(BUILT, "")
    for word in backticked_words(built):
        if not word.startswith(TOP_FOLDERS) and PATHLIKE.match(word):
            paths.add(f"lkdoctor/{word}")
    return paths


def test_the_extraction_finds_paths_in_every_form() -> None:
    text = (
        "intro `lkdoctor/gone.py` and `python scripts/x.py --flag`, `/proc/PID`, `lenskit.toml`\n"
        "## How it is built\n"
        "| model | `model.py`, `host/`, `output.render`, `cli.FORMATS` |\n"
        "see `tests/t.py`.\n"
        "## Development\n"
        "`parallel/config.py` of LensKit, `bash .ci/run`\n"
    )
    assert named_paths(text) == {
        "lkdoctor/gone.py",
        "scripts/x.py",
        "lkdoctor/model.py",
        "lkdoctor/host/",
        "tests/t.py",
        ".ci/run",
    }


PATHS = sorted(named_paths(README.read_text(encoding="utf-8")))


def test_the_readme_names_the_parts_of_the_build() -> None:
    # the walk really reads the README: its build section names these
    assert {
        "lkdoctor/model.py",
        "lkdoctor/plan/line.py",
        "lkdoctor/plan/lines.py",
        "tests/test_architecture.py",
        "tests/plan/test_lines.py",
    } <= set(PATHS)
    assert len(PATHS) > 40


@pytest.mark.parametrize("path", PATHS)
def test_every_path_the_readme_names_exists(path: str) -> None:
    target = REPO / path
    assert target.is_dir() if path.endswith("/") else target.is_file(), path
