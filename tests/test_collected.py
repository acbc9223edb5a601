"""The one guard: an exception becomes one error entry of its section, never a crash."""

from __future__ import annotations

from lkdoctor.collected import Collected, guard


def _unreadable() -> int:
    raise OSError("/proc/self/maps: permission denied")


def test_a_failure_is_one_error_entry_naming_the_part_and_where_it_was_raised() -> None:
    got = guard("pools", _unreadable, part="torch")
    assert got.value is None
    [error] = got.errors
    assert error.section == "pools"
    assert error.message.startswith("torch: OSError: /proc/self/maps: permission denied (at ")
    assert "test_collected.py:" in error.message


def test_a_success_is_the_value_with_no_errors_and_describe_words_the_failure() -> None:
    assert guard("cpu", lambda: 3) == Collected(3, [])
    worded = guard("cluster", _unreadable, describe=lambda exc: f"said {type(exc).__name__}")
    assert [e.message for e in worded.errors] == ["said OSError"]
