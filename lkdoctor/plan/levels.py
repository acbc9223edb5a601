"""The shape of a resolved plan level, shared by the resolver and LensKit's own answer."""

from __future__ import annotations

from dataclasses import dataclass

#: Levels beyond this are not resolved (each needs a process count above 1 at every level
#: before it, so a deeper plan asks for over 2**64 processes).
MAX_LEVELS = 64


@dataclass(frozen=True)
class Counts:
    """One level's counts: processes it spawns, explicit threads, backend threads."""

    processes: int
    threads: int
    backend: int


def oversubscription(peak: int, effective: int) -> float:
    """``peak / effective`` to 3 decimals, bounded so absurd inputs stay a finite float."""
    effective = max(effective, 1)
    if peak > 10**12 * effective:
        return float(10**12)
    return round(peak / effective, 3)
