"""A Rich status line on stderr while the benchmarks run, only when stderr is a terminal.

Stdout is never touched, so ``--json`` output stays pure JSON.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO

from rich.console import Console

from lkdoctor.render.encoding import encodes_everything


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
