"""Parsing thread counts: the backends' variables and the count syntax every dialect shares.

Every function here accepts any text and never raises: a malformed value becomes an
`EnvProblem` and is treated as unset, so the rest of the report still appears.
"""

from __future__ import annotations

from dataclasses import dataclass

from lkdoctor.host.undecodable import cut, quoted
from lkdoctor.model import EnvProblem
from lkdoctor.pools.kinds import KINDS, BackendVariable

#: The largest count a C ``int`` (torch, OpenMP) accepts.
MAX_COUNT = 2**31 - 1
_MAX_DIGITS = len(str(MAX_COUNT))


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
    """``value`` shortened for evidence text, saying its length when it is cut."""
    return cut(value)


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


def first_bad_item(items: list[str], minimum: int) -> tuple[int, str] | None:
    for index, item in enumerate(items):
        if parse_count(item, minimum=minimum) is None:
            return index, item
    return None


def all_counts(items: list[str], minimum: int) -> tuple[int, ...] | None:
    """Every item's count, or ``None`` when any item is not one."""
    counts = [parse_count(item, minimum=minimum) for item in items]
    if any(count is None for count in counts):
        return None
    return tuple(count for count in counts if count is not None)


def count_problem(
    variable: str, value: str, expected: str, bad: tuple[int, str], consequence: str
) -> EnvProblem:
    index, item = bad
    where = (
        f"item {index + 1} ({quoted(shown(item.strip()))})"
        if "," in value
        else quoted(shown(value.strip()))
    )
    return EnvProblem(
        variable=variable,
        value=shown(value),
        expected=expected,
        consequence=f"{where} is not an integer ≥ 1 and ≤ {MAX_COUNT}; {consequence}",
    )


def parse_backend(variable: BackendVariable, value: str | None) -> Parsed:
    """A backend's variable; for a list (``OMP_NUM_THREADS=4,2``) only the first item counts."""
    if not value:
        return Parsed()
    minimum = 0 if variable.allows_zero else 1
    items = value.split(",") if variable.allows_list else [value]
    bad = first_bad_item(items, minimum=minimum)
    if bad is not None:
        consequence = "the library ignores it and uses its own default"
        return Parsed(
            problem=count_problem(variable.name, value, variable.expected, bad, consequence)
        )
    return Parsed(values=all_counts(items, minimum=minimum))
