"""The one place that imports the Rust probe, so a missing build is a report entry."""

from __future__ import annotations

import importlib
from functools import cache
from types import ModuleType


@cache
def load_probe() -> tuple[ModuleType | None, str | None]:
    """Return ``(module, None)``, or ``(None, why)`` when the extension cannot load."""
    try:
        probe = importlib.import_module("lkdoctor._probe")
    except ImportError as exc:
        return None, (
            f"the Rust probe lkdoctor._probe is not available ({exc}); "
            "reinstall lkdoctor (pip install lkdoctor, or maturin develop in a checkout)"
        )
    return probe, None
