"""Text from the host that is not valid UTF-8: environment values, file names, /proc files.

Python decodes such bytes with ``surrogateescape`` (``os.environ``, ``os.fsdecode``): each
undecodable byte becomes a lone surrogate U+DC80–U+DCFF, which no UTF-8 output can carry
(JSON serialisation fails on it). The report shows each such byte as the text ``\\xNN``.
"""

from __future__ import annotations

import re

#: Any lone surrogate; U+DC80–U+DCFF are the undecodable bytes 0x80–0xFF.
_SURROGATE = re.compile("[\ud800-\udfff]")
#: ``\\udcNN`` as ``repr`` writes an undecodable byte: preceded by an even run of backslashes
#: (an odd run would make it the text "udc…" after a literal backslash).
_REPR_UNDECODABLE = re.compile(r"(?<!\\)((?:\\\\)*+)\\udc([89a-f][0-9a-f])")


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"
    return f"\\u{code:04x}"  # a surrogate no decoder produces: shown by its code point


def escape_undecodable(text: str) -> str:
    """``text`` with every undecodable byte written as ``\\xNN``; valid text is unchanged."""
    return _SURROGATE.sub(_escaped, text)


def quoted(text: str) -> str:
    """``repr(text)`` for evidence, with undecodable bytes as ``\\xNN`` rather than ``\\udcNN``."""
    return _REPR_UNDECODABLE.sub(lambda m: f"{m.group(1)}\\x{m.group(2)}", repr(text))


#: Longer text is cut where the report quotes it: no real setting comes near, and a
#: megabyte pasted into a variable would otherwise be copied into every finding about it.
SHOWN_CHARS = 200


def cut(text: str, limit: int = SHOWN_CHARS) -> str:
    """``text`` for evidence: its first ``limit`` characters, and its length when it is longer."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text):,} characters)"


def decode_host_bytes(data: bytes) -> str:
    """Bytes from the host decoded as Python decodes ``os.environ`` (UTF-8, surrogateescape)."""
    return data.decode("utf-8", "surrogateescape")
