"""What a LensKit line shows of its plan, as plain rows both renderers format (text and
Markdown): each line builds a `PlanDetails` in its ``view.py``; the renderers know no line.

The levels, the summary and the suggestion are every plan's and the renderers show them
from the plan itself; `PlanDetails` holds what the line adds around them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lkdoctor.model import PlanLevel


@dataclass(frozen=True)
class DetailRow:
    """One fact of the plan: its name, its value, and where the value comes from."""

    label: str
    value: str
    source: str = ""  # the variable or file:line that set it; empty: not a setting
    how: str = ""  # how the value was derived from what was set


@dataclass(frozen=True)
class OwnAnswer:
    """LensKit's own code's answer beside lkdoctor's model of it."""

    version: str | None
    noun: str  # what was compared: "plan" (levels) or "settings"
    agrees: bool
    levels: list[PlanLevel] | None = None  # its levels, when it answers in levels
    rows: list[DetailRow] = field(default_factory=list)  # its settings, when it answers in them
    differing: list[DetailRow] = field(default_factory=list)  # its values where they differ


@dataclass(frozen=True)
class PlanDetails:
    """What a line shows beside the levels every plan has."""

    rows: list[DetailRow] = field(default_factory=list)  # its settings (or fields), in order
    noun: str = "field"  # what a row is: a table's first column
    facts: list[DetailRow] = field(default_factory=list)  # sentences under the rows
    basis: str = ""  # what the levels are resolved by, when the line says it
    answer: OwnAnswer | None = None  # None: LensKit's own code was not read


def field_rows(fields: dict[str, object]) -> list[DetailRow]:
    """A plan shape's own fields as rows: what a line without a view of its own shows."""
    return [DetailRow(label=name, value=str(value)) for name, value in fields.items()]
