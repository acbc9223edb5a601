"""Helpers for running the installed commands, and fresh interpreters, as a user would."""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent


#: Prefixes of the variables a target's report shows as its threading environment.
THREADING_PREFIXES = ("LK_", "OMP_", "MKL_", "OPENBLAS_", "RAYON_")

#: Set on some processors, where older OpenBLAS builds compute wrong results or crash
#: without them: a target keeps them, and tests expect them.
KEPT_HOST_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def target_environ(env: dict[str, str]) -> dict[str, str]:
    """Our environment without its threading variables (but the kept ones), plus ``env``."""
    kept = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(THREADING_PREFIXES) or name in KEPT_HOST_VARIABLES
    }
    return {**kept, **env}


def expected_threading_env(env: dict[str, str]) -> dict[str, str]:
    """The threading variables a target started with ``target_environ(env)`` shows."""
    started = target_environ(env)
    return {name: value for name, value in started.items() if name.startswith(THREADING_PREFIXES)}


def script(name: str) -> str:
    """The installed console script ``name`` beside this interpreter."""
    path = BIN / name
    found = str(path) if path.exists() else shutil.which(name)
    assert found, f"console script {name!r} is not installed"
    return found


#: A command that says ``ready`` and then waits to be stopped.
SLEEPS_WHEN_READY = (
    sys.executable,
    "-c",
    'import time; print("ready", flush=True); time.sleep(600)',
)


#: What a killed LensKit 2025 run leaves in /dev/shm: its SharedMemoryManager's segments,
#: torch's, and multiprocessing's named semaphores (their resource tracker died with it).
LEFTOVER_PREFIXES = ("psm_", "torch_", "sem.mp-")


@contextmanager
def shm_leftovers_removed(shm: Path = Path("/dev/shm")) -> Iterator[None]:
    """On the way out, removes the files of those kinds that appeared meanwhile and that no
    live process holds: a test that kills a run leaves nothing on the machine (nor a
    ``shm-leftovers`` finding in the reports of the tests after it)."""
    from lkdoctor.host.shm import held_segment_names

    def present() -> set[str]:
        try:
            return {name for name in os.listdir(shm) if name.startswith(LEFTOVER_PREFIXES)}
        except OSError:
            return set()

    before = present()
    try:
        yield
    finally:
        # a killed run's last processes (its SharedMemoryManager) may still be exiting, and
        # hold the files a moment longer: waited for, briefly, as they let go
        deadline = time.monotonic() + 10
        while True:
            appeared = present() - before
            held = held_segment_names() if appeared else set()
            for name in appeared - held:
                with contextlib.suppress(OSError):
                    (shm / name).unlink()
            if not appeared & held or time.monotonic() > deadline:
                break
            time.sleep(0.2)


@contextmanager
def ready_process(
    args: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | str | None = None,
    preexec_fn: Callable[[], None] | None = None,
) -> Iterator[subprocess.Popen[str]]:
    """``args`` started, given once it has printed its ``ready`` line (a ``--pid`` target
    in place); killed on the way out."""
    process = subprocess.Popen(
        list(args), env=env, cwd=cwd, stdout=subprocess.PIPE, text=True, preexec_fn=preexec_fn
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
        yield process
    finally:
        process.kill()
        process.wait(timeout=30)


@contextmanager
def doctor_running(
    report: Path, command: Sequence[str], timeout: float = 120
) -> Iterator[subprocess.Popen[str]]:
    """``lkdoctor --no-bench --json --report REPORT -- COMMAND``, given once COMMAND has
    printed its ``ready`` line (so its own setup is in place); killed on the way out."""
    args = [script("lkdoctor"), "--no-bench", "--json", "--report", str(report)]
    proc = subprocess.Popen(
        [*args, "--", *command], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)
            assert selector.select(timeout=timeout), "the command did not start"
        assert proc.stdout.readline().strip() == "ready"
        yield proc
    finally:
        proc.kill()
        proc.wait(10)


def run_cli(
    *args: str,
    env: dict[str, str] | None = None,
    add_env: dict[str, str] | None = None,
    timeout: float = 120,
    input_text: str | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run an installed command as a user would (``input_text`` on its stdin, in ``cwd``), in
    ``env`` exactly as the test built it (``target_environ`` drops our threading variables,
    so none may come back), or in ours with ``add_env`` added."""
    assert env is None or add_env is None, "a built environment or additions to ours, not both"
    full_env = dict(env) if env is not None else {**os.environ, **(add_env or {})}
    return subprocess.run(
        list(args),
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        check=False,
        input=input_text,
        cwd=cwd,
    )


def run_python(code: str, env: dict[str, str] | None = None, timeout: float = 180) -> Any:
    """Run ``code`` in a fresh interpreter; it prints one JSON document as its last line."""
    full_env = {**os.environ, **(env or {})}
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def surviving_bench_threads(wait: float = 5.0) -> list[str]:
    """Names of this process's ``lkdoctor-bench*`` threads, after up to ``wait`` seconds
    for finished benchmark pools to wind down."""
    deadline = time.monotonic() + wait
    while True:
        names = []
        for task in Path("/proc/self/task").iterdir():
            try:
                names.append((task / "comm").read_text().strip())
            except OSError:
                continue  # the thread ended while we looked
        found = [n for n in names if n.startswith("lkdoctor-bench")]
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)
