"""Library use: lkdoctor.collect() leaves the caller's process as it found it."""

from __future__ import annotations

from helpers import run_python


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
