"""The section's facts: how the installed LensKit runs batch work, read from its code."""

from __future__ import annotations

import io
import json
import multiprocessing
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import run_cli, script, target_environ

from lkdoctor.host.lenskit import lenskit_package_dirs

HERE = Path(__file__).parent


def report(*args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    result = run_cli(
        script("lkdoctor"), "--no-bench", "--json", *args, env=target_environ(env or {})
    )
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


def lenskit_file(*parts: str) -> Path:
    return lenskit_package_dirs()[0].joinpath(*parts)


def test_python_default_start_method_is_reported_without_choosing_one() -> None:
    workers = report()["workers"]
    default = multiprocessing.get_all_start_methods()[0]
    assert workers["python_default_start_method"] == default
    [python] = [m for m in workers["start_methods"] if m["part"] == "python-default"]
    assert python["method"] == default
    assert multiprocessing.get_start_method(allow_none=True) is None  # we chose none either


@pytest.mark.lenskit2025
def test_lenskit_2025_spawns_its_workers_as_its_code_says() -> None:
    workers = report(env={"LK_NUM_PROCS": "3,2"})["workers"]
    assert (workers["dialect"], workers["mode"]) == ("2025", "process-pool")
    assert [(lv["mode"], lv["workers"], lv["start_method"]) for lv in workers["levels"]] == [
        ("process-pool", 3, "spawn"),
        ("process-pool", 2, "spawn"),
        ("in-process", 1, None),
    ]
    methods = {m["part"]: m for m in workers["start_methods"]}
    pool = lenskit_file("parallel", "pool.py")
    line = next(
        n
        for n, text in enumerate(pool.read_text().splitlines(), 1)
        if text.startswith("class LensKitMPContext(SpawnContext)")
    )
    assert methods["batch-workers"]["source"].startswith(f"{pool}:{line}: ")
    # the manager passes no context: Python's default (fork on Linux up to 3.13)
    assert methods["shared-memory-manager"]["method"] == multiprocessing.get_all_start_methods()[0]


@pytest.mark.lenskit2025
def test_lenskit_2025_with_one_process_runs_in_process() -> None:
    workers = report(env={"LK_NUM_PROCS": "1"})["workers"]
    assert workers["mode"] == "in-process"
    assert workers["levels"][0]["start_method"] is None


@pytest.mark.lenskit2025
def test_lenskit_2025_says_whether_n_jobs_ray_can_run_on_this_python() -> None:
    """LensKit 2025's ray_supported() refuses Pythons before 3.12: n_jobs="ray" then raises
    RuntimeError before Ray starts. The note quotes that test from LensKit's own file."""
    notes = report()["workers"]["notes"]
    [note] = [n for n in notes if 'n_jobs="ray"' in n]
    ray_file = lenskit_file("parallel", "ray.py")
    line = next(
        n
        for n, text in enumerate(ray_file.read_text().splitlines(), 1)
        if "int(minor) < 12" in text
    )
    assert f"{ray_file}:{line}: int(minor) < 12" in note
    if sys.version_info < (3, 12):
        assert "ray backend not available" in note
    else:
        assert "runs batch work on Ray" in note


@pytest.mark.lenskit2026
def test_lenskit_2026_runs_batch_on_threads_with_the_setting_and_its_source() -> None:
    workers = report(env={"LK_NUM_BATCH_JOBS": "3"})["workers"]
    assert (workers["dialect"], workers["mode"]) == ("2026", "thread-pool")
    assert workers["levels"][0]["workers"] == 3
    assert "num_batch_jobs from LK_NUM_BATCH_JOBS" in workers["mode_source"]
    [batch] = [m for m in workers["start_methods"] if m["part"] == "batch-workers"]
    assert batch["method"] == "thread"
    assert batch["source"].startswith(str(lenskit_file("batch", "_runner.py")))
    assert "ThreadPoolExecutor" in batch["source"]
    gil_note = [n for n in workers["notes"] if "GIL" in n]
    assert workers["gil_enabled"] is True and gil_note  # a GIL build: LensKit's warning


@pytest.mark.lenskit2026
def test_lenskit_2026_says_an_unprotected_script_is_info_there() -> None:
    full = report("--script", str(HERE / "batch_unprotected.py"))
    [finding] = [f for f in full["findings"] if f["id"] == "script-unprotected"]
    assert finding["severity"] == "info"
    assert "not needed for threads or Ray" in finding["evidence"]
    assert full["workers"]["mode"] == "in-process"  # LensKit 2026's default: 1 batch job


def test_compare_checks_the_script_of_its_command(tmp_path: Path) -> None:
    """``--compare -- python PATH`` hands its command to the report as ``script_command``."""
    from lkdoctor.pipeline import Request, run

    path = tmp_path / "run.py"
    path.write_text("import multiprocessing as mp\nmp.Process(target=print).start()\n")
    report = run(Request(script_command=("env", "A=1", sys.executable, str(path))))
    assert report.workers is not None
    [check] = report.workers.scripts
    assert (check.found_by, check.status, check.path) == ("command", "unprotected", str(path))
    assert "script-unprotected" in {f.id for f in report.findings}


def test_inline_code_is_safe_and_said_only_in_full() -> None:
    """``-- python -c CODE`` is inline: the JSON says so, the text only with --full."""
    from rich.console import Console

    from lkdoctor.pipeline import Request, run
    from lkdoctor.render.text import render_text

    def text(full: bool) -> str:
        console = Console(width=100, record=True, file=io.StringIO(), color_system=None)
        render_text(report, console, full=full)
        return console.export_text()

    report = run(Request(script_command=(sys.executable, "-c", "pass")))
    assert report.workers is not None
    assert [s.status for s in report.workers.scripts] == ["inline"]
    assert "script-unprotected" not in {f.id for f in report.findings}
    assert "python -c" not in text(full=False)
    assert "python -c: inline code" in text(full=True)


def test_pid_checks_the_script_the_target_runs(tmp_path: Path) -> None:
    """``--pid``: the target's command line and folder name its script."""
    target = tmp_path / "job.py"
    target.write_text(
        "import multiprocessing, sys, time\n"
        "def later():\n"
        "    multiprocessing.Pool(2)\n"
        "if len(sys.argv) > 5:\n"
        "    later()\n"
        "print('ready', flush=True)\n"
        "time.sleep(600)\n"
    )
    job = subprocess.Popen(
        [sys.executable, "job.py"], cwd=tmp_path, stdout=subprocess.PIPE, text=True
    )
    try:
        assert job.stdout is not None and job.stdout.readline().strip() == "ready"
        found = report("--pid", str(job.pid), "--sample-time", "0.2")
    finally:
        job.kill()
        job.wait(10)
    [check] = found["workers"]["scripts"]
    assert (check["found_by"], check["status"]) == ("command", "unprotected")
    assert Path(check["path"]) == target
    assert [c["at"]["line"] for c in check["unguarded"]] == [5]


def test_markdown_shows_the_section_with_its_start_methods(tmp_path: Path) -> None:
    from lkdoctor.pipeline import Request, run
    from lkdoctor.render.markdown import render_markdown

    path = tmp_path / "run.py"
    path.write_text("from concurrent.futures import ProcessPoolExecutor\nProcessPoolExecutor(2)\n")
    markdown = render_markdown(run(Request(script=path)))
    assert "Batch workers" in markdown
    assert "| part | start method | source |" in markdown
    default = multiprocessing.get_all_start_methods()[0]
    assert f"| python-default | {default} |" in markdown
    assert f"- script {path} (--script): UNPROTECTED (1 module-level call(s))" in markdown
    assert "script-unprotected" in markdown
