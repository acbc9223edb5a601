"""Renderers: they only format a finished report.

The vocabulary every format shares lives here, once: the sections' titles in report
order, the marks of findings and sections, a section's status and the export lines.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping
from typing import Literal

from lkdoctor.model import (
    Compute,
    Finding,
    PowerInfo,
    PythonRuntime,
    Section,
    Severity,
    worst_severity,
)
from lkdoctor.report import Report

#: Every section of a report in report order, with its heading; a section not listed
#: here is shown after these, under its own name.
SECTION_TITLES: dict[Section, str] = {
    Section.CPU: "CPU budget",
    Section.PLAN: "Thread plan",
    Section.POOLS: "Live pools",
    Section.OBSERVED: "Observed",
    Section.WORKERS: "Batch workers",
    Section.COMPARISON: "Compared",
    Section.BENCH: "Measured",
    Section.ENVIRONMENT: "Environment",
    Section.CLUSTER: "Ray cluster",
}

Status = Literal["ok", "warning", "error"]

#: The symbols the reports mark findings and sections with.
FINDING_MARK = {Severity.INFO: "i", Severity.WARNING: "!", Severity.ERROR: "✗"}
STATUS_MARK: dict[Status, str] = {"ok": "✓", "warning": "!", "error": "✗"}


def section_title(section: Section) -> str:
    return SECTION_TITLES.get(section, section.capitalize())


def status(findings: Iterable[Finding], failed: bool = False) -> Status:
    """ok / warning / error: the worst of ``findings`` (info counts as ok), error if ``failed``."""
    worst = worst_severity(findings)
    if failed or worst == Severity.ERROR:
        return "error"
    return "warning" if worst == Severity.WARNING else "ok"


def section_status(report: Report, section: Section) -> Status:
    """The status of one section: its worst finding, error if it could not be collected."""
    findings = [f for f in report.findings if f.section == section]
    return status(findings, failed=any(e.section == section for e in report.errors))


def export_lines(env: Mapping[str, str]) -> list[str]:
    """Ready-to-paste ``export NAME=value`` lines (values shell-quoted)."""
    return [f"export {name}={shlex.quote(value)}" for name, value in env.items()]


def render_json(report: Report) -> str:
    return report.model_dump_json(indent=2) + "\n"


def summary_text(report: Report) -> str:
    """The report's last line, in every format: "2 warnings, 1 error" or "No issues found"."""
    counts = {s: sum(f.severity == s for f in report.findings) for s in ("warning", "error")}
    parts = [f"{n} {s}{'s' if n != 1 else ''}" for s, n in counts.items() if n]
    if report.errors:
        n = len(report.errors)
        parts.append(f"{n} section{'s' if n != 1 else ''} could not be collected")
    return ", ".join(parts) if parts else "No issues found"


#: The GIL's state in LensKit's own doctor's words.
GIL_WORDS: dict[str, str] = {
    "enabled": "Python GIL enabled",
    "free-threading": "Free-threading available",
    "free-threaded-gil-enabled": "Python is free-threaded but cannot disable GIL",
}

_BINARY_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB")
_METRIC_PREFIXES = ("", "k", "M", "G", "T", "P")


def binary_size(n_bytes: int) -> str:
    """``23.5 GiB``: a size as LensKit's doctor prints it (humanize's ``naturalsize``, binary)."""
    if n_bytes == 1:
        return "1 Byte"
    if n_bytes < 1024:
        return f"{n_bytes} Bytes"
    value = float(n_bytes)
    for unit in _BINARY_UNITS:
        value /= 1024
        if value < 1024 or unit == _BINARY_UNITS[-1]:
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")


def metric(value: float, unit: str) -> str:
    """``2.30 GHz``, ``4.50 kJ``: three significant digits, as LensKit's doctor prints a
    frequency or an energy (humanize's ``metric``)."""
    prefix = 0
    while abs(value) >= 1000 and prefix < len(_METRIC_PREFIXES) - 1:
        value /= 1000
        prefix += 1
    decimals = max(0, 2 - (len(str(int(abs(value)))) - 1))
    return f"{value:.{decimals}f} {_METRIC_PREFIXES[prefix]}{unit}"


def compute_facts(
    python: PythonRuntime | None, compute: Compute | None, cpu_capability: str | None
) -> list[tuple[str, str]]:
    """The interpreter and compute facts as (label, value) lines, for every format."""
    facts: list[tuple[str, str]] = []
    if python is not None:
        facts += [
            ("Python", f"{python.version} ({GIL_WORDS[python.gil]})"),
            ("Platform", python.platform),
            ("Location", python.executable),
        ]
    if compute is None:
        return facts
    if compute.cpu_frequency_hz is not None:
        facts.append(("CPU Frequency", metric(compute.cpu_frequency_hz, "Hz")))
    if compute.memory_total_bytes is not None:
        available = compute.memory_available_bytes
        extra = f" ({binary_size(available)} available)" if available is not None else ""
        facts.append(("Memory", binary_size(compute.memory_total_bytes) + extra))
    if compute.torch_backends is not None:
        backends = [f"cpu: {cpu_capability}"] if cpu_capability else []
        for name, backend in compute.torch_backends.items():
            why = " (built in, not usable here)" if backend.status == "unavailable" else ""
            backends.append(f"{name}: {backend.status}{why}")
        facts.append(("PyTorch backends", ", ".join(backends)))
    if compute.gpus is not None:
        if not compute.gpus:
            facts.append(("GPUs", f"none visible ({compute.gpu_note})"))
        for gpu in compute.gpus:
            l2 = f", L2 cache: {binary_size(gpu.l2_cache_bytes)}" if gpu.l2_cache_bytes else ""
            facts.append(
                (
                    f"cuda:{gpu.index}",
                    f"{gpu.name} (capability: {gpu.capability}, memory: "
                    f"{binary_size(gpu.memory_bytes)}{l2}, MP count: {gpu.multiprocessors})",
                )
            )
    elif compute.gpu_note:
        facts.append(("GPUs", compute.gpu_note))
    if compute.power is not None:
        facts.append(("Power", power_words(compute.power)))
    if compute.note:
        facts.append(("not read", compute.note))
    return facts


def power_words(power: PowerInfo) -> str:
    """``Machine box: System power 4.50 kJ (in last 60s), CPU power not configured, ...``,
    as LensKit's doctor words it."""
    if power.status != "measured":
        return power.message or power.status
    window = f"{power.window_seconds:g}s" if power.window_seconds is not None else "?"
    parts = []
    for reading in power.readings:
        label = f"{'System' if reading.scope == 'system' else reading.scope.upper()} power"
        if not reading.configured:
            parts.append(f"{label} not configured")
        elif reading.joules is None:
            parts.append(f"{label} no result")
        else:
            parts.append(f"{label} {metric(reading.joules, 'J')} (in last {window})")
    return f"Machine {power.machine}: " + ", ".join(parts)
