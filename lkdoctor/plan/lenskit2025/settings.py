"""Parsing LensKit 2025's thread-count variables (``LK_NUM_*``, per-level lists).

Every function here accepts any text and never raises: a malformed value becomes an
`EnvProblem` and is treated as unset, so the rest of the report still appears.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from lkdoctor.model import EnvProblem
from lkdoctor.plan.parse import Parsed, all_counts, count_problem, first_bad_item, parse_count
from lkdoctor.pools.kinds import LIST_FORM, ONE_FORM

LK_LISTS = ("LK_NUM_PROCS", "LK_NUM_THREADS", "LK_NUM_BACKEND_THREADS")
LK_CHILD = "LK_NUM_CHILD_THREADS"
LK_VARIABLES = (*LK_LISTS, LK_CHILD)


def _lenskit_parses(value: str) -> bool:
    """Whether LensKit's own ``int(s.strip())`` accepts every item (it does not check ranges)."""
    try:
        for item in value.split(","):
            int(item.strip())
    except ValueError:
        return False
    return True


def _lenskit_consequence(value: str) -> str:
    if _lenskit_parses(value):
        return (
            "LensKit passes it on unchecked (a count below 1 divides by zero or asks for "
            "pools of no threads); planned here as if unset"
        )
    return "LensKit raises ValueError on it when it initializes; planned here as if unset"


def parse_lk_list(variable: str, value: str | None) -> Parsed:
    """``LK_NUM_PROCS`` / ``LK_NUM_THREADS`` / ``LK_NUM_BACKEND_THREADS``: an int or a list."""
    if not value:
        return Parsed()
    items = value.split(",")
    bad = first_bad_item(items, minimum=1)
    if bad is not None:
        return Parsed(
            problem=count_problem(variable, value, LIST_FORM, bad, _lenskit_consequence(value))
        )
    return Parsed(values=all_counts(items, minimum=1))


def parse_lk_child(value: str | None) -> Parsed:
    """``LK_NUM_CHILD_THREADS`` (deprecated): one int, which LensKit reads with ``int()``."""
    if not value:
        return Parsed()
    number = parse_count(value)
    if number is None:
        try:
            int(value)
            consequence = "LensKit passes it on unchecked; planned here as if unset"
        except ValueError:
            consequence = (
                "LensKit raises ValueError on it when it initializes; planned here as if unset"
            )
        return Parsed(problem=count_problem(LK_CHILD, value, ONE_FORM, (0, value), consequence))
    return Parsed(values=(number,))


@dataclass(frozen=True)
class LkSettings:
    """LensKit's variables, parsed; invalid ones are ``None`` and listed in ``problems``."""

    processes: tuple[int, ...] | None
    threads: tuple[int, ...] | None
    backend: tuple[int, ...] | None
    child: int | None
    problems: tuple[EnvProblem, ...]


def parse_lk_settings(environ: Mapping[str, str]) -> LkSettings:
    lists = {name: parse_lk_list(name, environ.get(name)) for name in LK_LISTS}
    child = parse_lk_child(environ.get(LK_CHILD))
    problems = tuple(
        parsed.problem for parsed in (*lists.values(), child) if parsed.problem is not None
    )
    return LkSettings(
        processes=lists["LK_NUM_PROCS"].values,
        threads=lists["LK_NUM_THREADS"].values,
        backend=lists["LK_NUM_BACKEND_THREADS"].values,
        child=child.first,
        problems=problems,
    )
