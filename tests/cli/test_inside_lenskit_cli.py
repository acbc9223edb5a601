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

# Runs `lenskit` command lines in-process, one after the other, through LensKit's own CLI
# (`lenskit.cli:main`, what LensKit's script runs) or ours (`lkdoctor.cli:lenskit_main`), and
# prints, for each, the request the doctor built instead of diagnosing. One Python for all
# of them: importing LensKit's CLI (torch among it) is most of each run's cost.
CAPTURE_REQUESTS = """
import json, sys
import lkdoctor.pipeline
class Captured(BaseException):  # LensKit's main() logs and swallows an Exception
    pass
def capture(request, fail_on):
    raise Captured({"project_root": str(request.project_root), "dialect": request.dialect})
lkdoctor.pipeline.diagnose = capture  # what the command line calls with the request it built
if ENTRY == "lenskit":
    from lenskit.cli import main
else:
    from lkdoctor.cli import lenskit_main as main
requests = []
for args in ARGVS:
    sys.argv = ["lenskit", *args]
    try:
        main()
    except Captured as captured:
        requests.append(captured.args[0])
    except SystemExit:
        requests.append(None)  # the command ended before the doctor ran
print(json.dumps(requests))
"""


def doctor_requests(entry: str, *argvs: list[str]) -> list[dict[str, Any] | None]:
    code = CAPTURE_REQUESTS.replace("ENTRY", repr(entry)).replace("ARGVS", repr(list(argvs)))
    found: list[dict[str, Any] | None] = run_python(code)
    return found


@pytest.mark.parametrize("entry", ["lenskit", "lkdoctor"])
def test_project_root_reaches_the_doctor_from_the_group_and_the_doctor(
    entry: str, tmp_path: Path
) -> None:
    # Each command line names a folder of its own, and the one without a root comes first,
    # so a root left behind by an earlier command in the same Python cannot pass for its own.
    folders = []
    for name in ("group-R", "group-long", "doctor"):
        (tmp_path / name).mkdir()
        folders.append(str(tmp_path / name))
    requests = doctor_requests(
        entry,
        ["doctor"],  # LensKit's own search
        ["doctor", "--dialect", "2025"],
        ["-R", folders[0], "doctor"],  # both LensKit releases' root command take -R; ours too
        ["--project-root", folders[1], "doctor"],
        ["doctor", "--project-root", folders[2]],
    )
    assert [r and r["project_root"] for r in requests] == ["None", "None", *folders]
    assert requests[1] and requests[1]["dialect"] == "2025"


def report_of(*argv: str) -> dict[str, Any]:
    result = run_cli(*argv)
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


@pytest.mark.parametrize("dialect", ["2025", "2026"])
def test_dialect_option_sets_the_plans_dialect_and_says_why(
    dialect: str, plain_json_report: str
) -> None:
    data = report_of(script("lkdoctor"), "--dialect", dialect, "--json", "--no-bench")
    assert data["plan"]["dialect"] == dialect
    assert data["plan"]["dialect_reason"].startswith(f"chosen with --dialect {dialect}")
    default = json.loads(plain_json_report)["plan"]  # without --dialect
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
