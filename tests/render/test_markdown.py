"""Markdown for support tickets: heading, summary table, findings, a <details> per section."""

from __future__ import annotations

import re

from samples import bad_env, fitting, oversubscribed

from lkdoctor.model import Finding
from lkdoctor.render.markdown import cell, render_markdown, section_ids


def test_structure_heading_summary_findings_details() -> None:
    text = render_markdown(oversubscribed())
    lines = text.splitlines()
    assert lines[0] == "# lenskit doctor report"
    assert "**2 warnings, 1 error**" in lines
    table_start = lines.index("|  | section | summary |")
    assert lines[table_start + 1] == "|---|---|---|"
    assert "| ✗ | Thread plan | peak 64 threads on 2 CPUs (oversubscription 32.00) |" in lines
    assert lines.index("## Findings") < lines.index("## Details")
    summaries = re.findall(r"<summary>(.) (.+)</summary>", text)
    assert [title for _, title in summaries] == [
        "CPU budget",
        "Thread plan",
        "Live pools",
        "Measured",
        "Environment",
    ]
    assert text.count("<details>") == text.count("</details>") == len(summaries)


def test_findings_are_ordered_worst_first_with_exports() -> None:
    text = render_markdown(oversubscribed())
    findings = text[text.index("## Findings") : text.index("## Details")]
    titles = re.findall(r"^### (.) ", findings, flags=re.MULTILINE)
    assert titles == ["✗", "!", "!"]
    assert "```sh\nexport LK_NUM_PROCS=1\nexport LK_NUM_THREADS=2\n" in findings
    assert "**Evidence:** lenskit_effective=64" in findings


def test_no_findings_and_failed_sections() -> None:
    assert "**No issues found**" in render_markdown(fitting())
    text = render_markdown(bad_env())
    assert "<summary>✗ Live pools</summary>" in text
    assert "- could not collect: OSError: /proc/self/task unreadable" in text
    assert "## Could not collect" in text and "- **probe**:" in text


def test_table_cells_cannot_break_the_table() -> None:
    assert cell("a|b\nc") == "a\\|b<br>c"
    report = fitting()
    report.findings.append(
        Finding(id="x", severity="warning", section="cpu", title="t", evidence="e")
    )
    assert report.environment is not None
    report.environment.variables["LK_ODD"] = "x|y"
    assert "| LK_ODD | x\\|y |" in render_markdown(report)


def test_a_section_without_its_own_renderer_is_still_detailed() -> None:
    report = oversubscribed()
    assert "pools" in section_ids(report)
    text = render_markdown(report)
    pools = text[text.index("<summary>✓ Live pools</summary>") :]
    pools = pools[: pools.index("</details>")]
    assert "| blas | openblas |" in pools  # the BLAS records as a table
    assert "intra_op" in pools
