"""The CPU budget collector and its findings, on fixture trees and fake environments."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fixtures.cgroup_trees import V2_MOUNTINFO, FakeHost
from hypothesis import given, settings
from hypothesis import strategies as st

from lkdoctor.checks import cpu as cpu_checks
from lkdoctor.cpu.budget import collect_cpu, lenskit_effective_cpu_count
from lkdoctor.host.proc import parse_cpu_list
from lkdoctor.model import CpuBudget, CpuLimit, ToolInfo
from lkdoctor.pipeline import collect
from lkdoctor.report import Report
from lkdoctor.target import read_target

CPUINFO_SMT = "".join(
    f"processor\t: {n}\nphysical id\t: 0\ncore id\t\t: {n % 4}\n\n" for n in range(8)
)


def host_with(
    tmp_path: Path,
    *,
    online: str = "0-7",
    allowed: str = "0-7",
    cpu_max: str | None = None,
    cpuset: str | None = None,
    parent_cpu_max: str | None = None,
) -> Path:
    """An 8-CPU v2 host, 4 cores with SMT; our process in /job."""
    host = FakeHost(tmp_path)
    host.process("0::/job\n", V2_MOUNTINFO, cpus_allowed=allowed)
    host.write("/sys/devices/system/cpu/online", online + "\n")
    host.write("/proc/cpuinfo", CPUINFO_SMT)
    host.write("/proc/meminfo", "MemTotal:       16384000 kB\n")
    files = {"cpuset_cpus_effective": cpuset + "\n"} if cpuset else {}
    host.v2_group("/sys/fs/cgroup/job", cpu_max=cpu_max, **files)
    if parent_cpu_max:
        host.write("/sys/fs/cgroup/cpu.max", parent_cpu_max)
    return tmp_path


def rows(budget: CpuBudget) -> dict[str, CpuLimit]:
    return {limit.source: limit for limit in budget.limits}


def binding(budget: CpuBudget) -> set[str]:
    return {limit.source for limit in budget.limits if limit.binding}


def report_for(budget: CpuBudget) -> Report:
    return Report(tool=ToolInfo(version="0", python="3", platform="test"), cpu=budget)


def test_every_source_has_a_row(tmp_path: Path) -> None:
    budget = collect_cpu(read_target(host_with(tmp_path), environ={}))
    assert [limit.source for limit in budget.limits] == [
        "logical",
        "affinity",
        "cgroup-cpuset",
        "cgroup-quota",
        "python-cpu-count",
        "slurm",
        "pbs",
        "lsf",
        "sge",
        "rust",
        "physical",
    ]
    assert (budget.logical, budget.physical, budget.effective) == (8, 4, 8)
    assert binding(budget) == {"affinity"}
    assert budget.host_memory_bytes == 16384000 * 1024


def test_fractional_quota_is_shown_as_is_and_counted_down(tmp_path: Path) -> None:
    budget = collect_cpu(read_target(host_with(tmp_path, cpu_max="250000 100000"), environ={}))
    quota = rows(budget)["cgroup-quota"]
    assert quota.value == 2.5
    assert budget.effective == 2
    assert binding(budget) == {"cgroup-quota"}
    assert budget.cgroup is not None and budget.cgroup.quota == 2.5
    # LensKit counts the affinity and ignores the quota
    assert budget.lenskit_effective == 8


def test_quota_below_one_cpu_counts_as_one(tmp_path: Path) -> None:
    budget = collect_cpu(read_target(host_with(tmp_path, cpu_max="50000 100000"), environ={}))
    assert rows(budget)["cgroup-quota"].value == 0.5
    assert budget.effective == 1


def test_quota_on_parent_only_binds(tmp_path: Path) -> None:
    root = host_with(tmp_path, cpu_max="max 100000", parent_cpu_max="300000 100000")
    budget = collect_cpu(read_target(root, environ={}))
    assert budget.effective == 3
    assert rows(budget)["cgroup-quota"].detail.startswith(str(root / "sys/fs/cgroup/cpu.max"))


def test_cpuset_narrower_than_affinity(tmp_path: Path) -> None:
    budget = collect_cpu(read_target(host_with(tmp_path, allowed="0-7", cpuset="2-3"), environ={}))
    assert rows(budget)["affinity"].value == 8
    assert rows(budget)["cgroup-cpuset"].value == 2
    assert budget.effective == 2
    assert binding(budget) == {"cgroup-cpuset"}


def test_ties_mark_every_binding_row(tmp_path: Path) -> None:
    root = host_with(tmp_path, allowed="0-1", cpu_max="200000 100000")
    budget = collect_cpu(read_target(root, environ={"SLURM_CPUS_PER_TASK": "2"}))
    assert budget.effective == 2
    assert binding(budget) == {"affinity", "cgroup-quota", "slurm"}


@pytest.mark.parametrize(
    ("environ", "source", "value", "detail"),
    [
        ({"SLURM_CPUS_PER_TASK": "3"}, "slurm", 3, "SLURM_CPUS_PER_TASK"),
        (
            {"SLURM_CPUS_ON_NODE": "5", "SLURM_JOB_NUM_NODES": "1"},
            "slurm",
            5,
            "SLURM_CPUS_ON_NODE",
        ),
        (
            {"SLURM_CPUS_PER_TASK": "2", "SLURM_CPUS_ON_NODE": "5", "SLURM_JOB_NUM_NODES": "1"},
            "slurm",
            2,
            "SLURM_CPUS_PER_TASK",
        ),
        ({"PBS_NUM_PPN": "6", "NCPUS": "4"}, "pbs", 6, "PBS_NUM_PPN"),
        ({"NCPUS": "4"}, "pbs", 4, "NCPUS"),
        ({"LSB_DJOB_NUMPROC": "3"}, "lsf", 3, "LSB_DJOB_NUMPROC"),
        ({"NSLOTS": "2"}, "sge", 2, "NSLOTS"),
        ({"PYTHON_CPU_COUNT": "3"}, "python-cpu-count", 3, "PYTHON_CPU_COUNT"),
    ],
)
def test_scheduler_and_python_sources_bind(
    tmp_path: Path, environ: dict[str, str], source: str, value: int, detail: str
) -> None:
    budget = collect_cpu(read_target(host_with(tmp_path), environ=environ))
    row = rows(budget)[source]
    assert (row.value, row.binding) == (value, True)
    assert row.detail.startswith(detail)
    assert budget.effective == value
    assert not budget.env_problems


@pytest.mark.parametrize("nodes", [None, "2"])
def test_slurm_cpus_on_node_needs_a_single_node_job(tmp_path: Path, nodes: str | None) -> None:
    environ = {"SLURM_CPUS_ON_NODE": "2"} | ({"SLURM_JOB_NUM_NODES": nodes} if nodes else {})
    budget = collect_cpu(read_target(host_with(tmp_path), environ=environ))
    slurm = rows(budget)["slurm"]
    assert slurm.value is None and "not used" in slurm.detail
    assert budget.effective == 8


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SLURM_CPUS_PER_TASK", "abc"),
        ("SLURM_CPUS_PER_TASK", "0"),
        ("SLURM_CPUS_ON_NODE", "-2"),
        ("SLURM_JOB_NUM_NODES", "1.5"),
        ("PBS_NUM_PPN", "4,,2"),
        ("NCPUS", "four"),
        ("LSB_DJOB_NUMPROC", "2x"),
        ("NSLOTS", " "),
        ("PYTHON_CPU_COUNT", "0"),
    ],
)
def test_malformed_values_are_env_invalid_findings(
    tmp_path: Path, variable: str, value: str
) -> None:
    budget = collect_cpu(read_target(host_with(tmp_path), environ={variable: value}))
    findings = cpu_checks.check(report_for(budget))
    if not value.strip():  # empty means unset: not a problem
        assert budget.env_problems == []
        return
    assert [p.variable for p in budget.env_problems] == [variable]
    invalid = [f for f in findings if f.id == "env-invalid"]
    assert len(invalid) == 1
    assert variable in invalid[0].title and repr(value) in invalid[0].evidence
    assert budget.effective == 8  # the bad value is ignored, not guessed at


def test_python_cpu_count_default_is_valid(tmp_path: Path) -> None:
    budget = collect_cpu(read_target(host_with(tmp_path), environ={"PYTHON_CPU_COUNT": "default"}))
    assert rows(budget)["python-cpu-count"].value is None
    assert budget.env_problems == []


def test_lenskit_effective_follows_lenskits_algorithm() -> None:
    # process_cpu_count (3.13+) honours PYTHON_CPU_COUNT, then the affinity, then cpu_count
    assert lenskit_effective_cpu_count(4, 8, 2, has_process_cpu_count=True) == 2
    assert lenskit_effective_cpu_count(4, 8, 2, has_process_cpu_count=False) == 4
    assert lenskit_effective_cpu_count(None, 8, None, has_process_cpu_count=False) == 8
    assert lenskit_effective_cpu_count(None, None, None, has_process_cpu_count=False) == 1
    live = getattr(os, "process_cpu_count", None)
    expected = live() if live else len(os.sched_getaffinity(0))
    assert collect_cpu(read_target(environ={})).lenskit_effective == expected


def test_count_mismatch_uses_the_plans_suggested_env(tmp_path: Path) -> None:
    root = host_with(tmp_path, cpu_max="200000 100000")
    report = collect(root=root, environ={})
    assert report.cpu is not None and report.plan is not None
    assert (report.cpu.effective, report.cpu.lenskit_effective) == (2, 8)
    mismatch = [f for f in report.findings if f.id == "cpu-count-mismatch"]
    assert len(mismatch) == 1
    assert "cgroup-quota=2" in mismatch[0].evidence
    assert mismatch[0].env == report.plan.suggested_env


def test_no_mismatch_when_lenskit_sees_the_limit(tmp_path: Path) -> None:
    budget = collect_cpu(read_target(host_with(tmp_path, allowed="0-1"), environ={}))
    assert budget.lenskit_effective == budget.effective == 2
    assert not [f for f in cpu_checks.check(report_for(budget)) if f.id == "cpu-count-mismatch"]


def test_smt_info_finding(tmp_path: Path) -> None:
    budget = collect_cpu(read_target(host_with(tmp_path), environ={}))
    assert budget.smt is True
    smt = [f for f in cpu_checks.check(report_for(budget)) if f.id == "cpu-smt"]
    assert len(smt) == 1 and smt[0].severity == "info"
    assert "8 logical CPUs on 4 physical cores" in smt[0].title


def test_no_smt_finding_without_smt(tmp_path: Path) -> None:
    root = host_with(tmp_path)
    (root / "proc/cpuinfo").write_text(
        "".join(f"processor\t: {n}\nphysical id\t: 0\ncore id\t\t: {n}\n\n" for n in range(8))
    )
    budget = collect_cpu(read_target(root, environ={}))
    assert (budget.physical, budget.smt) == (8, False)
    assert not [f for f in cpu_checks.check(report_for(budget)) if f.id == "cpu-smt"]


def test_another_pid_reads_its_own_files(tmp_path: Path) -> None:
    root = host_with(tmp_path)
    host = FakeHost(root)
    host.process("0::/other\n", V2_MOUNTINFO, pid=4242, cpus_allowed="0,2,4")
    host.v2_group("/sys/fs/cgroup/other", cpu_max="150000 100000")
    budget = collect_cpu(read_target(root, environ={"NSLOTS": "2"}, pid=4242))
    assert rows(budget)["affinity"].value == 3
    assert rows(budget)["cgroup-quota"].value == 1.5
    assert rows(budget)["rust"].value is None  # the probe only sees this process
    assert budget.effective == 1


def test_empty_root_still_gives_a_budget(tmp_path: Path) -> None:
    budget = collect_cpu(read_target(tmp_path, environ={}))
    assert budget.effective == budget.logical == (os.cpu_count() or 1)
    assert budget.cgroup is not None and budget.cgroup.version == "none"
    assert rows(budget)["affinity"].value is None
    assert "Cpus_allowed_list" in rows(budget)["affinity"].detail


GARBAGE = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40
).filter(lambda s: "\x00" not in s)


@settings(max_examples=60, deadline=None)
@given(cpu_max=GARBAGE, cpuset=GARBAGE, status=GARBAGE, cgroup_text=GARBAGE, value=GARBAGE)
def test_garbage_never_raises(
    tmp_path_factory: pytest.TempPathFactory,
    cpu_max: str,
    cpuset: str,
    status: str,
    cgroup_text: str,
    value: str,
) -> None:
    root = tmp_path_factory.mktemp("garbage")
    host = FakeHost(root)
    host.process("0::/job\n" + cgroup_text, V2_MOUNTINFO + cgroup_text)
    host.write("/proc/self/status", f"Cpus_allowed_list:\t{status}\n")
    host.write("/sys/devices/system/cpu/online", status)
    host.write("/proc/cpuinfo", cgroup_text)
    host.write("/proc/meminfo", cpu_max)
    host.v2_group("/sys/fs/cgroup/job", cpu_max=cpu_max, cpuset_cpus_effective=cpuset)
    environ = {
        name: value
        for name in (
            "SLURM_CPUS_PER_TASK",
            "SLURM_CPUS_ON_NODE",
            "SLURM_JOB_NUM_NODES",
            "PBS_NUM_PPN",
            "LSB_DJOB_NUMPROC",
            "NSLOTS",
            "PYTHON_CPU_COUNT",
        )
    }
    budget = collect_cpu(read_target(root, environ=environ))
    assert budget.effective >= 1
    assert budget.lenskit_effective >= 1
    cpu_checks.check(report_for(budget))


def test_parse_cpu_list() -> None:
    assert parse_cpu_list("0-3,8,10-11\n") == {0, 1, 2, 3, 8, 10, 11}
    assert parse_cpu_list("") == set()
    for bad in ("3-1", "a", "-1", "1-", "0-999999999", "70000", "1" * 5000):
        with pytest.raises(ValueError):
            parse_cpu_list(bad)


def test_live_rust_row_and_affinity_agree_without_quota() -> None:
    budget = collect_cpu(read_target(environ={}))
    live = rows(budget)
    assert live["affinity"].value == len(os.sched_getaffinity(0))
    assert live["rust"].limits is False
    quota = live["cgroup-quota"].value
    if quota is None:  # with no quota Rust sees exactly the affinity mask
        assert live["rust"].value == live["affinity"].value
    assert budget.effective <= len(os.sched_getaffinity(0))


def test_text_table_marks_binding_rows_and_shows_memory(tmp_path: Path) -> None:
    from rich.console import Console

    from lkdoctor.render.text import render_cpu

    root = host_with(tmp_path, cpu_max="50000 100000")
    FakeHost(root).write("/sys/fs/cgroup/job/memory.max", f"{4 * 2**30}\n")
    report = report_for(collect_cpu(read_target(root, environ={"SLURM_CPUS_PER_TASK": "1"})))
    console = Console(width=80, record=True, color_system=None)
    renderable = render_cpu(report)
    assert renderable is not None
    console.print(renderable)
    lines = console.export_text().splitlines()
    assert all(len(line) <= 80 for line in lines)
    assert lines[0].split() == ["source", "CPUs", "from"]
    marked = {line.split()[0] for line in lines if "←" in line}
    assert marked == {"cgroup-quota", "slurm"}
    assert any(line.startswith("cgroup-quota ←") and " 0.5 " in line for line in lines)
    assert "effective 1   LensKit would use 8  (more than available)" in lines
    assert any(line.startswith("memory: cgroup limit 4.0 GiB of 15.6 GiB host") for line in lines)
