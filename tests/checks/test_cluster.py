"""The cluster checks, address resolution and rendering, on real reports of this machine.

Every node here carries a real single-machine report (`lkdoctor.collect()` on this
machine, some with a different environment); only the Ray side (node ids, advertised
CPUs) is written down, because one machine has one Ray view. The real cluster is in
test_cluster.py.
"""

from __future__ import annotations

import io
import json
from functools import cache

import pytest
from rich.console import Console
from schema_contract import validate_report

import lkdoctor
from lkdoctor.checks import analyse
from lkdoctor.cluster.ray import ClusterUnavailable, _host_port, resolve_address, summarise
from lkdoctor.pipeline import tool_info
from lkdoctor.render.markdown import render_markdown
from lkdoctor.render.text import render_text
from lkdoctor.report import ClusterNode, ClusterReport, Report


@cache
def _local_json(environ: tuple[tuple[str, str], ...] = ()) -> str:
    return lkdoctor.collect(bench=False, environ=dict(environ)).model_dump_json()


def _node(
    node_id: str,
    ray_cpus: float | None,
    lk_threads: str | None = None,
    environ: dict[str, str] | None = None,
) -> ClusterNode:
    env = dict(environ or {})
    if lk_threads:
        env["LK_NUM_THREADS"] = lk_threads
    report = Report.model_validate_json(_local_json(tuple(sorted(env.items()))))
    return ClusterNode(
        node_id=node_id,
        ip="10.0.0.1",
        ray_resources={} if ray_cpus is None else {"CPU": ray_cpus},
        ray_cpus=ray_cpus,
        status="ok",
        report=report,
    )


def _cluster_report(*nodes: ClusterNode) -> Report:
    report = Report(tool=tool_info())
    report.cluster = ClusterReport(
        address="10.0.0.1:6379", nodes=list(nodes), summary=summarise(list(nodes), 5.0)
    )
    analyse(report)
    return report


def _ids(report: Report) -> list[str]:
    return [f.id for f in report.findings]


def _budget() -> int:
    cpu = Report.model_validate_json(_local_json()).cpu
    assert cpu is not None
    return cpu.effective


def test_ray_cpus_up_to_the_budget_are_fine() -> None:
    report = _cluster_report(_node("a" * 56, _budget()), _node("b" * 56, 1))
    assert "ray-cpu-overcommit" not in _ids(report)
    assert "cluster-heterogeneous" not in _ids(report)  # same machine, same plan
    assert report.cluster is not None and report.cluster.summary.heterogeneous is False


@pytest.mark.parametrize(("extra", "severity"), [(1, "warning"), (None, "error")])
def test_more_ray_cpus_than_the_budget_is_overcommit(extra: int | None, severity: str) -> None:
    budget = _budget()
    ray_cpus = budget + extra if extra is not None else 2 * budget
    report = _cluster_report(_node("c" * 56, ray_cpus), _node("d" * 56, budget))
    [finding] = [f for f in report.findings if f.id == "ray-cpu-overcommit"]
    assert finding.severity == severity
    assert "cccccccc" in finding.title and "dddddddd" not in finding.title
    assert f"--num-cpus={budget}" in finding.remediation


def test_a_node_without_a_report_or_cpu_resource_is_not_judged() -> None:
    silent = ClusterNode(node_id="e" * 56, ip="10.0.0.2", ray_cpus=64, status="timeout")
    report = _cluster_report(silent, _node("f" * 56, None))
    assert _ids(report) == []
    assert report.cluster is not None
    assert report.cluster.summary.nodes_reported == 1
    assert report.cluster.summary.nodes_alive == 2


def test_concurrent_one_cpu_tasks_multiply_the_plan() -> None:
    budget = _budget()
    busy = _node("m" * 56, budget, lk_threads="2")  # each task peaks at 2 threads or more
    report = _cluster_report(busy)
    [finding] = [f for f in report.findings if f.id == "ray-tasks-oversubscribed"]
    assert busy.report is not None and busy.report.plan is not None
    peak = busy.report.plan.peak_threads
    assert f"{budget} × {peak} = {budget * peak}" in finding.evidence
    assert finding.severity == "error"  # budget × peak ≥ 2 × budget
    # The suggested settings, applied on the node, leave one thread per task.
    fixed = _node("n" * 56, budget, environ=finding.env)
    assert fixed.report is not None and fixed.report.plan is not None
    assert fixed.report.plan.peak_threads == 1
    assert "ray-tasks-oversubscribed" not in _ids(_cluster_report(fixed))


@pytest.mark.lenskit2026
def test_lenskit_2026_tasks_ask_their_backend_threads_in_cpus() -> None:
    budget = _budget()
    node = _node("p" * 56, 2 * budget, environ={"LK_NUM_BACKEND_THREADS": "2"})
    assert node.report is not None and node.report.plan is not None
    assert node.report.plan.dialect == "2026"
    report = _cluster_report(node)
    [finding] = [f for f in report.findings if f.id == "ray-tasks-oversubscribed"]
    threads = node.report.plan.levels[0].threads
    assert "tasks of num_cpus=2 at once" in finding.evidence
    assert f"{budget} × {threads * 2} = {budget * threads * 2}" in finding.evidence
    assert "LK_NUM_PROCS" not in finding.env  # LensKit 2026 ignores it


def test_different_plans_across_nodes_are_heterogeneous() -> None:
    report = _cluster_report(_node("g" * 56, 1), _node("h" * 56, 1, lk_threads="7"))
    [finding] = [f for f in report.findings if f.id == "cluster-heterogeneous"]
    assert finding.severity == "warning"
    assert "thread plans" in finding.title
    assert "gggggggg" in finding.evidence and "hhhhhhhh" in finding.evidence
    assert report.cluster is not None and report.cluster.summary.heterogeneous is True


def test_node_findings_count_for_fail_on() -> None:
    node = _node("i" * 56, 1, lk_threads="abc")  # env-invalid on that node
    assert node.report is not None and "env-invalid" in [f.id for f in node.report.findings]
    report = _cluster_report(node)
    assert "env-invalid" not in _ids(report)
    assert report.worst_severity() == "error"


def test_cluster_report_round_trips_and_validates() -> None:
    report = _cluster_report(_node("j" * 56, 99))
    data = json.loads(report.model_dump_json())
    validate_report(data)
    assert Report.model_validate(data) == report


def test_text_and_markdown_show_nodes_and_missing_ones() -> None:
    silent = ClusterNode(node_id="k" * 56, ip="10.0.0.9", ray_cpus=4, status="timeout")
    report = _cluster_report(_node("l" * 56, 99), silent)
    out = io.StringIO()
    render_text(report, Console(file=out, width=80, color_system=None))
    text = out.getvalue()
    assert "1 of 2 nodes answered" in text
    assert "kkkkkkkk" in text and "timeout" in text
    assert "[ray-cpu-overcommit]" in text
    markdown = render_markdown(report)
    assert "| kkkkkkkk | 10.0.0.9 | 4 | - | - | - | timeout |" in markdown
    assert "`ray-cpu-overcommit`" in markdown


@pytest.mark.parametrize(
    ("given", "environ", "expected"),
    [
        ("10.1.2.3:6379", {"RAY_ADDRESS": "10.9.9.9:1"}, "10.1.2.3:6379"),
        ("auto", {"RAY_ADDRESS": "10.9.9.9:1"}, "10.9.9.9:1"),
        (None, {"RAY_ADDRESS": " ray://head:10001 "}, "ray://head:10001"),
        (None, {}, "auto"),
        ("", {"RAY_ADDRESS": ""}, "auto"),
    ],
)
def test_address_resolution(given: str | None, environ: dict[str, str], expected: str) -> None:
    assert resolve_address(given, environ) == expected


def test_local_is_never_resolved() -> None:
    with pytest.raises(ClusterUnavailable, match="only connects to a running cluster"):
        resolve_address(None, {"RAY_ADDRESS": "local"})


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("10.0.0.1:6379", ("10.0.0.1", 6379)),
        ("ray://head:10001", ("head", 10001)),
        ("[::1]:6379", ("::1", 6379)),
        ("auto", None),
        ("head:port", None),
    ],
)
def test_host_port(address: str, expected: tuple[str, int] | None) -> None:
    assert _host_port(address) == expected


@pytest.mark.parametrize("port", ["9" * 100_000, "65536", "0" * 5000 + "70000"])
def test_a_port_out_of_range_is_a_clear_refusal_not_a_traceback(port: str) -> None:
    # int() refuses more than 4,300 digits with a ValueError; a port never has more than 5
    with pytest.raises(ClusterUnavailable, match="no valid port") as refused:
        _host_port(f"127.0.0.1:{port}")
    message = str(refused.value)
    assert len(message) < 400
    if len(port) > 200:
        assert f"({len(port) + len('127.0.0.1:'):,} characters)" in message


def test_a_port_with_leading_zeros_is_still_a_port() -> None:
    assert _host_port("head:" + "0" * 5000 + "6379") == ("head", 6379)
