"""Output streams that cannot encode every character get ASCII symbols and escapes, never a
``UnicodeEncodeError``; a UTF-8 stream gets the report unchanged."""

from __future__ import annotations

import io
import json
import os
import pty
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from samples import SAMPLES, bad_env

from lkdoctor.host.undecodable import decode_host_bytes
from lkdoctor.model import ErrorEntry, Finding
from lkdoctor.output import make_console, render
from lkdoctor.redact import redact_report
from lkdoctor.render.encoding import ASCII_SYMBOLS, fit_json, fit_text
from lkdoctor.render.progress import bench_status
from lkdoctor.report import Report

ENCODINGS = ("ascii", "latin-1", "cp1252", "utf-8")
#: Text as the host hands it over: any character, and undecodable bytes as surrogates.
hostile_text = st.one_of(
    st.text(max_size=30),
    st.binary(max_size=30).map(decode_host_bytes),
    st.lists(st.sampled_from([*ASCII_SYMBOLS, "é", "😀", "\udcff", "a", "\\"])).map("".join),
)


def stream(encoding: str) -> tuple[io.BytesIO, io.TextIOWrapper]:
    raw = io.BytesIO()
    return raw, io.TextIOWrapper(raw, encoding=encoding, errors="strict", write_through=True)


def rendered(report: Report, fmt: str, encoding: str, full: bool = True) -> bytes:
    raw, text_stream = stream(encoding)
    render(report, fmt, full=full, console=make_console("never", {}, file=text_stream))  # type: ignore[arg-type]
    text_stream.flush()
    return raw.getvalue()


@pytest.mark.parametrize("name", sorted(SAMPLES))
@pytest.mark.parametrize("fmt", ["text", "markdown"])
def test_a_utf8_stream_gets_the_report_unchanged(name: str, fmt: str) -> None:
    report = SAMPLES[name]()
    raw, text_stream = stream("utf-8")
    render(report, fmt, full=False, console=make_console("never", {}, file=text_stream))  # type: ignore[arg-type]
    plain = io.StringIO()
    render(report, fmt, full=False, console=make_console("never", {}, file=plain))  # type: ignore[arg-type]
    assert raw.getvalue().decode("utf-8") == plain.getvalue()
    assert "✓" in plain.getvalue() or "✗" in plain.getvalue()  # the symbols are really there


@pytest.mark.parametrize("encoding", ["ascii", "latin-1"])
@pytest.mark.parametrize("fmt", ["text", "markdown"])
def test_symbols_become_ascii_on_a_narrow_stream(encoding: str, fmt: str) -> None:
    out = rendered(bad_env(), fmt, encoding).decode(encoding)
    utf8 = rendered(bad_env(), fmt, "utf-8").decode("utf-8")
    assert "✗" in utf8
    assert "✗" not in out and "✓" not in out
    # the same report, symbol for symbol: only the symbols the stream lacks were replaced
    lacking = {s: a for s, a in ASCII_SYMBOLS.items() if fit_text(s, encoding) != s}
    expected = utf8
    for symbol, ascii_symbol in lacking.items():
        expected = expected.replace(symbol, ascii_symbol)
    if fmt == "markdown":
        assert out == expected
    else:  # Rich draws its own ASCII table borders for a stream that is not UTF-8
        assert out.splitlines()[0] == expected.splitlines()[0]
        assert "x Thread plan" in out or "! Thread plan" in out


def test_json_on_a_narrow_stream_is_the_same_json() -> None:
    report = bad_env()
    report.findings.append(
        Finding(id="x", severity="info", section="cpu", title="✓ 😀 é ×", evidence="→")
    )
    utf8 = rendered(report, "json", "utf-8").decode("utf-8")
    for encoding in ("ascii", "latin-1"):
        out = rendered(report, "json", encoding).decode(encoding)
        assert json.loads(out) == json.loads(utf8)


@settings(max_examples=300, deadline=None)
@given(hostile_text, st.sampled_from(ENCODINGS))
def test_fit_text_always_fits_and_keeps_what_fits(text: str, encoding: str) -> None:
    fitted = fit_text(text, encoding)
    fitted.encode(encoding)  # strict
    if all(ord(c) < 0xD800 or ord(c) > 0xDFFF for c in text):
        try:
            text.encode(encoding)
        except UnicodeEncodeError:
            return
        assert fitted == text


@settings(max_examples=300, deadline=None)
@given(hostile_text, st.sampled_from(ENCODINGS))
def test_fit_json_always_fits_and_reads_back_the_same(text: str, encoding: str) -> None:
    if any(0xD800 <= ord(c) <= 0xDFFF for c in text):
        text = "".join(c for c in text if not 0xD800 <= ord(c) <= 0xDFFF)  # the model has none
    document = json.dumps({"value": text}, ensure_ascii=False)
    fitted = fit_json(document, encoding)
    fitted.encode(encoding)
    assert json.loads(fitted) == {"value": text}


@settings(
    max_examples=40,
    deadline=None,  # a report renders in tens of ms; the shared CI machine may be slower
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    st.dictionaries(
        st.sampled_from(["OMP_NUM_THREADS", "LK_NUM_THREADS", "RAY_API_TOKEN", "PYTHONPATH"]),
        hostile_text,
        max_size=4,
    ),
    hostile_text,
    st.sampled_from(["ascii", "latin-1", "utf-8"]),
)
def test_hostile_strings_anywhere_in_a_report_render_in_every_format(
    variables: dict[str, str], message: str, encoding: str
) -> None:
    report = bad_env()
    assert report.environment is not None
    report.environment.variables.update(variables)
    report.errors.append(ErrorEntry(section="pools", message=message))
    report.findings.append(
        Finding(id="y", severity="warning", section="plan", title=message, evidence=message)
    )
    report = redact_report(report, environs=[variables])
    for fmt in ("text", "markdown", "json"):
        out = rendered(report, fmt, encoding).decode(encoding)
        if fmt == "json":  # valid, and every string UTF-8 (undecodable bytes escaped)
            Report.model_validate(json.loads(out)).errors[-1].message.encode("utf-8")


def test_the_status_line_on_an_ascii_terminal_is_ascii() -> None:
    master, slave = pty.openpty()
    try:
        with (
            os.fdopen(slave, "wb", closefd=False) as raw,
            io.TextIOWrapper(raw, encoding="ascii", errors="strict") as terminal,
        ):
            with bench_status(file=terminal) as progress:
                assert progress is not None  # a terminal: the status is shown
                progress("measuring peak")
                time.sleep(0.3)  # the status refreshes on its own thread
            terminal.flush()
        shown = os.read(master, 65536)
    finally:
        os.close(master)
        os.close(slave)
    assert b"measuring peak" in shown
    shown.decode("ascii")  # strict: the spinner too is plain ASCII
