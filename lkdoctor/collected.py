"""The one contract of a section collector: it returns its section and what went wrong.

A collector returns its section, or a :class:`Collected` (the section plus the errors it
went on past) when a part of it can fail without losing the rest. Collectors never touch
the ``Report``: the pipeline is the only writer, and :func:`guard` is the only place an
exception turns into an ``errors[]`` entry.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

from lkdoctor.model import ErrorEntry, Section

T = TypeVar("T")


@dataclass
class Collected(Generic[T]):
    """A section (or None when it could not be collected) and the errors met on the way."""

    value: T
    errors: list[ErrorEntry] = field(default_factory=list)


def describe_failure(exc: BaseException) -> str:
    """``Type: message (at file.py:line)``, the frame where it was raised."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


def guard(
    section: Section,
    collector: Callable[[], T],
    *,
    part: str = "",
    describe: Callable[[BaseException], str] = describe_failure,
) -> Collected[T | None]:
    """Run ``collector``; an exception becomes an error entry of ``section``, never a crash.

    ``part`` names what failed inside the section (``torch``, a cluster node), ahead of the
    message; ``describe`` words the exception (a Ray task error carries a remote traceback).
    """
    try:
        return Collected(collector())
    except Exception as exc:  # a failing collector must never take the report down
        message = f"{part}: {describe(exc)}" if part else describe(exc)
        return Collected(None, [ErrorEntry(section=section, message=message)])
