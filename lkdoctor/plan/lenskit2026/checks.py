"""LensKit 2026's own findings: settings it rejects or ignores, its settings failing to load,
the demand of its batch work over the CPUs, and where its code differs from its documentation
or from lkdoctor's model."""

from __future__ import annotations

import shlex

from lkdoctor.findings import lenskit_unsupported, oversubscription_severity
from lkdoctor.model import Finding, Severity
from lkdoctor.plan.checks import SECTION, conflicts, env_problems
from lkdoctor.plan.lenskit2026.shape import SettingsProblem, ThreadPlan2026

_FAILS = {
    "import": "`import lenskit.config` fails, so every lenskit command and import of "
    "LensKit's configuration fails",
    "configure": "every lenskit command fails (LensKit's settings do not load)",
}


def _where(problem: SettingsProblem) -> str:
    return f"{problem.where}:{problem.line}" if problem.line else problem.where


def _remedy(problem: SettingsProblem, plan: ThreadPlan2026) -> tuple[str, dict[str, str]]:
    if problem.kind == "settings-file-invalid":
        return f"fix or remove that entry in {_where(problem)}", {}
    if problem.where in plan.suggested_unset:
        return f"unset {problem.where}", {}
    value = plan.suggested_env.get(problem.where)
    if problem.equivalent is not None:
        text = (
            f"LensKit 2026 takes one value, not the 2025 per-level list: "
            f"export {problem.where}={shlex.quote(problem.equivalent)}"
        )
        if value is not None and value != problem.equivalent:
            text += f" (or {value}, which fits the CPUs)"
        return text, {problem.where: value or problem.equivalent}
    if value is not None:
        return f"export {problem.where}={shlex.quote(value)}, or unset it", {problem.where: value}
    return f"unset {problem.where}", {}


def settings_problems(plan: ThreadPlan2026) -> list[Finding]:
    findings = []
    for problem in plan.settings_problems:
        if problem.kind == "env-ignored":
            findings.append(
                Finding(
                    id="env-ignored",
                    severity=Severity.WARNING,
                    section=SECTION,
                    title=f"{problem.where} is ignored by LensKit {plan.lenskit_version or '2026'}",
                    evidence=f"{problem.where}={problem.value!r}: {problem.message}",
                    remediation=f"unset {problem.where}; size LensKit with LK_NUM_THREADS, "
                    "LK_NUM_BACKEND_THREADS and LK_NUM_BATCH_JOBS",
                )
            )
            continue
        if problem.kind == "settings-file-large":
            findings.append(
                Finding(
                    id="settings-file-large",
                    severity=Severity.WARNING,
                    section=SECTION,
                    title=f"{problem.where} is {problem.value}: LensKit parses all of it "
                    "in every lenskit command",
                    evidence=f"{problem.where} ({problem.value}): {problem.message}",
                    remediation=f"keep only LensKit's settings in {problem.where} (they take "
                    "a few hundred bytes); move other data to a file of its own",
                )
            )
            continue
        remediation, env = _remedy(problem, plan)
        fails = _FAILS.get(problem.fails or "", "")
        key = problem.message.split(":", 1)[0]
        note = plan.lenskit_note or ""
        lenskit_says = (
            f"; LensKit says: {note}" if key in note and f"at {problem.fails}" in note else ""
        )
        findings.append(
            Finding(
                id="env-invalid" if problem.kind == "env-invalid" else "settings-file-invalid",
                severity=Severity.ERROR,
                section=SECTION,
                title=f"{_where(problem)} is rejected by LensKit {plan.lenskit_version or '2026'}: "
                + (fails or "invalid"),
                evidence=f"{problem.where}"
                + (f" ({problem.value})" if problem.value else "")
                + f": {problem.message}{lenskit_says}",
                remediation=remediation,
                env=env,
            )
        )
    return findings


def unexplained_failure(plan: ThreadPlan2026) -> list[Finding]:
    """LensKit's own code fails on settings the doctor found nothing wrong with."""
    if plan.lenskit_note is None or any(p.fails for p in plan.settings_problems):
        return []
    if not plan.lenskit_note.startswith("LensKit failed"):
        return [lenskit_unsupported(SECTION, plan.lenskit_note, "LensKit 2026's code as read here")]
    return [
        Finding(
            id="env-invalid",
            severity=Severity.ERROR,
            section=SECTION,
            title="LensKit's settings do not load: every lenskit command fails",
            evidence=plan.lenskit_note,
            remediation="fix the setting LensKit names",
        )
    ]


def differing_settings(plan: ThreadPlan2026) -> list[str]:
    """The settings LensKit's own code resolves differently from lkdoctor's model (none when
    it was not asked)."""
    own = plan.lenskit_resolved
    if own is None:
        return []
    return [name for name, setting in plan.settings.items() if setting.value != getattr(own, name)]


def mismatch(plan: ThreadPlan2026) -> list[Finding]:
    """The doctor's resolution differs from LensKit's own: the plan may be wrong."""
    own = plan.lenskit_resolved
    differing = [
        f"{name}: lkdoctor {plan.settings[name].value}, LensKit {getattr(own, name)}"
        for name in differing_settings(plan)
    ]
    if not differing:
        return []
    return [
        Finding(
            id="lenskit-mismatch",
            severity=Severity.WARNING,
            section=SECTION,
            title="LensKit's own code resolves different settings from lkdoctor's model",
            evidence="; ".join(differing),
            remediation="trust LensKit's values; please report this to lkdoctor",
        )
    ]


def divergences(plan: ThreadPlan2026) -> list[Finding]:
    """Where LensKit 2026's code does not do what its documentation says, for these settings."""
    if not plan.settings:
        return []
    found = []
    inputs = {name.upper(): name for name in plan.inputs}
    for name, setting in plan.settings.items():
        flat = f"LK_{name.upper()}"
        invalid = {p.where.upper() for p in plan.settings_problems if p.kind == "env-invalid"}
        if flat in inputs and flat not in invalid and setting.source.endswith(".toml"):
            found.append(
                Finding(
                    id="lenskit-divergence",
                    severity=Severity.WARNING,
                    section=SECTION,
                    title=f"{setting.source} overrides {flat}",
                    evidence=f"{inputs[flat]}={plan.inputs[inputs[flat]]!r} is set, but "
                    f"{setting.source}:{setting.line} sets {name} = {setting.value}; LensKit's "
                    f"documentation says {flat} overrides the setting, its code reads the file "
                    "over the flat variables",
                    remediation=f"change {name} in {setting.source}, or export "
                    f"LK_PARALLEL__{name.upper()} (which beats the files)",
                    env={f"LK_PARALLEL__{name.upper()}": plan.inputs[inputs[flat]]},
                )
            )
    cpus = plan.settings["num_cpus"]
    if (
        plan.batch_mode == "ray"
        and cpus.source not in ("default", "derived")
        and (cpus.value != plan.cpu_count)
    ):
        found.append(
            Finding(
                id="lenskit-divergence",
                severity=Severity.WARNING,
                section=SECTION,
                title=f"Ray ignores num_cpus={cpus.value} ({cpus.source})",
                evidence=f"LensKit starts Ray with ray.init(num_cpus=effective_cpu_count()) = "
                f"{plan.cpu_count}, not the configured num_cpus; num_cpus only sizes the "
                "defaults of the other settings",
                remediation="limit the CPUs with taskset / PYTHON_CPU_COUNT, or set "
                "LK_NUM_BATCH_JOBS and LK_NUM_BACKEND_THREADS explicitly",
            )
        )
    if cpus.source == "default" and plan.cpu_count > plan.effective:
        found.append(
            Finding(
                id="lenskit-divergence",
                severity=Severity.WARNING,
                section=SECTION,
                title=f"LensKit counts {plan.cpu_count} CPUs; {plan.effective} are available",
                evidence="LensKit's documentation says its detected num_cpus accounts for "
                "operating-system CPU limits; its effective_cpu_count() is "
                "os.process_cpu_count() (affinity, PYTHON_CPU_COUNT), which ignores the "
                "cgroup CPU quota",
                remediation=f"export LK_NUM_CPUS={plan.effective} (or PYTHON_CPU_COUNT, which "
                "Ray's node size follows too)",
                env={"LK_NUM_CPUS": str(plan.effective)},
            )
        )
    if plan.batch_mode == "thread-pool":
        found.append(
            Finding(
                id="lenskit-divergence",
                severity=Severity.INFO,
                section=SECTION,
                title="Batch inference runs in a thread pool on a Python with a GIL",
                evidence=f"num_batch_jobs = {plan.settings['num_batch_jobs'].value} without Ray: "
                "LensKit's documentation has the thread pool on free-threaded Python only; "
                "its code uses it whenever num_batch_jobs > 1, where the GIL serializes the "
                "Python part of each job",
                remediation="use Ray (LK_USE_RAY=1) or a free-threaded Python for parallel "
                "batch inference",
            )
        )
    return found


def oversubscribed(plan: ThreadPlan2026) -> list[Finding]:
    if plan.oversubscription <= 1.0:
        return []
    remediation = "use the suggested settings: they fit the CPUs and LensKit 2026 accepts them"
    edits = [
        f"{name} = {plan.suggested_env[var]} in {s.source}:{s.line}"
        for name, s in plan.settings.items()
        if s.line is not None and (var := f"LK_PARALLEL__{name.upper()}") in plan.suggested_env
    ]
    if edits:
        remediation += "; or, in the file instead of LK_PARALLEL__*, set " + ", ".join(edits)
    return [
        Finding(
            id="plan-oversubscribed",
            severity=oversubscription_severity(plan.oversubscription),
            section=SECTION,
            title=f"LensKit's settings can keep {plan.peak_threads} threads busy on "
            f"{plan.effective} CPUs",
            evidence=f"{plan.demand_model} = {plan.peak_threads} "
            f"(oversubscription {plan.oversubscription:.2f})",
            remediation=remediation,
            env=dict(plan.suggested_env),
        )
    ]


def line_findings(plan: ThreadPlan2026) -> list[Finding]:
    """The findings only a LensKit 2026 plan has."""
    return [
        *settings_problems(plan),
        *unexplained_failure(plan),
        *oversubscribed(plan),
        *divergences(plan),
        *mismatch(plan),
    ]


def findings(plan: ThreadPlan2026) -> list[Finding]:
    return [*env_problems(plan), *line_findings(plan), *conflicts(plan)]
