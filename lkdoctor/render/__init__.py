"""Renderers: they only format a finished report."""

from __future__ import annotations

from lkdoctor.model import Report


def render_json(report: Report) -> str:
    return report.model_dump_json(indent=2) + "\n"
