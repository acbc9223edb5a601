"""Undecodable bytes (lone surrogates from ``surrogateescape``) become readable ``\\xNN``."""

from __future__ import annotations

import ast
import os

from hypothesis import given
from hypothesis import strategies as st

from lkdoctor.host.proc import parse_environ
from lkdoctor.host.undecodable import (
    SHOWN_CHARS,
    cut,
    decode_host_bytes,
    escape_undecodable,
    quoted,
)


def test_undecodable_bytes_become_backslash_x() -> None:
    assert escape_undecodable(os.fsdecode(b"4\xff\xfe")) == r"4\xff\xfe"
    assert escape_undecodable("\ud800") == r"\ud800"  # no decoder makes this one: code point


def test_quoted_is_repr_with_bytes_as_backslash_x() -> None:
    assert quoted(os.fsdecode(b"\xff\xfe")) == r"'\xff\xfe'"
    # a literal backslash before the text "udcff" stays the text, not an escape
    assert quoted("\\udcff") == repr("\\udcff")
    assert quoted("\\" + os.fsdecode(b"\xff")) == r"'\\\xff'"


def test_a_long_value_is_cut_for_evidence_saying_its_length() -> None:
    assert cut("4" * SHOWN_CHARS) == "4" * SHOWN_CHARS
    assert cut("a" * 1_000_000) == "a" * SHOWN_CHARS + "… (1,000,000 characters)"


def test_another_process_environment_decodes_like_os_environ() -> None:
    env = parse_environ(b"OMP_NUM_THREADS=\xff\xfe\0PATH=/bin\0")
    assert env == {"OMP_NUM_THREADS": os.fsdecode(b"\xff\xfe"), "PATH": "/bin"}


@given(st.binary(max_size=40))
def test_any_bytes_escape_into_utf8_that_shows_every_byte(data: bytes) -> None:
    escaped = escape_undecodable(decode_host_bytes(data))
    escaped.encode("utf-8")  # printable in any UTF-8 output
    expected_bytes = data.decode("utf-8", "backslashreplace")
    assert escaped == expected_bytes


@given(st.text(max_size=40))
def test_valid_text_is_unchanged(text: str) -> None:
    if any(0xD800 <= ord(c) <= 0xDFFF for c in text):
        return
    assert escape_undecodable(text) == text
    assert quoted(text) == repr(text)


#: Each undecodable byte read back from ``\\xNN`` as the Latin-1 character of that value.
_BYTE_AS_LATIN1 = {0xDC80 + i: 0x80 + i for i in range(128)}


_PIECES = ["a", " ", "'", '"', "\n", "\\", "é", "udcff", "\udcff", "\udc80"]


@given(st.lists(st.sampled_from(_PIECES), max_size=30))
def test_quoted_is_a_literal_that_reads_back_with_bytes_as_backslash_x(pieces: list[str]) -> None:
    text = "".join(pieces)
    shown = quoted(text)
    assert ast.literal_eval(shown) == text.translate(_BYTE_AS_LATIN1)
    shown.encode("utf-8")
