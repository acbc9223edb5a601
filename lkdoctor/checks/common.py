"""Helpers shared by the section checks (the rules findings share are in
:mod:`lkdoctor.findings`)."""

from __future__ import annotations


def human_bytes(n_bytes: int) -> str:
    """Bytes in the largest binary unit that keeps a number ≥ 1: ``4.0 MiB``."""
    value = float(n_bytes)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")
