"""`lenskit doctor` run by LensKit's own `lenskit` command (2026: its root command sets the
pools up first), `-R DIR` / `--project-root` reaching the doctor, and `--dialect`.

Every LensKit command here runs in its own process: LensKit's root command changes the pools
of the process it runs in.
"""

from __future__ import annotations

import json
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from helpers import run_cli, run_python, script

LENSKIT_YEAR = metadata.version("lenskit").split(".", 1)[0]

# Runs a `lenskit` command line in-process through LensKit's own CLI (`lenskit.cli:main`,
# what LensKit's script runs) or ours (`lkdoctor.cli:lenskit_main`), and prints the request
# the doctor built instead of diagnosing.
CAPTURE_REQUEST = """
import json, sys
import lkdoctor.pipeline
def capture(request, fail_on):
    print(json.dumps({"project_root": str(request.project_root), "dialect": request.dialect}))
    sys.exit(0)
lkdoctor.pipeline.diagnose = capture  # what the command line calls with the request it built
sys.argv = ["lenskit", *ARGS]
if ENTRY == "lenskit":
    from lenskit.cli import main
else:
    from lkdoctor.cli import lenskit_main as main
main()
"""


def doctor_request(entry: str, *args: str) -> dict[str, Any]:
    code = CAPTURE_REQUEST.replace("ENTRY", repr(entry)).replace("ARGS", repr(list(args)))
    found: dict[str, Any] = run_python(code)
    return found


@pytest.mark.parametrize("entry", ["lenskit", "lkdoctor"])
def test_project_root_reaches_the_doctor_from_the_group_and_the_doctor(
    entry: str, tmp_path: Path
) -> None:
    root = str(tmp_path)
    # both LensKit releases' root command take -R; ours does too
    assert doctor_request(entry, "-R", root, "doctor")["project_root"] == root
    assert doctor_request(entry, "--project-root", root, "doctor")["project_root"] == root
    assert doctor_request(entry, "doctor", "--project-root", root)["project_root"] == root
    assert doctor_request(entry, "doctor")["project_root"] == "None"  # LensKit's own search
    assert doctor_request(entry, "doctor", "--dialect", "2025")["dialect"] == "2025"


def report_of(*argv: str) -> dict[str, Any]:
    result = run_cli(*argv)
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


@pytest.mark.parametrize("dialect", ["2025", "2026"])
def test_dialect_option_sets_the_plans_dialect_and_says_why(dialect: str) -> None:
    data = report_of(script("lkdoctor"), "--dialect", dialect, "--json", "--no-bench")
    assert data["plan"]["dialect"] == dialect
    assert data["plan"]["dialect_reason"].startswith(f"chosen with --dialect {dialect}")
    default = report_of(script("lkdoctor"), "--json", "--no-bench")["plan"]
    assert default["dialect"] == LENSKIT_YEAR  # the installed LensKit's
    assert default["dialect_reason"] == f"LensKit {metadata.version('lenskit')} is installed"


def lenskit_cli_report(*args: str) -> dict[str, Any]:
    """The doctor's JSON report, run through LensKit's own `lenskit` command."""
    code = "import sys; from lenskit.cli import main; sys.argv = ['lenskit', *sys.argv[1:]]; main()"
    result = run_cli(sys.executable, "-c", code, *args)
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


@pytest.mark.lenskit2026
def test_under_lenskit_2026s_command_the_pools_are_its_setup(tmp_path: Path) -> None:
    (tmp_path / "lenskit.toml").write_text("[parallel]\nnum_threads = 1\nnum_backend_threads = 2\n")
    # the file beats flat LK_* variables, so the surrounding environment does not decide
    data = lenskit_cli_report("-R", str(tmp_path), "doctor", "--json", "--no-bench")
    pools = data["pools"]
    setup = pools["lenskit_setup"]
    assert setup["by"] == "lenskit-cli"
    # LensKit read the file from -R and set the pools from it before the doctor ran
    assert (setup["threads"], setup["backend_threads"]) == (1, 2)
    assert pools["torch"]["intra_op"] == 2
    assert pools["rayon"]["lenskit_threads"] == 1  # read: LensKit's pool already existed
    [finding] = [f for f in data["findings"] if f["id"] == "lenskit-preconfigured"]
    assert finding["severity"] == "info"
    assert "torch intra-op 2" in finding["evidence"]
    assert "LensKit's Rayon pool 1 threads" in finding["evidence"]

    # the same folder through `lkdoctor`: nothing was set up, LensKit's pool is not read
    plain = report_of(script("lkdoctor"), "--project-root", str(tmp_path), "--json", "--no-bench")
    assert plain["pools"]["lenskit_setup"] is None
    assert plain["pools"]["rayon"]["lenskit_threads"] is None
    assert "lenskit-preconfigured" not in {f["id"] for f in plain["findings"]}


@pytest.mark.lenskit2025
def test_lenskit_2025s_command_sets_nothing_up_before_the_doctor() -> None:
    data = lenskit_cli_report("doctor", "--json", "--no-bench")
    assert data["tool"]["name"] == "lkdoctor"
    assert data["pools"]["lenskit_setup"] is None
    assert data["pools"]["rayon"]["lenskit_threads"] is None


# A program that set LensKit's parallelism up itself, then asks the doctor.
PROGRAM_SET_UP = """
import json, os, sys
import lenskit
if lenskit.__version__.startswith("2025"):
    from lenskit.parallel import initialize
    initialize(processes=1, threads=1, backend_threads=1)
else:
    from lenskit.config import ParallelSettings
    from lenskit.parallel import init_threading
    init_threading(ParallelSettings(num_threads=1, num_backend_threads=1))
from lenskit._accel import thread_count
before = (thread_count(), len(os.listdir("/proc/self/task")))
import lkdoctor
report = lkdoctor.collect()
after = (thread_count(), len(os.listdir("/proc/self/task")))
print(json.dumps({"pools": report.pools.model_dump(mode="json"), "same": before == after,
    "findings": [f.id for f in report.findings]}))
"""


def test_a_program_that_set_lenskit_up_is_reported_and_left_as_found() -> None:
    out = run_python(PROGRAM_SET_UP)
    setup = out["pools"]["lenskit_setup"]
    assert setup["by"] == "program"
    assert (setup["threads"], setup["backend_threads"]) == (1, 1)
    assert out["pools"]["rayon"]["lenskit_threads"] == 1
    assert out["same"]  # reading LensKit's pool size created no thread
    assert "lenskit-preconfigured" in out["findings"]


def test_without_lenskit_set_up_nothing_of_lenskit_is_imported_or_read() -> None:
    out = run_python(
        """
        import json, sys, lkdoctor
        report = lkdoctor.collect()
        print(json.dumps({"setup": report.pools.lenskit_setup is None,
            "loaded": [m for m in ("lenskit.parallel.config", "lenskit._accel") if m in sys.modules],
            "read": report.pools.rayon.lenskit_threads}))
        """
    )
    assert out == {"setup": True, "loaded": [], "read": None}
