"""scripts/test.sh runs most tests on xdist workers and relies on tests/conftest.py's groups:
a module's tests that share a module fixture run on one worker, and so do the modules that
name one resource ("dev-shm"). xdist can stop grouping without an error (it did with pytest
9.2), so this runs a small suite with the same conftest hook and checks where each test ran.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

CONFTEST = Path(__file__).with_name("conftest.py")

RECORD = """
import os, time
from pathlib import Path

def record(request):
    time.sleep(0.3)  # both workers take tests meanwhile
    out = Path(os.environ["WHERE"]) / request.node.nodeid.replace("/", "_").replace(":", "_")
    out.write_text(os.environ["PYTEST_XDIST_WORKER"])
"""

MODULES = {
    "test_fixture.py": """
        import pytest
        from record import record

        @pytest.fixture(scope="module")
        def shared():
            return object()

        @pytest.mark.parametrize("i", range(4))
        def test_uses_it(shared, request, i):
            record(request)
    """,
    "test_resource_a.py": """
        import pytest
        from record import record

        pytestmark = pytest.mark.xdist_group("dev-shm")

        @pytest.mark.parametrize("i", range(3))
        def test_a(request, i):
            record(request)
    """,
    "test_resource_b.py": """
        import pytest
        from record import record

        pytestmark = pytest.mark.xdist_group("dev-shm")

        @pytest.mark.parametrize("i", range(3))
        def test_b(request, i):
            record(request)
    """,
    "test_free.py": """
        import pytest
        from record import record

        @pytest.mark.parametrize("i", range(8))
        def test_free(request, i):
            record(request)
    """,
}


def test_the_suites_groups_each_run_on_one_worker(tmp_path: Path) -> None:
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "record.py").write_text(RECORD)
    (suite / "conftest.py").write_text(
        "import importlib.util\n"
        f"spec = importlib.util.spec_from_file_location('suite_conftest', {str(CONFTEST)!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "pytest_collection_modifyitems = module.pytest_collection_modifyitems\n"
    )
    for name, text in MODULES.items():
        (suite / name).write_text(textwrap.dedent(text))
    where = tmp_path / "where"
    where.mkdir()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("LKDOCTOR_", "PYTEST_"))},
        "WHERE": str(where),
        "PYTHONPATH": os.pathsep.join([str(CONFTEST.parent), str(suite)]),
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-n",
            "2",
            "--dist",
            "loadgroup",
            "-p",
            "no:cacheprovider",
            "-q",
            "--rootdir",
            str(suite),
            str(suite),
        ],
        cwd=suite,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    ran = {path.name: path.read_text() for path in where.iterdir()}
    assert len(ran) == 4 + 3 + 3 + 8, ran

    def workers(prefix: str) -> set[str]:
        return {worker for name, worker in ran.items() if name.startswith(prefix)}

    assert len(workers("test_fixture.py")) == 1, ran
    assert len(workers("test_resource_")) == 1, ran
    assert workers("test_") == {"gw0", "gw1"}, ran  # the others were shared out
