from __future__ import annotations

import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from helpers import run_cli, script

# The doctor appends to these files when they are set; on a GitHub runner the tests must not
# write into the job's real outputs.
for _name in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"):
    os.environ.pop(_name, None)

SOURCE_PACKAGE = Path(__file__).resolve().parents[1] / "lkdoctor"
CHILD_IMPORT = "import lkdoctor._probe, lkdoctor; print(lkdoctor.__file__)"


def pytest_sessionstart(session: pytest.Session) -> None:
    """Under scripts/test.sh the suite tests the installed wheel: this process and the Pythons
    it starts must import lkdoctor from site-packages, not from the source tree."""
    if not os.environ.get("LKDOCTOR_TEST_INSTALLED"):
        return
    import lkdoctor._probe

    here = Path(lkdoctor.__file__).resolve()
    child = subprocess.run(
        [sys.executable, "-c", CHILD_IMPORT], capture_output=True, text=True, timeout=60
    )
    for who, found in (("pytest", str(here)), ("a child python", child.stdout.strip())):
        if not found or Path(found).resolve().is_relative_to(SOURCE_PACKAGE):
            pytest.exit(
                f"LKDOCTOR_TEST_INSTALLED: {who} imports lkdoctor from {found or child.stderr!r}, "
                f"not the installed wheel",
                returncode=pytest.ExitCode.USAGE_ERROR,
            )


def installed_lenskit_year() -> str | None:
    try:
        return metadata.version("lenskit").split(".", 1)[0]
    except metadata.PackageNotFoundError:
        return None


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A test marked for one LensKit release fails clearly beside another (CI deselects it)."""
    for year in ("2025", "2026"):
        if item.get_closest_marker(f"lenskit{year}") and installed_lenskit_year() != year:
            pytest.fail(
                f"needs LensKit {year}.x, this environment has {installed_lenskit_year()}; "
                f"deselect with -m 'not lenskit{year}' (scripts/test.sh runs each where it fits)",
                pytrace=False,
            )


def _shares_a_module_fixture(item: pytest.Item) -> bool:
    """Whether ``item`` uses a fixture made once for its module (or class)."""
    info = getattr(item, "_fixtureinfo", None)
    definitions = info.name2fixturedefs.values() if info is not None else ()
    return any(d.scope in ("module", "class", "package") for defs in definitions for d in defs)


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """scripts/test.sh runs the suite on several xdist workers (``--dist loadgroup``): each
    test goes to the next free worker, but the tests of a module that share a module
    fixture (a Ray cluster, one real report) stay on one worker, so it is made once,
    and the modules that name a resource with their own ``xdist_group`` mark ("dev-shm")
    share one worker with the other users of it. xdist hands out the largest groups
    first."""
    for item in items:
        if item.get_closest_marker("xdist_group") is None and _shares_a_module_fixture(item):
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::", 1)[0]))


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI a skipped test is a missing capability, so it fails the run."""
    if not os.environ.get("LKDOCTOR_NO_SKIPS"):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped:
        if reporter:
            reporter.write_line(
                f"LKDOCTOR_NO_SKIPS: {len(skipped)} test(s) skipped; CI requires every test to run",
                red=True,
            )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def plain_json_report() -> str:
    """The stdout of `lkdoctor --json --no-bench` in the suite's own environment, run once a
    session for the tests that read that plain report (each run imports torch anew)."""
    result = run_cli(script("lkdoctor"), "--json", "--no-bench")
    assert result.returncode == 0, result.stderr
    return result.stdout
