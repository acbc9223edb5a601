"""The ``[parallel]`` table of a large settings file, read without parsing the rest.

``tomllib`` on the whole document is the oracle: the part the scan keeps must give the same
``parallel`` table, at the same lines, whatever the rest of the file holds.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from lkdoctor.plan.lenskit2026 import settings
from lkdoctor.plan.lenskit2026.ask_child import _json_value
from lkdoctor.plan.lenskit2026.settings import key_lines, read_settings_file
from lkdoctor.plan.lenskit2026.toml_table import parallel_part

#: What may surround the parallel table: every TOML shape that could hide a "[parallel]"
#: line or a "parallel =" key inside something else, or span lines.
NOISE = [
    'title = """\n[parallel]\nnum_threads = 99\n"""\n',
    "raw = '''\n[parallel]\nnum_threads = 98\n'''\n",
    'quoted = "a \\" [parallel] # = \\""\n',
    "literal = 'C:\\path [parallel]'\n",
    "list = [\n  1, # ] [parallel]\n  [2, 3],\n  { a = 1 },\n]\n",
    '"parallel.num_threads" = 97\n',
    "site.parallel = 96\n",
    'ends = """quote""""\n',
    "# [parallel]\n",
    "[other]\nparallel = 95\nsub.parallel.num_threads = 94\n",
    "[[jobs]]\nname = 'x'\n",
    "[ 'other' . \"sub\" ]\nk = { parallel = 1 }\n",
]
#: Every way of defining the parallel table; the ones at the root must come before a header.
ROOT_PARALLEL = [
    "parallel.num_threads = 4\nparallel . num_cpus = 8 # eight\n",
    '"parallel" = { num_threads = 3, use_ray = true }\n',
    "'parallel'.num_backend_threads = 2\n",
]
TABLE_PARALLEL = [
    "[parallel]\nnum_threads = 4\n'num_cpus' = 8\nnum_backend_threads = [\n 1,\n 2,\n]\n",
    '[ "parallel" ] # the settings\nnum_threads = "a long string"\n',
    "[parallel]\r\nnum_threads = 4\r\n",
    "[parallel.sub]\nq = 1\n",
    "[[parallel]]\nnum_threads = 1\n",
]


#: After the table: every noise item that is a key/value, once, in a table of its own.
TRAILER = "[trailer]\n" + "".join(noise for noise in NOISE if not noise.startswith("["))


def _documents() -> list[str]:
    documents = []
    for root in ["", *ROOT_PARALLEL]:
        for table in ["", *TABLE_PARALLEL]:
            if root and table:
                continue  # defining parallel twice is an error either way
            documents.extend(root + noise + table + TRAILER for noise in NOISE)
    return documents


@pytest.mark.parametrize("document", _documents())
def test_the_part_holds_what_the_whole_document_says_of_parallel(document: str) -> None:
    whole = tomllib.loads(document)
    part = parallel_part(document)
    assert part is not None, document
    assert tomllib.loads(part).get("parallel") == whole.get("parallel"), document
    # every kept line at its own number, so that lines in messages are the file's
    assert part.count("\n") == document.count("\n")
    lines = document.splitlines()
    for number, kept in enumerate(part.splitlines()):
        assert kept.strip() in ("", lines[number].strip()), (number, kept)
    table = whole.get("parallel") or {}
    tables = table if isinstance(table, list) else [table]  # [[parallel]]: a list of them
    assert set(key_lines(part)) <= {"", *(key for each in tables for key in each)}


def test_the_other_tables_are_left_out() -> None:
    document = "[parallel]\nnum_threads = 2\n[other]\n" + 'key = "x"\n' * 1000
    part = parallel_part(document)
    assert part == "[parallel]\nnum_threads = 2\n" + "\n" * 1001


@pytest.mark.parametrize(
    "document",
    [
        'a = "unterminated\n[parallel]\nnum_threads = 1\n',
        "a = '''never closed\n",
        "just some words\n",
        "a = [1, 2\n",
        "a = 1]\n",
        "= 1\n",
        "key # no value\n",
    ],
)
def test_what_the_scan_cannot_place_is_left_to_a_whole_parse(document: str) -> None:
    assert parallel_part(document) is None
    with pytest.raises(tomllib.TOMLDecodeError):
        tomllib.loads(document)


FILLER = "".join(f'key_{i} = "{"x" * 200}"\n' for i in range(6_000))


def test_a_large_file_is_a_problem_and_only_its_parallel_table_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "lenskit.toml"
    path.write_text("[parallel]\nnum_threads = 4\nnum_cpus = 'many'\nbogus = 1\n[other]\n" + FILLER)
    assert path.stat().st_size > settings.LARGE_SETTINGS_FILE
    fast = read_settings_file(path)
    monkeypatch.setattr(settings, "LARGE_SETTINGS_FILE", 10**9)
    whole = read_settings_file(path)
    assert fast.values == whole.values == {"num_threads": (4, 2)}
    large = [p for p in fast.problems if p.kind == "settings-file-large"]
    assert len(large) == 1 and large[0].value == f"{path.stat().st_size:,} bytes"
    assert "read only its [parallel] table" in large[0].message
    assert large[0].fails is None
    rest = [p for p in fast.problems if p.kind != "settings-file-large"]
    assert [(p.kind, p.line, p.message) for p in rest] == [
        (p.kind, p.line, p.message) for p in whole.problems
    ]
    assert [p.line for p in rest] == [3, 4]


def test_a_large_file_the_scan_cannot_place_is_parsed_whole(tmp_path: Path) -> None:
    path = tmp_path / "lenskit.toml"
    path.write_text(FILLER + 'broken = "never closed\n[parallel]\nnum_threads = 4\n')
    found = read_settings_file(path)
    assert [p.kind for p in found.problems] == ["settings-file-large", "settings-file-invalid"]
    assert "lkdoctor parsed all of it" in found.problems[0].message
    # tomllib's own message, at the file's own line
    assert found.problems[1].line == 6_001
    assert found.values == {}


def test_a_large_file_takes_its_table_from_lenskits_own_parse(tmp_path: Path) -> None:
    """What the child prints of LensKit's parse (``--parsed-files``) gives the same values,
    lines and problems as the doctor's own parse, dates and times included."""
    path = tmp_path / "lenskit.toml"
    text = (
        "[parallel]\nnum_threads = 4\nnum_cpus = 1979-05-27T07:32:00Z\nbogus = [1, 'a']\n"
        "[other]\n" + FILLER
    )
    path.write_text(text)
    printed = json.loads(json.dumps({"parallel": _json_value(tomllib.loads(text)["parallel"])}))
    from_lenskit = read_settings_file(path, printed)
    own = read_settings_file(path)
    assert from_lenskit.values == own.values == {"num_threads": (4, 2)}
    assert [p.kind for p in from_lenskit.problems] == [p.kind for p in own.problems]
    assert "LensKit's own parse" in from_lenskit.problems[0].message
    rest = [(p.line, p.value, p.message) for p in from_lenskit.problems[1:]]
    assert rest == [(p.line, p.value, p.message) for p in own.problems[1:]]
    assert "datetime.datetime(1979, 5, 27, 7, 32" in rest[0][1]  # the date, not its text


def test_lenskits_error_on_a_large_file_is_the_files_problem(tmp_path: Path) -> None:
    path = tmp_path / "lenskit.toml"
    path.write_text(FILLER + "key_7 = 'twice'\n")
    with pytest.raises(tomllib.TOMLDecodeError) as caught:
        tomllib.loads(path.read_text())
    error = f"TOMLDecodeError: {caught.value}"  # as the child prints it
    found = read_settings_file(path, {"error": error})
    assert [p.kind for p in found.problems] == ["settings-file-large", "settings-file-invalid"]
    assert (found.problems[1].line, found.problems[1].fails) == (6_001, "configure")
    assert found.problems[1].message == error
    assert found.values == {}
