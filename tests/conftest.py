from __future__ import annotations

import os

import pytest

# The doctor appends to these files when they are set; on a GitHub runner the tests must not
# write into the job's real outputs.
for _name in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"):
    os.environ.pop(_name, None)


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
