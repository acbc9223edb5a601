"""Findings about the live pools of this process."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from lkdoctor.model import ApplyStep, Finding, Pools, Section, Severity
from lkdoctor.pools.kinds import OpenMP, PoolSize, init_remediation, pool_sizes
from lkdoctor.report import Report

SECTION = Section.POOLS


def check(report: Report) -> list[Finding]:
    pools = report.pools
    if pools is None:
        return []
    effective = report.cpu.effective if report.cpu is not None else None
    findings = openmp_findings(pools.blas) + duplicate_blas_findings(pools.blas)
    findings += apply_findings(pools.apply_steps)
    if pools.lenskit_setup is not None:
        findings.append(lenskit_setup_finding(pools))
    if pools.torch is None and not _torch_failed(report):
        findings.append(torch_absent_finding())
    if effective is not None:
        findings += oversized_pool_findings(pools, effective)
    return findings


def _torch_failed(report: Report) -> bool:
    """torch is installed but broken (an errors[] entry says so), rather than absent."""
    return any(e.section == SECTION and e.message.startswith("torch") for e in report.errors)


# --- BLAS / OpenMP -----------------------------------------------------------


def multiple_openmp_finding(runtimes: dict[str, list[str]]) -> Finding:
    names = ", ".join(f"{runtime} ({', '.join(paths)})" for runtime, paths in runtimes.items())
    return Finding(
        id="multiple-openmp",
        severity=Severity.WARNING,
        section=SECTION,
        title=f"{len(runtimes)} different OpenMP runtimes are loaded in one process",
        evidence=f"loaded: {names}",
        remediation="install packages built against one OpenMP runtime (e.g. all from PyPI "
        "or all from conda-forge); mixing libiomp with libomp or libgomp can crash or deadlock",
    )


def openmp_findings(blas: list[dict[str, Any]]) -> list[Finding]:
    runtimes: dict[str, list[str]] = defaultdict(list)
    for entry in blas:
        if OpenMP.claims(entry):
            runtimes[OpenMP.runtime(str(entry.get("prefix", "")))].append(
                str(entry.get("filepath", "?"))
            )
    return [multiple_openmp_finding(dict(runtimes))] if len(runtimes) > 1 else []


def duplicate_blas_findings(blas: list[dict[str, Any]]) -> list[Finding]:
    """Two copies of a BLAS (``duplicate-blas``) or of one OpenMP runtime
    (``duplicate-openmp``) each bring their own pool."""
    copies: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for entry in blas:
        if entry.get("user_api") == "blas":
            copies[("duplicate-blas", "BLAS")].append(entry)
        else:
            copies[("duplicate-openmp", f"OpenMP {entry.get('prefix')}")].append(entry)
    findings = []
    for (finding_id, kind), entries in copies.items():
        if len(entries) < 2:
            continue
        listing = "; ".join(
            f"{e.get('filepath')} ({e.get('num_threads')} threads)" for e in entries
        )
        total = sum(int(e.get("num_threads") or 0) for e in entries)
        findings.append(
            Finding(
                id=finding_id,
                severity=Severity.INFO,
                section=SECTION,
                title=f"{len(entries)} copies of {kind} are loaded, each with its own pool",
                evidence=f"{listing}; up to {total} threads together",
                remediation="usually harmless, but each copy must be limited on its own: "
                "threadpoolctl.threadpool_limits() and the *_NUM_THREADS variables reach them all",
            )
        )
    return findings


# --- torch, Rayon and sizes ----------------------------------------------------


def lenskit_setup_finding(pools: Pools) -> Finding:
    """LensKit set its pools up before the doctor looked: the pools shown are its setup."""
    setup = pools.lenskit_setup
    assert setup is not None
    shown = []
    if pools.torch is not None:
        shown.append(f"torch intra-op {pools.torch.intra_op}")
    if setup.backend_threads is not None:
        shown.append(f"LensKit's backend threads {setup.backend_threads}")
    rayon = pools.rayon.lenskit_threads if pools.rayon is not None else None
    if rayon is not None:
        shown.append(f"LensKit's Rayon pool {rayon} threads")
    elif setup.threads is not None:
        shown.append(f"LensKit's threads {setup.threads}")
    if setup.by == "lenskit-cli":
        title = "LensKit's `lenskit` command set up the pools before the doctor ran"
        remediation = (
            "the pools shown are what every `lenskit` command gets; your own program gets "
            "them only when it calls lenskit.configure() (2026) or initialize() (2025) - run "
            "`lkdoctor` (or `python -m lkdoctor`) to see a process LensKit has not set up"
        )
    else:
        title = "this program had already set up LensKit's pools when the doctor looked"
        remediation = "the pools shown are LensKit's setup, not the libraries' defaults"
    return Finding(
        id="lenskit-preconfigured",
        severity=Severity.INFO,
        section=SECTION,
        title=title,
        evidence="; ".join(shown) or "LensKit's parallel settings are applied",
        remediation=remediation,
    )


def torch_absent_finding() -> Finding:
    return Finding(
        id="torch-absent",
        severity=Severity.INFO,
        section=SECTION,
        title="torch is not installed, so its pools were not inspected",
        evidence="import torch failed with ModuleNotFoundError",
        remediation="LensKit needs torch; install it (pip install torch) where LensKit runs",
    )


def _oversized(pools: Pools, effective: int) -> list[PoolSize]:
    """Every pool larger than the CPUs that a variable can size."""
    return [
        size
        for size in pool_sizes(pools)
        if size.judged and size.variable and (size.threads or 0) > effective
    ]


def oversized_pool_findings(pools: Pools, effective: int) -> list[Finding]:
    oversized = _oversized(pools, effective)
    if not oversized:
        return []
    listing = ", ".join(f"{size.name} {size.threads}" for size in oversized)
    when = (
        "after applying the plan"
        if pools.applied
        else "as found; LensKit's initialize() resizes torch, BLAS and its own Rayon pool, "
        "but code that runs before it (or without LensKit) gets these sizes"
    )
    return [
        Finding(
            id="pool-exceeds-cpus",
            severity=Severity.WARNING,
            section=SECTION,
            title=f"{len(oversized)} thread pool(s) are larger than the {effective} CPUs available",
            evidence=f"{listing} threads, {when}",
            remediation="size the pools from the environment before the process starts",
            env={size.variable: str(effective) for size in oversized if size.variable},
        )
    ]


def apply_findings(steps: list[ApplyStep]) -> list[Finding]:
    return [
        Finding(
            id="apply-failed",
            severity=Severity.WARNING,
            section=SECTION,
            title=f"--apply step {step.step} failed: {step.action}",
            evidence=step.detail,
            remediation=init_remediation(step.step),
        )
        for step in steps
        if step.status == "failed"
    ]


def oversubscription_env(report: Report, omp_threads: int) -> dict[str, str]:
    """The settings that fix an oversubscribed process: OpenMP's size and the plan that fits."""
    env = {"OMP_NUM_THREADS": str(omp_threads)}
    if report.plan is not None:
        env.update(report.plan.suggested_env)
    return env
