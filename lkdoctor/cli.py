"""The command line: it only wires options to collect → analyse → render."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from lkdoctor.plan.lines import dialect_names

if TYPE_CHECKING:  # the report machinery is imported only when a report is made
    from lkdoctor.output import ColorMode, FailOn, Format
    from lkdoctor.pipeline import Outcome
    from lkdoctor.report import Report

FORMATS = ("text", "json", "markdown")
FC = TypeVar("FC", bound=Callable[..., Any] | click.Command)


def _usage_exit(exc: click.ClickException) -> NoReturn:
    """A usage error is one line on stderr and exit status 2: no usage block, no traceback."""
    ctx = getattr(exc, "ctx", None)
    where = ctx.command_path if isinstance(ctx, click.Context) else "lkdoctor"
    click.echo(f"{where}: {' '.join(exc.format_message().split())}", err=True)
    sys.exit(2 if isinstance(exc, click.UsageError) else exc.exit_code)


class _OneLineUsageErrors(click.Command):
    """Report usage errors in one line, also when LensKit's CLI is the parent."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.ClickException as exc:
            _usage_exit(exc)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.ClickException as exc:
            _usage_exit(exc)


class DoctorCommand(_OneLineUsageErrors):
    """``doctor``: one-line usage errors; a command to observe only after ``--``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        marked = "--" in args
        rest = super().parse_args(ctx, args)
        command = ctx.params.get("command") or ()
        if command and not marked:  # a typo such as `lkdoctor jsn` is not a program to run
            raise click.UsageError(
                f"unexpected argument {command[0]!r}; to run and observe a command, "
                f"put it after --: {ctx.command_path} -- {' '.join(command)}",
                ctx,
            )
        return rest


class LenskitGroup(_OneLineUsageErrors, click.Group):
    """``lenskit``: the same one-line usage errors for unknown commands and options."""


def _project_root_option(text: str) -> Callable[[FC], FC]:
    """``-R/--project-root DIR``, as LensKit's own root command has it."""
    return click.option(
        "-R",
        "--project-root",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        metavar="DIR",
        help=text,
    )


@click.command(
    name="doctor",
    cls=DoctorCommand,
    context_settings={"help_option_names": ["-h", "--help"], "allow_interspersed_args": False},
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print the report as JSON (same as --format json)."
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(FORMATS),
    default=None,
    help="Output format (default: text); markdown is for support tickets.",
)
@click.option(
    "--fail-on",
    type=click.Choice(("never", "warning", "error")),
    default="never",
    show_default=True,
    help="Exit with status 1 when a finding of this severity or worse exists.",
)
@click.option("--packages/--no-packages", default=False, help="List installed packages.")
@click.option("--paths/--no-paths", default=False, help="List Python and executable search paths.")
@click.option("--full", is_flag=True, help="Show everything, including what is rarely needed.")
@click.option(
    "--github-output",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="GITHUB_OUTPUT",
    default=None,
    help="Append key=value results for GitHub Actions to this file (default: $GITHUB_OUTPUT).",
)
@click.option(
    "--redact/--no-redact",
    default=False,
    help="Also hide user name, host name and home folder (secrets are always masked).",
)
@click.option(
    "--color",
    type=click.Choice(("auto", "always", "never")),
    default="auto",
    show_default=True,
    help="Colour in text output; auto honours NO_COLOR and whether stdout is a terminal.",
)
@click.option("--json-schema", is_flag=True, help="Print the JSON Schema of the report and exit.")
@click.option("--no-bench", is_flag=True, help="Skip the micro-benchmarks.")
@click.option(
    "--bench-time",
    type=click.FloatRange(min=0.05, max=60),
    default=1.0,
    show_default=True,
    metavar="SECONDS",
    help="Time budget of the micro-benchmarks.",
)
@click.option(
    "--verify",
    is_flag=True,
    help="Prove the suggestion: run the plan-shaped benchmark under the current settings "
    "and under the suggested exports (fresh processes, alternating pairs) and compare.",
)
@click.option(
    "--script",
    type=click.Path(exists=True, dir_okay=True, path_type=Path),
    help="Check this Python script (read, never run) for module-level code that starts "
    'processes outside `if __name__ == "__main__":`, which LensKit\'s spawned batch workers '
    "would run again; `-- python SCRIPT` is checked by itself.",
)
@click.option(
    "--model",
    "model_path",
    type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path),
    default=None,
    metavar="PATH",
    help="A saved LensKit pipeline or component (pickle): predict what a batch run costs in "
    "/dev/shm and in every worker. Loading a pickle runs the code in it: it is loaded only "
    "when you ask, in a child process under your user, killed after --model-timeout.",
)
@click.option(
    "--model-timeout",
    type=click.FloatRange(min=1, max=3600),
    default=60.0,
    show_default=True,
    metavar="SECONDS",
    help="With --model: how long loading and measuring the model may take.",
)
@click.option(
    "--compare",
    is_flag=True,
    help="With -- COMMAND: run COMMAND under the current settings and under the suggested "
    "exports, alternating, and compare the runs.",
)
@click.option(
    "--repeat",
    type=click.IntRange(min=1, max=100),
    default=None,
    metavar="N",
    help="With --compare: run each variant N times (default 3, the fewest pairs a verdict needs).",
)
@click.option(
    "--apply",
    is_flag=True,
    help="Apply level 0 of the plan the way LensKit's initialize() does, then inspect.",
)
@click.option(
    "--pid",
    type=click.IntRange(min=1),
    default=None,
    help="Inspect this running process instead of this one (read-only).",
)
@click.option(
    "--sample-time",
    type=click.FloatRange(min=0.05, max=600),
    default=1.0,
    show_default=True,
    help="Seconds to sample the --pid process (and its tree).",
)
@click.option(
    "--single-process",
    is_flag=True,
    help="With --pid: sample that process alone, not its children and their children.",
)
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    metavar="PATH",
    help="Write the report to PATH instead of stdout (stderr with -- COMMAND).",
)
@click.option(
    "--ray",
    "ray_address",
    is_flag=False,
    flag_value="auto",
    default=None,
    metavar="[ADDRESS]",
    help="Diagnose every node of a running Ray cluster (default address: RAY_ADDRESS, "
    "else auto); never starts one. Needs `pip install 'lkdoctor[ray]'`.",
)
@click.option(
    "--ray-timeout",
    type=click.FloatRange(min=1, max=3600),
    default=60.0,
    show_default=True,
    metavar="SECONDS",
    help="With --ray: how long each node may take to answer.",
)
@click.option(
    "--dialect",
    type=click.Choice(dialect_names()),
    default=None,
    help="Resolve the plan in this LensKit configuration dialect "
    "(default: the installed LensKit's, else the one pip installs for this Python).",
)
@_project_root_option(
    "Where LensKit's settings files are, as `lenskit -R DIR` "
    "(default: that, else LK_PROJECT_ROOT, else LensKit's own search)."
)
@click.option(
    "--power",
    is_flag=True,
    help="Also report LensKit's own power measurement for the machine its settings name "
    "(system, CPU, GPU over the last 60 s, from Prometheus), as LensKit 2026's doctor does.",
)
@click.version_option(package_name="lkdoctor", prog_name="lkdoctor")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def doctor(
    as_json: bool,
    output_format: Format | None,
    json_schema: bool,
    no_bench: bool,
    bench_time: float,
    apply: bool,
    pid: int | None,
    sample_time: float,
    fail_on: FailOn,
    packages: bool,
    paths: bool,
    full: bool,
    github_output: Path | None,
    redact: bool,
    color: ColorMode,
    ray_address: str | None,
    ray_timeout: float,
    single_process: bool,
    report_path: Path | None,
    command: tuple[str, ...],
    dialect: str | None,
    project_root: Path | None,
    verify: bool,
    script: Path | None,
    model_path: Path | None,
    model_timeout: float,
    compare: bool,
    repeat: int | None,
    power: bool,
) -> None:
    """Diagnose LensKit's CPU budget, thread plan and live thread pools.

    With `-- COMMAND [ARGS]...`, run COMMAND and observe its whole process tree until it
    exits; the report then goes to stderr (or --report PATH) and the exit status is the
    command's own when non-zero. With `--compare -- COMMAND`, run it under the current
    settings and under the suggested exports instead, and compare.
    """
    if json_schema:
        import json

        from lkdoctor.report import report_json_schema

        click.echo(json.dumps(report_json_schema(), indent=2))
        return
    if as_json and output_format not in (None, "json"):
        raise click.UsageError("--json conflicts with --format " + str(output_format))
    fmt: Format = "json" if as_json else (output_format or "text")

    from lkdoctor.pipeline import OptionConflict, Request, Stopped, diagnose

    request = Request(
        bench=not no_bench,
        bench_time=bench_time,
        apply=apply,
        pid=pid,
        sample_time=sample_time,
        packages=packages or full,
        paths=paths or full,
        redact=redact,
        ray_address=ray_address,
        ray_timeout=ray_timeout,
        tree=not single_process,
        command=command,
        dialect=dialect,
        project_root=project_root or _group_project_root(),
        verify=verify,
        power=power,
        script=script,
        model=model_path,
        model_timeout=model_timeout,
        compare=compare,
        repeat=repeat,
    )
    try:
        outcome = diagnose(request, fail_on)
    except OptionConflict as exc:
        raise click.UsageError(str(exc)) from None
    except Stopped as exc:
        click.echo(f"lkdoctor: {exc}", err=True)
        sys.exit(exc.status)
    _deliver(outcome, _ReportOptions(fmt, full, color, github_output, report_path))


def _group_project_root() -> Path | None:
    """The ``-R/--project-root`` given to the ``lenskit`` group above the doctor: LensKit's
    own (whose root command has read its settings files from there) or ours."""
    ctx = click.get_current_context(silent=True)
    parent = ctx.parent if ctx is not None else None
    while parent is not None:
        given = parent.params.get("project_root")
        if given:
            return Path(given)
        parent = parent.parent
    return None


@dataclass(frozen=True)
class _ReportOptions:
    """How a finished report is delivered."""

    fmt: Format
    full: bool
    color: ColorMode
    github_output: Path | None
    report_path: Path | None


def _deliver(outcome: Outcome, options: _ReportOptions) -> None:
    """Print the report (stderr when a command's own output has stdout), feed GitHub
    Actions, and exit with the outcome's status."""
    default = sys.stderr if outcome.on_stderr else sys.stdout
    _write_report(outcome.report, options, default=default)
    _deliver_to_github(outcome.report, options.github_output)
    if outcome.exit_status:
        sys.exit(outcome.exit_status)


def _write_report(report: Report, options: _ReportOptions, default: IO[str]) -> None:
    """The report in its format, to ``--report PATH`` or else ``default``."""
    from lkdoctor.output import make_console, render

    if options.report_path is None:
        console = make_console(options.color, file=default)
        render(report, options.fmt, full=options.full, console=console)
        return
    try:
        with options.report_path.open("w", encoding="utf-8") as out:
            console = make_console(options.color, file=out)
            render(report, options.fmt, full=options.full, console=console)
    except OSError as exc:
        click.echo(f"lkdoctor: cannot write {options.report_path}: {exc.strerror}", err=True)


def _deliver_to_github(report: Report, github_output: Path | None) -> None:
    """``--github-output`` key=value lines, and the Markdown report as the step summary."""
    from lkdoctor.output import append_github_output, append_step_summary, warn

    if github_output is not None and str(github_output):
        try:
            append_github_output(github_output, report)
        except OSError as exc:
            _usage_exit(click.BadParameter(f"cannot append to {github_output}: {exc.strerror}"))
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        try:
            append_step_summary(Path(summary), report)
        except OSError as exc:
            warn(f"cannot append the step summary to {summary}: {exc.strerror}")


@click.group(
    name="lenskit", cls=LenskitGroup, context_settings={"help_option_names": ["-h", "--help"]}
)
@_project_root_option("Look for LensKit's settings files in DIR (as LensKit's own `lenskit -R`).")
def lenskit(project_root: Path | None) -> None:
    """LensKit command line (lkdoctor provides `lenskit doctor`)."""


lenskit.add_command(doctor)


def lenskit_main() -> None:
    """The ``lenskit`` script: our doctor, and LensKit's own CLI for everything else.

    ``lenskit doctor`` runs lkdoctor's doctor directly. Any other command goes to LensKit's
    CLI when LensKit is installed (it loads our doctor as a plugin too, so ``lenskit -v
    doctor`` is still ours); without LensKit, our group reports unknown commands.
    """
    args = sys.argv[1:]
    if args[:1] != ["doctor"] and find_spec("lenskit") is not None:
        try:
            from lenskit.cli import main as lenskit_cli_main
        except Exception as exc:  # a broken LensKit must not take `lenskit doctor` down
            from lkdoctor.output import warn

            warn(f"LensKit's CLI cannot be loaded ({type(exc).__name__}: {exc})")
        else:
            lenskit_cli_main()  # type: ignore[no-untyped-call]
            return
    lenskit(prog_name="lenskit")
