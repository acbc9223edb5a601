"""The command line: it only wires options to collect → analyse → render."""

from __future__ import annotations

import sys

import click

FORMATS = ("text", "json")


@click.command(
    name="doctor",
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print the report as JSON (same as --format json)."
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(FORMATS),
    default=None,
    help="Output format (default: text).",
)
@click.option("--json-schema", is_flag=True, help="Print the JSON Schema of the report and exit.")
@click.option("--no-bench", is_flag=True, help="Skip the micro-benchmarks.")
@click.version_option(package_name="lkdoctor", prog_name="lkdoctor")
def doctor(as_json: bool, output_format: str | None, json_schema: bool, no_bench: bool) -> None:
    """Diagnose LensKit's CPU budget, thread plan and live thread pools."""
    if json_schema:
        import json

        from lkdoctor.model import report_json_schema

        click.echo(json.dumps(report_json_schema(), indent=2))
        return
    if as_json and output_format not in (None, "json"):
        raise click.UsageError("--json conflicts with --format " + str(output_format))
    fmt = "json" if as_json else (output_format or "text")

    from lkdoctor.pipeline import collect

    report = collect(bench=not no_bench)
    if fmt == "json":
        from lkdoctor.render import render_json

        sys.stdout.write(render_json(report))
    else:
        from rich.console import Console

        from lkdoctor.render.text import render_text

        render_text(report, Console())


@click.group(name="lenskit", context_settings={"help_option_names": ["-h", "--help"]})
def lenskit() -> None:
    """LensKit command line (lkdoctor provides `lenskit doctor`)."""


lenskit.add_command(doctor)
