"""Every regular expression and text scan over input a user controls runs in linear time.

A hostile value (a certificate pasted into ``OMP_NUM_THREADS``, a megabyte line in
``lenskit.toml``) must not stall the report. Each operation is timed on adversarial inputs
of 10 kB and 100 kB: linear work grows 10×, quadratic 100×, so the test asserts at most
20×. It is a ratio measured on one machine, never an absolute time, and each size is
timed several times, interleaved, keeping the minimum, so another process's burst on a
shared machine cannot decide it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest
from helpers import run_python
from samples import bad_env

from lkdoctor.host.undecodable import escape_undecodable, quoted
from lkdoctor.model import Finding, Section, Severity
from lkdoctor.plan.lenskit2026.settings import key_lines
from lkdoctor.plan.lenskit2026.toml_table import parallel_part
from lkdoctor.pools.kinds import KINDS
from lkdoctor.redact import (
    MASK,
    Identity,
    mask_assignments,
    mask_urls,
    redact_report,
    secret_values,
)

SMALL = 10_000
LARGE = 100_000
#: Linear is 10×, quadratic 100×: 20× leaves room for caches and noise, not for a square.
MAX_RATIO = 20.0
ROUNDS = 5
#: Each timed round repeats the large input's call until it has run this long, and the small
#: input's call ten times as often, so that both measurements span about the same time (a
#: scheduler's time slice hits them alike) above the clock's granularity.
MIN_SECONDS = 0.002

#: Repeated to the input's length: the shapes that make a backtracking pattern retry from
#: every position (letters, ``a:``, ``a://``, ``=`` runs, digits, spaces, non-ASCII) and the
#: characters each of lkdoctor's own patterns treats specially.
SHAPES = (
    "a",
    "a:",
    "a://",
    "=",
    "a=",
    "1",
    " ",
    "é",
    "a%",
    "a:b!",
    "\\",
    "[ a",
    "\udcff",
    "a\n",
    "a…",
)
#: A prefix followed by a long run: an unclosed quote, a scheme, a table header.
PREFIXED = (
    ("x://", "a"),
    ("https://user:", "a:"),
    ('API_KEY="', "a "),
    ("a", " "),
    ("[", "a"),
)


def adversarial(length: int, shapes: tuple[str, ...] = SHAPES) -> list[tuple[str, str]]:
    inputs = [(repr(shape), (shape * (length // len(shape) + 1))[:length]) for shape in shapes]
    if shapes is SHAPES:
        for prefix, run in PREFIXED:
            body = (run * length)[: length - len(prefix)]
            inputs.append((f"{prefix!r} + {run!r}", prefix + body))
    return inputs


def _cpu_seconds(operation: Callable[[str], object], text: str, repeat: int) -> float:
    # this thread's CPU time, not the wall clock: waiting for a CPU on a loaded machine is
    # not work the operation did
    start = time.thread_time()
    for _ in range(repeat):
        operation(text)
    return time.thread_time() - start


def growth(operation: Callable[[str], object], small: str, large: str) -> float:
    """How many times longer ``operation`` takes on ``large`` than on ``small``, per call."""
    repeat = 1
    while _cpu_seconds(operation, large, repeat) < MIN_SECONDS and repeat < 1 << 12:
        repeat *= 2
    scale = len(large) // len(small)
    small_times, large_times = [], []
    for _ in range(ROUNDS):  # interleaved: a burst of load hits both sizes alike
        small_times.append(_cpu_seconds(operation, small, repeat * scale) / scale)
        large_times.append(_cpu_seconds(operation, large, repeat))
    return min(large_times) / min(small_times)


def assert_linear(
    name: str, operation: Callable[[str], object], shapes: tuple[str, ...] = SHAPES
) -> None:
    # the first shape that grows too fast fails it: a quadratic one takes long enough once
    pairs = zip(adversarial(SMALL, shapes), adversarial(LARGE, shapes), strict=True)
    for (shape, small), (_, large) in pairs:
        ratio = growth(operation, small, large)
        assert ratio <= MAX_RATIO, (
            f"{name} grows faster than linearly on {shape} repeated: "
            f"100 kB take {ratio:.0f}× as long as 10 kB (linear: 10×)"
        )


#: Lists every compiled pattern at module level anywhere in the lkdoctor package.
DISCOVER_PATTERNS = """
import importlib, json, pkgutil, re
import lkdoctor
found = {}
for info in pkgutil.walk_packages(lkdoctor.__path__, "lkdoctor."):
    module = importlib.import_module(info.name)
    for attribute, value in vars(module).items():
        if isinstance(value, re.Pattern) and isinstance(value.pattern, str):
            found.setdefault(f"{info.name}.{attribute}", [value.pattern, value.flags])
print(json.dumps(found))
"""


def module_patterns() -> dict[str, re.Pattern[str]]:
    """Every compiled pattern at module level in lkdoctor, found in a child process: importing
    every module loads LensKit, torch and Ray, which the test session must not."""
    found = run_python(DISCOVER_PATTERNS)
    return {name: re.compile(pattern, flags) for name, (pattern, flags) in found.items()}


PATTERNS = module_patterns()


def test_the_pattern_search_finds_the_patterns_that_parse_user_input() -> None:
    # so that the parametrised test below cannot pass by finding nothing
    expected = {
        "lkdoctor.redact._URL_USERINFO",
        "lkdoctor.redact._BARE_USERINFO",
        "lkdoctor.redact._ASSIGNED_NAME",
        "lkdoctor.redact._ASSIGNED_VALUE",
        "lkdoctor.redact._SECRET_NAME",
        "lkdoctor.plan.lenskit2026.settings._KEY",
        "lkdoctor.plan.lenskit2026.settings._TABLE",
        "lkdoctor.plan.lenskit2026.toml_table._TOKEN",
        "lkdoctor.host.undecodable._REPR_UNDECODABLE",
    }
    assert expected <= set(PATTERNS)


def _scan(pattern: re.Pattern[str]) -> Callable[[str], object]:
    # every start position (finditer), and the anchored match key_lines and friends use
    def operation(text: str) -> object:
        return sum(1 for _ in pattern.finditer(text)), pattern.match(text)

    return operation


@pytest.mark.parametrize("name", sorted(PATTERNS))
def test_every_module_pattern_is_linear(name: str) -> None:
    assert_linear(name, _scan(PATTERNS[name]))


def test_pool_library_patterns_are_linear() -> None:
    libraries = [library for kind in KINDS for library in kind.libraries]
    assert libraries
    for library in libraries:
        assert_linear(f"library {library.name}", library.matches)


@pytest.mark.parametrize(
    ("name", "operation"),
    [
        ("mask_urls", mask_urls),
        ("mask_assignments", mask_assignments),
        ("secret_values", lambda text: secret_values([{"OMP_NUM_THREADS": text, "X_KEY": text}])),
        ("key_lines", key_lines),
        ("parallel_part", parallel_part),
        ("quoted", quoted),
        ("escape_undecodable", escape_undecodable),
        (
            "Identity.hide",
            Identity(homes=["/home/alice"], users=["alice"], hosts=["node-1"]).hide,
        ),
    ],
)
def test_text_functions_are_linear(name: str, operation: Callable[[str], object]) -> None:
    assert_linear(name, operation)


def _redact_whole_report(text: str) -> object:
    report = bad_env()
    report.environment.variables["OMP_NUM_THREADS"] = text
    report.findings.append(
        Finding(
            id="env-invalid",
            severity=Severity.ERROR,
            section=Section.PLAN,
            title="OMP_NUM_THREADS has an invalid value",
            evidence=f"OMP_NUM_THREADS={text!r}",
            remediation="set OMP_NUM_THREADS to a positive integer, or unset it",
        )
    )
    environ = {"OMP_NUM_THREADS": text, "API_TOKEN": "s3cr3t-token-value"}
    return redact_report(report, environs=[environ], hide_identity=True)


def test_redacting_a_whole_report_is_linear() -> None:
    # the shapes the issue measured; each call dumps and validates a whole report
    assert_linear(
        "redact_report", _redact_whole_report, ("a", "a:", "a://", "=", "1", " ", "é", "a…")
    )


SECRET = "hunter2-" + "Zq9" * 8
MEGABYTE = 1_000_000


@pytest.mark.parametrize("where", ["start", "middle", "end"])
@pytest.mark.parametrize(
    ("name", "planted", "environ_secret"),
    [
        # the value of a secret-looking variable, found again inside a long one
        ("a secret variable's value", SECRET, True),
        # a password inside a URL, masked by its shape alone
        ("URL credentials", f"https://alice:{SECRET}@db.example.org/x", False),
        # NAME=value in the text
        ("an assignment", f"API_TOKEN={SECRET}", False),
    ],
)
def test_a_secret_in_a_megabyte_value_is_masked(
    where: str, name: str, planted: str, environ_secret: bool
) -> None:
    filler = "a" * MEGABYTE
    value = {
        "start": f"{planted} {filler}",
        "middle": f"{filler[: MEGABYTE // 2]} {planted} {filler[MEGABYTE // 2 :]}",
        "end": f"{filler} {planted}",
    }[where]
    environ = {"OMP_NUM_THREADS": value}
    if environ_secret:
        environ["API_TOKEN"] = SECRET
    report = bad_env()
    report.environment.variables["OMP_NUM_THREADS"] = value
    report.findings.append(
        Finding(
            id="env-invalid",
            severity=Severity.ERROR,
            section=Section.PLAN,
            title="OMP_NUM_THREADS has an invalid value",
            evidence=f"OMP_NUM_THREADS={value!r}",
            remediation="set OMP_NUM_THREADS to a positive integer, or unset it",
        )
    )
    masked = redact_report(report, environs=[environ])
    dumped = masked.model_dump_json()
    assert SECRET not in dumped, f"{name} at the {where} of a 1 MB value leaked"
    assert MASK in masked.environment.variables["OMP_NUM_THREADS"]
    # the rest of the value is kept whole, not cut: masking never shortens silently
    kept = masked.environment.variables["OMP_NUM_THREADS"]
    assert kept.count("a") >= MEGABYTE
