"""Parsing LensKit's and the backends' thread-count variables.

Every function here accepts any text and never raises: a malformed value becomes an
`EnvProblem` and is treated as unset, so the rest of the report still appears.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from lkdoctor.host.pool_kinds import KINDS, LIST_FORM, ONE_FORM, BackendVariable
from lkdoctor.host.undecodable import quoted
from lkdoctor.model import EnvProblem

LK_LISTS = ("LK_NUM_PROCS", "LK_NUM_THREADS", "LK_NUM_BACKEND_THREADS")
LK_CHILD = "LK_NUM_CHILD_THREADS"
LK_VARIABLES = (*LK_LISTS, LK_CHILD)

#: The largest count a C ``int`` (torch, OpenMP) accepts.
MAX_COUNT = 2**31 - 1
_MAX_DIGITS = len(str(MAX_COUNT))
_SHOWN_CHARS = 200


@dataclass(frozen=True)
class Parsed:
    """A variable's counts, or ``None`` when it is unset or invalid (then ``problem``)."""

    values: tuple[int, ...] | None = None
    problem: EnvProblem | None = None

    @property
    def first(self) -> int | None:
        return self.values[0] if self.values else None


#: Every pool kind's own variables, in the registry's order.
BACKEND_VARIABLES: tuple[BackendVariable, ...] = tuple(
    variable for kind in KINDS for variable in kind.variables
)


def shown(value: str) -> str:
    """``value`` shortened for evidence text."""
    return value if len(value) <= _SHOWN_CHARS else value[:_SHOWN_CHARS] + "…"


def parse_count(text: str, *, minimum: int = 1) -> int | None:
    """One count: ASCII digits (an optional ``+``), surrounding space ignored, in range."""
    item = text.strip()
    if item.startswith("+"):
        item = item[1:]
    if not item or not item.isascii() or not item.isdigit():
        return None
    if len(item.lstrip("0")) > _MAX_DIGITS:
        return None
    number = int(item)
    return number if minimum <= number <= MAX_COUNT else None


def _first_bad_item(items: list[str], minimum: int) -> tuple[int, str] | None:
    for index, item in enumerate(items):
        if parse_count(item, minimum=minimum) is None:
            return index, item
    return None


def _counts(items: list[str], minimum: int) -> tuple[int, ...] | None:
    """Every item's count, or ``None`` when any item is not one."""
    counts = [parse_count(item, minimum=minimum) for item in items]
    if any(count is None for count in counts):
        return None
    return tuple(count for count in counts if count is not None)


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


def _problem(
    variable: str, value: str, expected: str, bad: tuple[int, str], consequence: str
) -> EnvProblem:
    index, item = bad
    where = (
        f"item {index + 1} ({quoted(item.strip())})"
        if "," in value
        else quoted(shown(value.strip()))
    )
    return EnvProblem(
        variable=variable,
        value=shown(value),
        expected=expected,
        consequence=f"{shown(where)} is not an integer ≥ 1 and ≤ {MAX_COUNT}; {consequence}",
    )


def parse_lk_list(variable: str, value: str | None) -> Parsed:
    """``LK_NUM_PROCS`` / ``LK_NUM_THREADS`` / ``LK_NUM_BACKEND_THREADS``: an int or a list."""
    if not value:
        return Parsed()
    items = value.split(",")
    bad = _first_bad_item(items, minimum=1)
    if bad is not None:
        return Parsed(
            problem=_problem(variable, value, LIST_FORM, bad, _lenskit_consequence(value))
        )
    return Parsed(values=_counts(items, minimum=1))


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
        return Parsed(problem=_problem(LK_CHILD, value, ONE_FORM, (0, value), consequence))
    return Parsed(values=(number,))


def parse_backend(variable: BackendVariable, value: str | None) -> Parsed:
    """A backend's variable; for a list (``OMP_NUM_THREADS=4,2``) only the first item counts."""
    if not value:
        return Parsed()
    minimum = 0 if variable.allows_zero else 1
    items = value.split(",") if variable.allows_list else [value]
    bad = _first_bad_item(items, minimum=minimum)
    if bad is not None:
        consequence = "the library ignores it and uses its own default"
        return Parsed(problem=_problem(variable.name, value, variable.expected, bad, consequence))
    return Parsed(values=_counts(items, minimum=minimum))


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
