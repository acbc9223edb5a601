"""Library use: lkdoctor.collect() leaves the caller's process as it found it."""

from __future__ import annotations

import os

import pytest
from helpers import run_python

import lkdoctor
from lkdoctor.pipeline import OptionConflict, Request


def test_collect_leaves_os_environ_as_found_and_reports_it_as_found() -> None:
    """threadpoolctl's import sets KMP_DUPLICATE_LIB_OK; collect() must undo that."""
    data = run_python(
        """
        import json, os
        os.environ.pop("KMP_DUPLICATE_LIB_OK", None)
        before = dict(os.environ)
        import lkdoctor
        report = lkdoctor.collect(bench=True, bench_time=0.2)
        import threadpoolctl  # imported by collect(): proves the write happened and was undone
        print(json.dumps({
            "added": sorted(set(os.environ) - set(before)),
            "changed": sorted(k for k in before if os.environ.get(k) != before[k]),
            "shown": sorted(report.environment.variables),
        }))
        """
    )
    assert data["added"] == []
    assert data["changed"] == []
    assert "KMP_DUPLICATE_LIB_OK" not in data["shown"]


def test_options_that_exclude_each_other_are_refused_in_one_place() -> None:
    apply_pid = Request(apply=True, pid=1).conflict()
    assert apply_pid is not None and apply_pid.startswith("--apply changes this process")
    ray_only = "--ray cannot be combined with --apply or --pid"
    assert Request(ray_address="auto", pid=1).conflict() == ray_only
    assert Request(ray_address="auto", apply=True).conflict() == ray_only
    assert Request(apply=True).conflict() is None
    assert Request(pid=1, bench=True).conflict() is None
    # the library refuses them before it connects to anything or samples anyone
    with pytest.raises(OptionConflict, match=ray_only):
        lkdoctor.collect(ray="127.0.0.1:1", pid=os.getpid())
    with pytest.raises(ValueError, match="--apply changes this process"):
        lkdoctor.collect(apply=True, pid=os.getpid())


def test_when_the_benchmarks_run_is_one_rule() -> None:
    assert Request(bench=True).bench_skipped() is None
    assert "--no-bench" in (Request(bench=False).bench_skipped() or "")
    assert "--pid 7" in (Request(bench=True, pid=7).bench_skipped() or "")
    assert "--ray" in (Request(bench=True, ray_address="auto").bench_skipped() or "")
    assert "--ray" in (Request(bench=False, ray_address="auto").bench_skipped() or "")


def test_pid_below_one_names_no_process() -> None:
    for pid in (0, -3):
        with pytest.raises(ProcessLookupError, match=f"no process with pid {pid}"):
            lkdoctor.collect(pid=pid)
