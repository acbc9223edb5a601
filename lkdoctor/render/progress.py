"""A Rich status line on stderr while the benchmarks run, only when stderr is a terminal.

Stdout is never touched, so ``--json`` output stays pure JSON.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING

from rich.console import Console

from lkdoctor.render.encoding import encodes_everything

if TYPE_CHECKING:  # only -- COMMAND needs the sampler; the usual report does not load it
    from lkdoctor.observe.sampler import TreeSampler


@contextmanager
def bench_status(
    enabled: bool = True, file: IO[str] | None = None
) -> Iterator[Callable[[str], None] | None]:
    """Yield a progress callback showing each step, or None when there is no terminal."""
    console = Console(file=file, stderr=file is None)
    if not enabled or not console.is_terminal:
        yield None
        return
    spinner = "dots" if encodes_everything(console.file) else "line"  # line is plain ASCII
    with console.status("lenskit doctor: measuring", spinner=spinner) as status:

        def update(message: str) -> None:
            status.update(f"lenskit doctor: {message}")

        yield update


#: Seconds between updates of the observing line.
OBSERVE_UPDATE = 1.0


@contextmanager
def observe_status(
    command: list[str], enabled: bool = True, file: IO[str] | None = None
) -> Iterator[Callable[[TreeSampler], None] | None]:
    """Yield a callback that keeps one line on stderr up to date while ``command`` runs,
    or None when stderr is not a terminal. The line is erased when the command ends."""
    out = sys.stderr if file is None else file
    if not enabled or not out.isatty():
        yield None
        return
    last = [0.0]

    def update(sampler: TreeSampler) -> None:
        now = time.monotonic()
        if now - last[0] < OBSERVE_UPDATE:
            return
        last[0] = now
        point = sampler.timeline[-1] if sampler.timeline else None
        runnable = f", {point.runnable:.1f} runnable" if point else ""
        cpus = f" on {sampler.cpus} CPUs" if sampler.cpus else ""
        out.write(
            f"\r\033[Klenskit doctor: watching {command[0]}: {now - sampler.started:.0f} s, "
            f"{point.processes if point else 1} process(es){runnable}{cpus}"
        )
        out.flush()

    try:
        yield update
    finally:
        if last[0]:
            out.write("\r\033[K")
            out.flush()


@contextmanager
def compare_status(
    command: list[str], enabled: bool = True, file: IO[str] | None = None
) -> Iterator[Callable[[str, int, int], None] | None]:
    """Yield a callback that says on stderr which run of ``--compare`` starts (a whole line,
    since the command's own output follows), or None when stderr is not a terminal."""
    out = sys.stderr if file is None else file
    if not enabled or not out.isatty():
        yield None
        return

    def starting(variant: str, index: int, repeat: int) -> None:
        settings = "the current settings" if variant == "current" else "the suggested exports"
        out.write(f"lenskit doctor: {command[0]} under {settings} (run {index} of {repeat})\n")
        out.flush()

    yield starting
