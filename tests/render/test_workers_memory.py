"""The batch-memory lines of the workers section, the same facts in text and Markdown:
the budget, /dev/shm, leftovers, the model's costs, the prediction and, beside it, the
observed peak."""

from __future__ import annotations

import io

from samples import fitting, watched

from lkdoctor.model import (
    BatchMode,
    MemoryBudget,
    ModelCost,
    ObservedMemory,
    ShmMount,
    ShmSegment,
    Workers,
)
from lkdoctor.output import make_console
from lkdoctor.render.markdown import render_markdown
from lkdoctor.render.text import render_text
from lkdoctor.render.workers import all_memory_lines
from lkdoctor.report import Report

MIB = 1 << 20


def report_with_memory() -> Report:
    report = fitting()
    report.workers = Workers(
        mode=BatchMode.PROCESS_POOL,
        memory=MemoryBudget(
            limit_bytes=2048 * MIB,
            limit_path="/sys/fs/cgroup/memory.max",
            usage_bytes=48 * MIB,
            budget_bytes=2000 * MIB,
            budget_source="/sys/fs/cgroup/memory.max less what the cgroup uses now",
            shm=ShmMount(
                path="/dev/shm",
                mounted=True,
                fstype="tmpfs",
                mount_source="shm",
                size_bytes=64 * MIB,
                free_bytes=60 * MIB,
            ),
            leftovers=[ShmSegment(name="psm_0a1b", size_bytes=4 * MIB, age_s=3600, kind="lenskit")],
        ),
        model=ModelCost(
            path="model.pkl",
            status="measured",
            object_type="lenskit.pipeline._impl.Pipeline",
            serializer="SHMPickler",
            shared_bytes=13 * MIB,
            shared_segments=8,
            shm_need_bytes=13 * MIB,
            in_band_bytes=5 * 1024,
            worker_model_bytes=40 * MIB,
            worker_base_uss_bytes=300 * MIB,
            worker_base_rss_bytes=600 * MIB,
            parent_rss_bytes=700 * MIB,
            workers=2,
            predicted_peak_bytes=1393 * MIB,
            largest_fitting_workers=2,
        ),
    )
    assert report.observed is None
    return report


def test_both_formats_show_every_memory_line() -> None:
    report = report_with_memory()
    lines = all_memory_lines(report)
    assert "memory limit 2.0 GiB (/sys/fs/cgroup/memory.max), 48.0 MiB in use" in lines
    assert "/dev/shm: 64.0 MiB, 60.0 MiB free (tmpfs from shm)" in lines
    assert "leftover /dev/shm/psm_0a1b: 4.0 MiB, 3600 s old" in lines
    assert "predicted peak with 2 worker process(es): 1.4 GiB (sum of PSS)" in lines
    markdown = render_markdown(report)
    out = io.StringIO()
    render_text(report, make_console("never", {}, out), full=True)
    text = out.getvalue()
    for line in lines:
        assert f"- {line}" in markdown
        assert line.split(" (")[0] in text


def test_the_observed_peak_stands_beside_the_prediction() -> None:
    report = report_with_memory()
    observed = ObservedMemory(
        peak_pss_bytes=1300 * MIB,
        peak_uss_bytes=900 * MIB,
        peak_processes_at=5,
        peak_segments_bytes=13 * MIB,
        cgroup_peak_bytes=1400 * MIB,
    )
    lines = all_memory_lines(report, watched(observed, oom_kills=1))
    prediction = next(i for i, line in enumerate(lines) if line.startswith("predicted peak"))
    assert lines[-1].startswith("observed peak: 1.3 GiB (sum of PSS; USS 900.0 MiB)")
    assert prediction < len(lines) - 1
    assert "1 OOM kill(s)" in lines[-1]
