"""Nothing lost when lkdoctor takes over ``lenskit doctor``: every fact LensKit's own doctor
prints is in lkdoctor's report, text and JSON.

LensKit's own command runs in a child process with lkdoctor's take-over blocked (the
``lenskit.cli.plugins`` entry point cannot import), through LensKit's own ``lenskit`` CLI.
Its output is parsed into facts (heading path, key, value); each fact must match a row of
the README's table "What `lenskit doctor` shows", which names where lkdoctor has it. A fact
no row covers fails the test, so a fact LensKit adds later fails until lkdoctor has it.

LensKit's doctor initialises its parallel setup before inspecting (``ensure_parallel_init``),
so lkdoctor is run with ``--apply``, which does the same; both run with ``--full``.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lkdoctor.render import GIL_WORDS, binary_size, metric

REPO = Path(__file__).resolve().parents[2]
TABLE_HEADING = "## What `lenskit doctor` shows, LensKit's own and lkdoctor's"

#: LensKit's own doctor, through LensKit's own CLI, with lkdoctor's plugin unimportable.
LENSKIT_OWN = (
    "import sys; sys.modules['lkdoctor.lenskit_plugin'] = None; "
    "sys.argv = ['lenskit', 'doctor', '--full']; "
    "from lenskit.cli import main; main()"
)
#: lkdoctor's doctor, started the same way (``-c``), so sys.path is built alike.
LKDOCTOR = "import sys; from lkdoctor.cli import doctor; doctor.main(sys.argv[1:])"
LKDOCTOR_ARGS = ["--full", "--apply", "--no-bench", "--color", "never"]
#: Wide enough that no line is wrapped, so each fact is one line.
WIDE = {"COLUMNS": "2000", "NO_COLOR": "1", "TERM": "dumb"}
#: Rich's table frame: the package table's rows are ``│ name │ version │``.
TABLE_ROW = re.compile(r"^\s*│\s*(\S+)\s*│\s*(\S+)\s*│\s*$")
QUANTITY = re.compile(r"\d+(?:\.\d+)?\s*(?:[KMGTPE]iB|Bytes|[kMGT]?Hz)")


@dataclass(frozen=True)
class Fact:
    path: tuple[str, ...]  # the headings above it
    key: str | None  # None: a statement line (a path entry, "Python GIL enabled")
    value: str

    @property
    def name(self) -> str:
        parts = [re.sub(r"\b\d+$", "N", p) for p in self.path]
        return " / ".join([*parts, self.key if self.key is not None else "*"])


@dataclass(frozen=True)
class Row:
    pattern: str
    text_label: str
    json_path: str
    compared: str


def lenskit_facts(output: str) -> list[Fact]:
    """LensKit's doctor output as facts, each under the headings it is indented below."""
    facts: list[Fact] = []
    stack: list[tuple[int, str]] = []
    for raw in output.splitlines():
        line = raw.rstrip()
        if not line.strip() or line.startswith("WARNING: cannot load LensKit CLI"):
            continue
        if row := TABLE_ROW.match(line):
            if row.group(1) != "Package":
                facts.append(Fact(("Installed Packages",), row.group(1), row.group(2)))
            continue
        if (
            "┃" in line
            or set(line.strip()) <= set("┏┓┗┛┡┩━╇┳└┘─┴ ")
            or "Installed Packages" in line
        ):
            continue
        indent = len(line) - len(line.lstrip())
        text = line.strip()
        item = text.startswith("-")  # a list entry ("- /bin"), at its heading's indent in 2025
        while stack and (stack[-1][0] > indent or (stack[-1][0] == indent and not item)):
            stack.pop()
        path = tuple(name for _, name in stack)
        key, sep, value = text.partition(": ")
        if sep and value.strip():
            facts.append(Fact(path, key, value.strip()))
            stack.append((indent, key))
        elif text.endswith(":"):
            stack.append((indent, text[:-1]))
        elif indent == 0 and not item:
            stack.append((indent, text))  # a heading without a colon: "Threading layers"
        else:
            facts.append(Fact(path, None, text.removeprefix("-").strip()))
    return facts


def readme_rows() -> list[Row]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert TABLE_HEADING in text, "the README has no comparison table"
    section = text.split(TABLE_HEADING, 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and not set(cells[0]) <= set("-") and cells[0] != "LensKit shows":
            rows.append(Row(*cells))
    assert rows, "the README's comparison table has no rows"
    return rows


def row_for(fact: Fact, rows: list[Row]) -> Row:
    for row in rows:
        if fnmatch.fnmatchcase(fact.name, row.pattern):
            return row
    raise AssertionError(
        f"LensKit's doctor shows {fact.name!r} = {fact.value!r}, which no row of the README's "
        f"table covers: lkdoctor must show it too (and the table say where)"
    )


def resolve(data: Any, path: str, fact: Fact, group: dict[str, str]) -> list[Any]:
    """Every value at ``path`` in the report's JSON: ``a.b``, ``a[0]``, ``a[*]``,
    ``a[field={key}]`` (the element whose field is the fact's key) and ``a[field=@name]``
    (whose field is the value of the fact ``name`` beside this one)."""
    path = path.replace("{key}", fact.key or "")
    found = [data]
    for part in re.findall(r"[^.\[\]]+|\[[^\]]*\]", path):
        nxt: list[Any] = []
        for item in found:
            if part == "[*]":
                nxt.extend(item or [])
            elif part.startswith("[") and "=" in part:
                field, want = part[1:-1].split("=", 1)
                want = group.get(want[1:], "") if want.startswith("@") else want
                nxt.extend(e for e in item or [] if str(e.get(field)) == want)
            elif part.startswith("["):
                index = int(part[1:-1])
                nxt.extend([item[index]] if item is not None and len(item) > index else [])
            elif isinstance(item, dict) and part in item:
                nxt.append(item[part])
        found = nxt
    return found


def spellings(value: Any) -> set[str]:
    """How LensKit's doctor could print ``value``."""
    found = {str(value), str(value).lower()}
    if isinstance(value, int | float) and not isinstance(value, bool):
        found |= {binary_size(int(value)), metric(float(value), "Hz")}
    if isinstance(value, str) and value in GIL_WORDS:
        found.add(GIL_WORDS[value])
    return found


def quantity(text: str) -> tuple[float, str]:
    number, unit = re.match(r"([\d.]+)\s*(\S+)", text).groups()  # type: ignore[union-attr]
    return float(number), unit


def json_matches(fact: Fact, row: Row, report: dict[str, Any], group: dict[str, str]) -> bool:
    paths = [p.strip() for p in row.json_path.split(";")]
    if row.compared == "present":
        return all(resolve(report, p, fact, group) for p in paths)
    if len(paths) > 1:  # a value of several quantities: "23.5 GiB (20.7 GiB available)"
        parts = QUANTITY.findall(fact.value)
        if len(parts) != len(paths):
            return False
        return all(
            _same(part, resolve(report, p, fact, group), row.compared == "momentary" and i > 0)
            for i, (part, p) in enumerate(zip(parts, paths, strict=True))
        )
    return _same(fact.value, resolve(report, paths[0], fact, group), False)


def _same(shown: str, values: list[Any], momentary: bool) -> bool:
    if any(shown in spellings(v) for v in values):
        return True
    if momentary:  # memory available moves between the two runs: within 10%
        want, unit = quantity(shown)
        for v in values:
            got, got_unit = quantity(binary_size(int(v)))
            if got_unit == unit and abs(got - want) <= 0.1 * want:
                return True
    return False


def cuda_status_explained(fact: Fact, report: dict[str, Any]) -> bool:
    """LensKit asks ``torch.cuda.is_built``, which torch does not have (it is
    ``torch.backends.cuda.is_built``), so it says ``absent`` for a CUDA build without a
    usable GPU; lkdoctor says ``unavailable``. True when exactly that is the difference."""
    import torch

    ours = report["environment"]["compute"]["torch_backends"]["cuda"]
    return (
        fact.key == "cuda"
        and fact.value == "absent"
        and not hasattr(torch.cuda, "is_built")
        and bool(torch.backends.cuda.is_built())
        and not torch.cuda.is_available()
        and ours == {"status": "unavailable", "built": True}
    )


def ray_folders(facts: list[Fact], report: dict[str, Any]) -> list[str]:
    """LensKit's Ray section imports Ray, which puts folders of its own package on
    ``sys.path``: the entries inside the installed Ray package that lkdoctor's process lacks."""
    import importlib.util

    spec = importlib.util.find_spec("ray")
    if spec is None or spec.origin is None:
        return []
    ray_dir = Path(spec.origin).parent
    ours = report["environment"]["paths"]["sys_path"]
    return [
        f.value
        for f in facts
        if f.path == ("Python search paths",)
        and Path(f.value).is_relative_to(ray_dir)
        and f.value not in ours
    ]


def added_by_lenskit_ray_probe(fact: Fact, folders: list[str]) -> bool:
    """A search path Ray added in LensKit's process, or a package found only there."""
    from importlib import metadata

    if fact.path == ("Python search paths",):
        return fact.value in folders
    if fact.path == ("Installed Packages",) and folders:
        there = {d.metadata["Name"] for d in metadata.distributions(path=folders)}
        return fact.key in there
    return False


def squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.fixture(scope="session")
def both_doctors(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, dict[str, Any]]:
    """LensKit's own doctor's output, lkdoctor's text and lkdoctor's JSON, in one folder."""
    cwd = tmp_path_factory.mktemp("parity")
    env = {**os.environ, **WIDE}
    env.pop("GITHUB_OUTPUT", None)

    def run(code: str, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", code, *args],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=cwd,
            env=env,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    own = run(LENSKIT_OWN)
    assert own.startswith("LensKit version:"), own[:500]  # LensKit's, not ours
    text = run(LKDOCTOR, *LKDOCTOR_ARGS)
    report = json.loads(run(LKDOCTOR, *LKDOCTOR_ARGS, "--json"))
    return own, text, report


def check_parity(own: str, text: str, report: dict[str, Any]) -> None:
    rows = readme_rows()
    facts = lenskit_facts(own)
    assert len(facts) > 30, own  # the whole of LensKit's output was read
    missing_json = []
    missing_text = []
    groups: dict[tuple[str, ...], dict[str, str]] = {}
    for fact in facts:
        groups.setdefault(fact.path, {})[fact.key or ""] = fact.value
    squeezed = squeeze(text)
    folders = ray_folders(facts, report)
    for fact in facts:
        if added_by_lenskit_ray_probe(fact, folders):
            continue
        row = row_for(fact, rows)
        if not json_matches(fact, row, report, groups[fact.path]) and not cuda_status_explained(
            fact, report
        ):
            missing_json.append(f"{fact.name} = {fact.value!r} (looked at {row.json_path})")
        shown = "unavailable" if cuda_status_explained(fact, report) else fact.value
        label_found = squeeze(row.text_label.replace("{key}", fact.key or "")) in squeezed
        value_found = row.compared != "equal" or squeeze(shown) in squeezed
        if not (label_found and value_found):
            missing_text.append(f"{fact.name} = {shown!r} (label {row.text_label!r})")
    assert not missing_json, "not in lkdoctor's JSON:\n" + "\n".join(missing_json)
    assert not missing_text, "not in lkdoctor's text:\n" + "\n".join(missing_text)


@pytest.mark.lenskit2025
def test_every_fact_of_lenskit_2025_doctor_is_in_ours(
    both_doctors: tuple[str, str, dict[str, Any]],
) -> None:
    check_parity(*both_doctors)


@pytest.mark.lenskit2026
def test_every_fact_of_lenskit_2026_doctor_is_in_ours(
    both_doctors: tuple[str, str, dict[str, Any]],
) -> None:
    check_parity(*both_doctors)


def test_a_fact_no_row_covers_fails() -> None:
    """A fact LensKit adds later is reported, not passed over."""
    later = Fact(("System information",), "NPU cores", "16")
    with pytest.raises(AssertionError, match="NPU cores"):
        row_for(later, readme_rows())


def test_lenskit_output_is_read_as_facts() -> None:
    sample = (
        "LensKit version: 2026.4.0\n\nPython version: 3.13.0\n  Platform: Linux-6\n"
        "  Python GIL enabled\n\nThreading layers\n  Rayon:\n    threads: 2\n"
        "  Backend 1:\n    user_api: openmp\n\nExecutable search paths:\n  - /bin\n"
        "  │ numpy │ 2.5.5 │\n"
    )
    names = {(f.name, f.value) for f in lenskit_facts(sample)}
    assert names == {
        ("LensKit version", "2026.4.0"),
        ("Python version", "3.13.0"),
        ("Python version / Platform", "Linux-6"),
        ("Python version / *", "Python GIL enabled"),
        ("Threading layers / Rayon / threads", "2"),
        ("Threading layers / Backend N / user_api", "openmp"),
        ("Executable search paths / *", "/bin"),
        ("Installed Packages / numpy", "2.5.5"),
    }


def test_a_value_missing_from_ours_fails(both_doctors: tuple[str, str, dict[str, Any]]) -> None:
    """The comparison looks at the values: take one out of lkdoctor's JSON, or a line out of
    its text, and the parity check names that fact."""
    own, text, report = both_doctors
    without_frequency = json.loads(json.dumps(report))
    without_frequency["environment"]["compute"]["cpu_frequency_hz"] = None
    with pytest.raises(AssertionError, match="CPU Frequency"):
        check_parity(own, text, without_frequency)
    without_platform = "\n".join(
        line for line in text.splitlines() if not line.startswith("Platform ")
    )
    with pytest.raises(AssertionError, match="Platform"):
        check_parity(own, without_platform, report)
