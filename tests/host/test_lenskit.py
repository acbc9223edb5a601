"""Which LensKit dialect applies: the installed version, else what pip would install."""

from __future__ import annotations

import importlib.metadata

import pytest

from lkdoctor.host.lenskit import installed_lenskit_version
from lkdoctor.plan.lines import detect_dialect, dialect_of_version


def test_the_installed_version_is_read_without_importing_lenskit() -> None:
    import sys

    before = "lenskit" in sys.modules
    found = installed_lenskit_version()
    assert found == importlib.metadata.version("lenskit")  # the test environments have one
    assert ("lenskit" in sys.modules) == before


@pytest.mark.parametrize(
    ("version", "dialect"),
    [
        ("2025.3.0", "2025"),
        ("2025.8.1", "2025"),
        ("2026.1.0", "2026"),
        ("2026.4.0", "2026"),
        ("2027.1", "2026"),
        ("0.14.4", None),
        ("dev", None),
    ],
)
def test_dialect_of_version(version: str, dialect: str | None) -> None:
    line = dialect_of_version(version)
    assert (None if line is None else line.name) == dialect


def test_the_installed_lenskit_decides() -> None:
    found = detect_dialect(version="2026.4.0", python=(3, 11, 7))
    assert (found.dialect, found.version) == ("2026", "2026.4.0")
    assert "2026.4.0" in found.reason


def test_without_lenskit_pip_decides_by_python() -> None:
    assert detect_dialect(version="", python=(3, 11, 7)).dialect == "2025"
    assert detect_dialect(version="", python=(3, 12, 4)).dialect == "2025"
    new = detect_dialect(version="", python=(3, 12, 5))
    assert new.dialect == "2026" and new.version is None and "3.12.5" in new.reason


def test_the_users_choice_wins() -> None:
    chosen = detect_dialect("2025", version="2026.4.0")
    assert chosen.dialect == "2025" and "--dialect 2025" in chosen.reason
