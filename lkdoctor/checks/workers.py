"""Findings about batch workers: scripts that spawned workers would run again, workers
that re-ran the script, and workers (or the command) a signal killed."""

from __future__ import annotations

from lkdoctor.model import (
    Finding,
    ScriptCheck,
    Section,
    Severity,
    UnguardedCall,
    Workers,
)
from lkdoctor.plan.lines import line_named
from lkdoctor.report import Report

#: Start methods whose children import the parent's main module again.
REIMPORTING = {"spawn", "forkserver"}

GUARD_FIX = (
    "Move the module-level work into a function and call it under the guard:\n"
    "    def main():\n"
    "        ...  # load data, train, lenskit.batch.recommend(...)\n"
    '    if __name__ == "__main__":\n'
    "        main()\n"
    "Spawned workers import the script as __mp_main__ and skip what the guard protects."
)


def check(report: Report) -> list[Finding]:
    workers = report.workers
    if workers is None:
        return []
    findings: list[Finding] = []
    for script in workers.scripts:
        if script.status == "unprotected":
            findings.append(unprotected_finding(script, workers))
        elif script.status == "not-checked" and script.found_by == "--script":
            findings.append(
                Finding(
                    id="script-unchecked",
                    severity=Severity.WARNING,
                    title=f"--script {script.path} could not be checked",
                    evidence=script.detail,
                    remediation="Pass the Python file your batch run starts with.",
                    section=Section.WORKERS,
                )
            )
    rerunning = [p for p in workers.processes if p.reruns_script]
    if rerunning:
        findings.append(reexecuted_finding(workers))
    for death in workers.deaths:
        findings.append(
            Finding(
                id="worker-killed",
                severity=Severity.ERROR,
                title=f"the {death.who}"
                + (f" {death.pid}" if death.pid is not None else "")
                + f" was killed by {death.signal} ({death.cause})",
                evidence=death.evidence,
                remediation=KILL_FIX.get(death.cause, ""),
                section=Section.WORKERS,
            )
        )
    return findings


KILL_FIX = {
    "out-of-memory": "Give the run more memory, or fewer workers (n_jobs= or LK_NUM_PROCS): "
    "each worker holds its own copy of the model's in-band data.",
    "shared-memory-full": "Give /dev/shm more room (docker run --shm-size=2g; a Kubernetes "
    "emptyDir with medium: Memory), or run batch with n_jobs=1.",
}


def reexecuted_finding(workers: Workers) -> Finding:
    script = next(c for c in workers.scripts if c.status == "unprotected")
    spawned = [p for p in workers.processes if p.reruns_script]
    first = script.unguarded[0]
    return Finding(
        id="script-reexecuted",
        severity=Severity.ERROR,
        title=f"{len(spawned)} spawned worker(s) ran {script.path} again",
        evidence=(
            f"workers {', '.join(str(p.pid) for p in spawned)} were started with "
            f"{spawned[0].start_method} ({spawned[0].evidence}), which imports the script as "
            f"__mp_main__; its module-level {first.reaches} at {script.path}:{first.at.line} "
            "then runs in each worker, which fails with 'An attempt has been made to start a "
            "new process before the current process has finished its bootstrapping phase' "
            "and the batch run ends in BrokenProcessPool"
        ),
        remediation=GUARD_FIX,
        section=Section.WORKERS,
    )


#: Longer chains show their first and last steps (the JSON keeps every step).
SHOWN_STEPS = 8


def _location(call: UnguardedCall) -> str:
    lines = [f"{call.at.path}:{call.at.line}: {call.at.text}"]
    steps = [f"  → {step.path}:{step.line}: {step.text}" for step in call.chain]
    if len(steps) > SHOWN_STEPS:
        half = SHOWN_STEPS // 2
        hidden = len(steps) - 2 * half
        steps = [*steps[:half], f"  → … {hidden} more steps …", *steps[-half:]]
    return "\n".join(lines + steps)


def call_severity(call: UnguardedCall, workers: Workers) -> tuple[Severity, str]:
    """How much one unguarded call matters with the installed LensKit and this Python."""
    if call.reaches.startswith("lenskit."):
        if call.n_jobs == "1":
            return Severity.INFO, "n_jobs=1 runs in-process: no workers start"
        if call.n_jobs == "'ray'":
            return Severity.INFO, "n_jobs='ray' runs on Ray, whose workers do not re-run it"
        line = line_named(workers.dialect) if workers.dialect else None
        judged = line.unguarded_call(call.n_jobs, workers) if line is not None else None
        if judged is not None:
            return judged
        return Severity.INFO, "no LensKit 2025.x is installed to start worker processes"
    method = workers.python_default_start_method or "unknown"
    if method in REIMPORTING:
        return Severity.ERROR, f"Python's default start method here is {method}: workers re-run it"
    return Severity.WARNING, (
        f"Python's default start method here is {method}, which does not re-run the script; "
        "it fails with spawn (macOS, Windows) and forkserver (Linux, Python 3.14+)"
    )


def unprotected_finding(script: ScriptCheck, workers: Workers) -> Finding:
    judged = [(call, *call_severity(call, workers)) for call in script.unguarded]
    order = list(Severity)
    worst = max((severity for _, severity, _ in judged), key=order.index)
    evidence = "\n".join(f"{_location(call)}\n  ({why})" for call, _, why in judged)
    first = script.unguarded[0]
    return Finding(
        id="script-unprotected",
        severity=worst,
        title=f"{script.path}:{first.at.line} starts processes at module level "
        f'({first.reaches}), outside if __name__ == "__main__":',
        evidence=evidence,
        remediation=GUARD_FIX,
        section=Section.WORKERS,
    )
