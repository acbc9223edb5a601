"""Golden reports of each LensKit line: what ``lenskit doctor`` says about the plan (JSON, text
and Markdown) and batch workers (JSON) for fixed settings, recorded before the lines were
reorganized, so a change of structure that changes an answer shows here.

Each scenario runs the installed command on one CPU (its affinity set before it starts, and
every variable that could change the CPU count removed), in a folder of its own that is the
project root (a ``.git`` there stops LensKit 2026's search for ``lenskit.toml``). What varies
by machine or run is normalised: that folder and the interpreter's prefix become
``<project>`` and ``<venv>``; the OpenBLAS processor variables some hosts need are dropped.

Record again (after a deliberate change) with ``LKDOCTOR_UPDATE_GOLDEN=1``.
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from helpers import KEPT_HOST_VARIABLES, run_cli, script, target_environ

GOLDEN = Path(__file__).resolve().parent / "lines"
UPDATE = os.environ.get("LKDOCTOR_UPDATE_GOLDEN") == "1"

#: Variables that set or cap the CPU count: a golden report runs on one CPU, whatever the host.
CPU_VARIABLES = (
    "PYTHON_CPU_COUNT",
    "SLURM_CPUS_PER_TASK",
    "SLURM_CPUS_ON_NODE",
    "SLURM_JOB_NUM_NODES",
    "PBS_NUM_PPN",
    "NCPUS",
    "LSB_DJOB_NUMPROC",
    "NSLOTS",
)
#: Batch-worker facts that depend on the machine (memory, /dev/shm) or on other processes.
VOLATILE_WORKER_KEYS = ("memory", "processes", "deaths", "model")
#: Of Ray's object store, the facts that do not depend on the machine's memory or Ray's version.
RAY_STORE_KEPT = ("status",)
#: Findings of the batch-workers section that come from the script checked (the others
#: come from the machine's memory and /dev/shm).
SCRIPT_FINDINGS = ("script-",)
#: Wide enough that no line wraps: wrapping would depend on the length of the folder's path.
COLUMNS = "1000"
#: A script that calls LensKit's batch work at module level, unguarded.
UNGUARDED_SCRIPT = (
    "import lenskit.batch\n"
    "pipeline = users = None\n"
    "lenskit.batch.recommend(pipeline, users, n_jobs=2)\n"
)
TEXT_SECTIONS = ("Live pools", "Observed", "Batch workers", "Measured", "Environment")


@dataclass(frozen=True)
class Scenario:
    name: str
    env: dict[str, str]
    files: dict[str, str] = field(default_factory=dict)  # written into the project folder
    args: tuple[str, ...] = ()  # "{project}" is the project folder


SCENARIOS_2025 = [
    Scenario("2025-defaults", {}),
    Scenario(
        "2025-lists",
        {"LK_NUM_PROCS": "2,2", "LK_NUM_THREADS": "4,2", "LK_NUM_BACKEND_THREADS": "2,1"},
    ),
    Scenario(
        "2025-invalid",
        {"LK_NUM_PROCS": "0", "LK_NUM_THREADS": "abc", "LK_NUM_BACKEND_THREADS": "4,,2"},
    ),
    Scenario(
        "2025-script",
        {"LK_NUM_PROCS": "1"},
        files={"job.py": UNGUARDED_SCRIPT},
        args=("--script", "{project}/job.py"),
    ),
    Scenario(
        "2025-child-and-backends",
        {
            "LK_NUM_PROCS": "3",
            "LK_NUM_CHILD_THREADS": "3",
            "OPENBLAS_NUM_THREADS": "8",
            "OMP_NUM_THREADS": "2",
            "RAYON_NUM_THREADS": "5",
        },
    ),
]

SCENARIOS_2026 = [
    Scenario("2026-defaults", {}),
    Scenario(
        "2026-flat",
        {"LK_NUM_THREADS": "4", "LK_NUM_BACKEND_THREADS": "2", "LK_NUM_BATCH_JOBS": "3"},
    ),
    Scenario(
        "2026-invalid",
        {
            "LK_NUM_THREADS": "8,1",
            "LK_NUM_BATCH_JOBS": "abc",
            "LK_NUM_PROCS": "4",
            "LK_NUM_CHILD_THREADS": "2",
        },
    ),
    Scenario(
        "2026-toml",
        {"LK_NUM_THREADS": "2", "LK_PARALLEL__NUM_BATCH_JOBS": "2"},
        files={
            "lenskit.toml": "[parallel]\nnum_threads = 6\nnum_backend_threads = 3\n",
            "lenskit.local.toml": "[parallel]\nnum_backend_threads = 2\n",
        },
    ),
    Scenario(
        "2026-script",
        {"LK_NUM_BATCH_JOBS": "2"},
        files={"job.py": UNGUARDED_SCRIPT},
        args=("--script", "{project}/job.py"),
    ),
    Scenario(
        "2026-ray",
        {"LK_USE_RAY": "1", "LK_NUM_BATCH_JOBS": "4", "LK_NUM_CPUS": "6", "MKL_NUM_THREADS": "3"},
    ),
]


def _environ(scenario: Scenario) -> dict[str, str]:
    env = target_environ(scenario.env)
    for name in (*CPU_VARIABLES, *KEPT_HOST_VARIABLES, "COLUMNS", "LINES"):
        env.pop(name, None)
    return {**env, "COLUMNS": COLUMNS, **scenario.env}


def _project(tmp_path: Path, scenario: Scenario) -> Path:
    project = tmp_path / "project"
    (project / ".git").mkdir(parents=True)
    for name, text in scenario.files.items():
        (project / name).write_text(text, encoding="utf-8")
    return project


def _doctor(project: Path, env: dict[str, str], *args: str) -> str:
    """``lkdoctor ARGS`` on the first CPU we may use, in ``project``."""
    cpu = min(os.sched_getaffinity(0))
    pinned = "import os, sys; os.sched_setaffinity(0, {int(sys.argv[1])}); os.chdir(sys.argv[2]); os.execv(sys.argv[3], sys.argv[3:])"
    result = run_cli(
        sys.executable,
        "-c",
        pinned,
        str(cpu),
        str(project),
        script("lkdoctor"),
        "--no-bench",
        *args,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _normalised(text: str, project: Path) -> str:
    for real, shown in ((str(project), "<project>"), (sys.prefix, "<venv>")):
        text = text.replace(real, shown)
    return text


def _drop_host_inputs(data: Any) -> Any:
    """The OpenBLAS processor variables a host may carry are not the scenario's."""
    if isinstance(data, dict):
        return {
            key: _drop_host_inputs(value)
            for key, value in data.items()
            if key not in KEPT_HOST_VARIABLES
        }
    if isinstance(data, list):
        return [_drop_host_inputs(item) for item in data]
    return data


def golden_json(report: dict[str, Any]) -> dict[str, Any]:
    """The plan, the batch workers' line facts, and their findings and errors."""
    workers = report.get("workers")
    if workers is not None:
        workers = {k: v for k, v in workers.items() if k not in VOLATILE_WORKER_KEYS}
        store = workers.get("ray_store")
        if isinstance(store, dict):  # sized and placed by Ray from this machine's memory
            workers["ray_store"] = {
                key: value if key in RAY_STORE_KEPT else "<varies>" for key, value in store.items()
            }
    return _drop_host_inputs(
        {
            "schema_version": report["schema_version"],
            "plan": report["plan"],
            "workers": workers,
            "findings": [
                f
                for f in report["findings"]
                if f["section"] == "plan" or f["id"].startswith(SCRIPT_FINDINGS)
            ],
            "errors": [e for e in report["errors"] if e["section"] in ("plan", "workers")],
        }
    )


def text_plan_section(text: str) -> str:
    """The text report's thread-plan section: from its heading to the next section's."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.endswith("Thread plan"))
    ends = re.compile(rf"^\S+ ({'|'.join(TEXT_SECTIONS)})\b")
    end = next((i for i in range(start + 1, len(lines)) if ends.match(lines[i])), len(lines))
    return "\n".join(line.rstrip() for line in lines[start:end]).strip("\n") + "\n"


def markdown_plan_section(markdown: str) -> str:
    """The Markdown report's thread-plan details block, without host-only input rows."""
    start = markdown.index("Thread plan</summary>")
    end = markdown.index("</details>", start)
    lines = markdown[start:end].splitlines()
    kept = [line for line in lines if not any(f"| {n} |" in line for n in KEPT_HOST_VARIABLES)]
    return "\n".join(kept).strip("\n") + "\n"


def _compare(name: str, found: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        GOLDEN.mkdir(parents=True, exist_ok=True)
        path.write_text(found, encoding="utf-8")
    assert path.exists(), f"no golden {path.name}; record it with LKDOCTOR_UPDATE_GOLDEN=1"
    assert found == path.read_text(encoding="utf-8"), f"{path.name} differs from the golden"


def _check_scenario(tmp_path: Path, scenario: Scenario) -> None:
    project = _project(tmp_path, scenario)
    env = _environ(scenario)
    args = [arg.replace("{project}", str(project)) for arg in scenario.args]
    report = json.loads(_normalised(_doctor(project, env, *args, "--json"), project))
    assert report["plan"]["effective"] == 1  # the scenario really ran on one CPU
    _compare(
        f"{scenario.name}.json",
        json.dumps(golden_json(report), indent=2, sort_keys=True, ensure_ascii=False) + "\n",
    )
    text = _doctor(project, env, *args, "--color", "never")
    _compare(f"{scenario.name}.txt", text_plan_section(_normalised(text, project)))
    markdown = _doctor(project, env, *args, "--format", "markdown")
    _compare(f"{scenario.name}.md", markdown_plan_section(_normalised(markdown, project)))


@pytest.mark.lenskit2025
@pytest.mark.parametrize("scenario", SCENARIOS_2025, ids=lambda s: s.name)
def test_the_2025_line_answers_as_recorded(tmp_path: Path, scenario: Scenario) -> None:
    _check_scenario(tmp_path, scenario)


@pytest.mark.lenskit2026
@pytest.mark.parametrize("scenario", SCENARIOS_2026, ids=lambda s: s.name)
def test_the_2026_line_answers_as_recorded(tmp_path: Path, scenario: Scenario) -> None:
    _check_scenario(tmp_path, scenario)


def test_the_plan_sections_are_cut_at_their_edges() -> None:
    """The section cutters keep the plan and nothing of the sections around it."""
    text = "✓ CPU budget\n  2 CPUs\n✗ Thread plan\n  peak 4\n\n! Live pools\n  blas\n"
    assert text_plan_section(text) == "✗ Thread plan\n  peak 4\n"
    markdown = (
        "<summary>✓ CPU budget</summary>\n\nx\n\n</details>\n<details>\n"
        "<summary>✗ Thread plan</summary>\n\n| OPENBLAS_CORETYPE | Haswell |\n| LK_X | 1 |\n"
        "\n</details>\n"
    )
    assert markdown_plan_section(markdown) == "Thread plan</summary>\n\n| LK_X | 1 |\n"
