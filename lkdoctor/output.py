"""Delivering a finished report: the chosen format on stdout, GitHub Actions files, exit code.

Kept out of :mod:`lkdoctor.cli` (which only wires options) and out of the renderers
(which only format).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Literal, cast

from rich.console import Console

from lkdoctor.model import SEVERITY_RANK, Severity
from lkdoctor.render.encoding import (
    FittedStream,
    encodes_everything,
    fit_json,
    fit_text,
    stream_encoding,
)
from lkdoctor.report import Report

Format = Literal["text", "json", "markdown"]
FailOn = Literal["never", "warning", "error"]
ColorMode = Literal["auto", "always", "never"]

EXIT_OK = 0
EXIT_FAIL_ON = 1
EXIT_USAGE = 2


def make_console(
    color: ColorMode, environ: Mapping[str, str] | None = None, file: IO[str] | None = None
) -> Console:
    """A console that honours ``--color`` and, in ``auto``, ``NO_COLOR``.

    On a stream that cannot encode every character (``PYTHONIOENCODING=ascii``) it writes
    ASCII symbols and escapes instead of failing.
    """
    environ = os.environ if environ is None else environ
    stream = sys.stdout if file is None else file
    if not encodes_everything(stream):
        file = cast(IO[str], FittedStream(stream))
    if color == "never" or (color == "auto" and environ.get("NO_COLOR")):
        return Console(file=file, color_system=None, highlight=False)
    if color == "always":
        console = Console(file=file, force_terminal=True, no_color=False, highlight=False)
        if console.color_system is None:  # TERM unset or dumb: still colour, as asked
            console = Console(
                file=file,
                force_terminal=True,
                no_color=False,
                color_system="standard",
                highlight=False,
            )
        return console
    return Console(file=file, highlight=False)


def render(report: Report, fmt: Format, *, full: bool, console: Console) -> None:
    """Write the report to the console's file in ``fmt``."""
    if fmt == "text":
        from lkdoctor.render.text import render_text

        render_text(report, console, full=full)
        return
    encoding = stream_encoding(console.file)
    if fmt == "json":
        from lkdoctor.render import render_json

        text = fit_json(render_json(report), encoding)
    else:
        from lkdoctor.render.markdown import render_markdown

        text = fit_text(render_markdown(report), encoding)
    console.file.write(text)
    console.file.flush()


def exit_code(report: Report, fail_on: FailOn) -> int:
    """1 when a finding at or above ``fail_on`` exists, else 0."""
    if fail_on == "never":
        return EXIT_OK
    worst = report.worst_severity()
    if worst is not None and SEVERITY_RANK[worst] >= SEVERITY_RANK[fail_on]:
        return EXIT_FAIL_ON
    return EXIT_OK


def github_outputs(report: Report) -> dict[str, str]:
    """``key=value`` facts for a workflow's later steps (``steps.<id>.outputs.<key>``)."""
    outputs = {"lkdoctor_version": report.tool.version, "python_version": report.tool.python}
    if report.environment is not None:
        # the same keys as LensKit's own doctor writes
        names = {"lenskit": "lenskit", "numpy": "numpy", "torch": "pytorch"}
        for dist, key in names.items():
            if dist in report.environment.versions:
                outputs[f"{key}_version"] = report.environment.versions[dist]
    if report.cpu is not None:
        outputs["effective_cpus"] = str(report.cpu.effective)
        outputs["lenskit_cpus"] = str(report.cpu.lenskit_effective)
    if report.plan is not None:
        outputs["peak_threads"] = str(report.plan.peak_threads)
        outputs["oversubscription"] = f"{report.plan.oversubscription:.2f}"
    outputs["verdict"] = report.bench.verdict
    outputs["status"] = report.worst_severity() or "ok"
    if outputs["status"] == "info":
        outputs["status"] = "ok"
    outputs["warnings"] = str(sum(f.severity == Severity.WARNING for f in report.findings))
    outputs["errors"] = str(sum(f.severity == Severity.ERROR for f in report.findings))
    outputs["findings"] = ",".join(dict.fromkeys(f.id for f in report.findings))
    return {k: " ".join(v.split()) for k, v in outputs.items()}  # one line each


def append_github_output(path: Path, report: Report) -> None:
    with path.open("a", encoding="utf-8") as out:
        for key, value in github_outputs(report).items():
            out.write(f"{key}={value}\n")


def append_step_summary(path: Path, report: Report) -> None:
    from lkdoctor.render.markdown import render_markdown

    with path.open("a", encoding="utf-8") as out:
        out.write(render_markdown(report) + "\n")


def warn(message: str) -> None:
    sys.stderr.write(f"lkdoctor: {message}\n")
