"""The static check of a script (``--script``): what spawned workers would run again."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from helpers import run_cli, script

from lkdoctor.model import ScriptCheck
from lkdoctor.workers.script import check_script


def checked(tmp_path: Path, source: str, name: str = "run.py") -> ScriptCheck:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return check_script(path, "--script")


def test_a_direct_module_level_call_is_unprotected_with_its_line(tmp_path: Path) -> None:
    check = checked(
        tmp_path,
        """\
        from lenskit.batch import recommend
        pipe = None
        recs = recommend(pipe, [1, 2], n_jobs=2)
        """,
    )
    assert check.status == "unprotected"
    [call] = check.unguarded
    assert (call.at.line, call.reaches, call.n_jobs, call.chain) == (
        3,
        "lenskit.batch.recommend",
        "2",
        [],
    )
    assert call.at.text == "recs = recommend(pipe, [1, 2], n_jobs=2)"


@pytest.mark.parametrize(
    ("imports", "call", "reaches"),
    [
        ("from lenskit.batch import recommend as rec", "rec(p, u)", "lenskit.batch.recommend"),
        ("import lenskit.batch as lb", "lb.predict(p, u)", "lenskit.batch.predict"),
        ("import lenskit.batch", "lenskit.batch.score(p, u)", "lenskit.batch.score"),
        ("from lenskit import batch", "batch.recommend(p, u)", "lenskit.batch.recommend"),
        (
            "from lenskit.batch import BatchPipelineRunner",
            "BatchPipelineRunner(n_jobs=2).run(p, u)",
            "lenskit.batch.BatchPipelineRunner.run",
        ),
        ("from lenskit.parallel import invoker", "invoker(m, f, 2)", "lenskit.parallel.invoker"),
        ("import multiprocessing as mp", "mp.Pool(2)", "multiprocessing.Pool"),
        ("from multiprocessing import Process", "Process(target=f)", "multiprocessing.Process"),
        (
            "from concurrent.futures import ProcessPoolExecutor as PPE",
            "PPE(2)",
            "concurrent.futures.ProcessPoolExecutor",
        ),
    ],
)
def test_aliases_are_followed(tmp_path: Path, imports: str, call: str, reaches: str) -> None:
    check = checked(tmp_path, f"{imports}\np = u = m = f = None\nresult = {call}\n")
    assert check.status == "unprotected"
    assert [c.reaches for c in check.unguarded] == [reaches]
    assert check.unguarded[0].at.line == 3


def test_a_runner_kept_in_a_variable_is_followed_to_its_run(tmp_path: Path) -> None:
    check = checked(
        tmp_path,
        """\
        from lenskit.batch import BatchPipelineRunner
        runner = BatchPipelineRunner(n_jobs=2)
        runner.recommend()
        out = runner.run(None, [1])
        """,
    )
    assert [(c.at.line, c.reaches) for c in check.unguarded] == [
        (4, "lenskit.batch.BatchPipelineRunner.run")
    ]


def test_calls_through_functions_and_classes_of_the_file_name_the_chain(tmp_path: Path) -> None:
    check = checked(
        tmp_path,
        """\
        import lenskit.batch as lb

        def evaluate(pipe):
            return lb.recommend(pipe, [1], n_jobs=4)

        def experiment():
            return evaluate(None)

        class Study:
            def __init__(self):
                self.recs = experiment()

        study = Study()
        """,
    )
    assert check.status == "unprotected"
    [call] = check.unguarded
    assert call.at.line == 13
    assert [(step.line, step.text) for step in call.chain] == [
        (10, "def __init__(self):"),
        (11, "self.recs = experiment()"),
        (6, "def experiment():"),
        (7, "return evaluate(None)"),
        (3, "def evaluate(pipe):"),
        (4, "return lb.recommend(pipe, [1], n_jobs=4)"),
    ]
    assert call.n_jobs == "4"


def test_a_protected_script_and_its_guard_else_branch(tmp_path: Path) -> None:
    protected = checked(
        tmp_path,
        """\
        from lenskit.batch import recommend

        def main():
            recommend(None, [1], n_jobs=2)

        if __name__ == "__main__":
            main()
        """,
    )
    assert (protected.status, protected.unguarded) == ("protected", [])
    else_branch = checked(
        tmp_path,
        """\
        from multiprocessing import Pool
        if "__main__" == __name__:
            pass
        else:
            Pool(2)
        """,
        name="else.py",
    )
    assert [c.at.line for c in else_branch.unguarded] == [5]


def test_definitions_alone_and_other_calls_start_nothing(tmp_path: Path) -> None:
    check = checked(
        tmp_path,
        """\
        import lenskit.batch as lb
        import multiprocessing
        def later():
            lb.recommend(None, [])
        handler = lambda: multiprocessing.Pool(2)
        print(len([1, 2]))
        """,
    )
    assert check.status == "no-process-work"


HOSTILE = {
    "binary": (b"\x7fELF\x00\x00\x01binary", "binary file"),
    "syntax": (b"def broken(:\n    pass\n", "syntax error at line 1"),
    "latin1": (b"x = '\xe9t\xe9'\n", "not decodable"),
    "parens": (b"x = " + b"(" * 5000 + b"1" + b")" * 5000 + b"\n", "nested parentheses"),
    "parser": (b"x = " + b"1+" * 100_000 + b"1\n", "nested too deeply"),
    "unary": (b"x = " + b"-" * 100_000 + b"1\n", "nested too deeply"),
    "calls": (b"import multiprocessing\nx = f" + b"()" * 2000 + b"\n", "nested too deeply"),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_unreadable_scripts_are_not_checked_and_say_why(tmp_path: Path, kind: str) -> None:
    data, why = HOSTILE[kind]
    path = tmp_path / f"{kind}.py"
    path.write_bytes(data)
    check = check_script(path, "--script")
    assert check.status == "not-checked"
    assert why in check.detail


def test_a_declared_encoding_is_honoured(tmp_path: Path) -> None:
    path = tmp_path / "latin.py"
    path.write_bytes(b"# -*- coding: latin-1 -*-\nimport multiprocessing\nname = '\xe9'\n")
    path.write_bytes(path.read_bytes() + b"multiprocessing.Pool(2)\n")
    check = check_script(path, "--script")
    assert [c.at.line for c in check.unguarded] == [4]


def test_missing_folder_and_huge_files(tmp_path: Path) -> None:
    assert check_script(tmp_path / "nope.py", "--script").detail == "no such file"
    assert "folder" in check_script(tmp_path, "--script").detail
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__main__.py").write_text("import multiprocessing\nmultiprocessing.Pool(2)\n")
    assert check_script(package, "--script").status == "unprotected"
    huge = tmp_path / "huge.py"
    huge.write_text("x = 1\n" * (10 * 2**20 // 6 + 1))
    assert "larger than" in check_script(huge, "--script").detail


def doctor_json(*args: str) -> tuple[int, dict[str, object], str]:
    result = run_cli(script("lkdoctor"), "--no-bench", "--json", *args)
    return result.returncode, json.loads(result.stdout) if result.stdout else {}, result.stderr


def test_hostile_scripts_through_the_command_line(tmp_path: Path) -> None:
    binary = tmp_path / "data.bin"
    binary.write_bytes(b"\x00\x01\x02")
    status, report, stderr = doctor_json("--script", str(binary))
    assert status == 0 and "Traceback" not in stderr
    found = {f["id"]: f for f in report["findings"]}  # type: ignore[union-attr]
    assert "binary" in found["script-unchecked"]["evidence"]
    assert report["cpu"] is not None and report["plan"] is not None  # the rest is there
    missing = run_cli(script("lkdoctor"), "--script", str(tmp_path / "gone.py"))
    assert missing.returncode == 2
    assert len(missing.stderr.strip().splitlines()) == 1, missing.stderr
    assert "does not exist" in missing.stderr
