"""Output streams that cannot encode every character (``PYTHONIOENCODING=ascii``, latin-1).

The reports use a few symbols (✓ ✗ · → ×) that such a stream cannot write. Rather than end
in a ``UnicodeEncodeError``, text and Markdown get plain-ASCII symbols and any other
character the stream lacks as a ``\\x``/``\\u`` escape; JSON gets its own ``\\uXXXX``
escapes, so it stays valid JSON with the same content. A UTF-8 stream is left untouched.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable
from typing import IO

from lkdoctor.host.undecodable import escape_undecodable

#: Symbols the reports use, in plain ASCII; one character each where tables are aligned.
ASCII_SYMBOLS = {
    "✓": "+",
    "✗": "x",
    "·": "-",
    "←": "<",
    "→": ">",
    "×": "x",
    "–": "-",
    "—": "-",
    "≥": ">=",
    "≤": "<=",
    "…": "...",
}


def stream_encoding(stream: object) -> str:
    """The codec name of ``stream`` (UTF-8 when it has none, as for ``io.StringIO``)."""
    name = getattr(stream, "encoding", None) or "utf-8"
    try:
        return codecs.lookup(name).name
    except LookupError:
        return "ascii"  # an encoding Python does not know: assume the least


def encodes_everything(stream: object) -> bool:
    """Can ``stream`` write any character (a UTF encoding)?"""
    return stream_encoding(stream).startswith("utf")


def _fits(text: str, encoding: str) -> bool:
    try:
        text.encode(encoding)
    except UnicodeEncodeError:
        return False
    return True


def _fit(text: str, encoding: str, substitute: Callable[[str], str]) -> str:
    """``text`` with each character ``encoding`` lacks replaced by ``substitute(char)``."""
    if _fits(text, encoding):
        return text
    return "".join(char if _fits(char, encoding) else substitute(char) for char in text)


def _plain(char: str) -> str:
    if char in ASCII_SYMBOLS:
        return ASCII_SYMBOLS[char]
    escaped = escape_undecodable(char)  # an undecodable byte as \xNN
    if escaped != char:
        return escaped
    return char.encode("ascii", "backslashreplace").decode("ascii")


def _json_escape(char: str) -> str:
    code = ord(char)
    if code > 0xFFFF:  # a UTF-16 surrogate pair, as JSON writes it
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


def fit_text(text: str, encoding: str) -> str:
    """``text`` as ``encoding`` can write it: ASCII symbols, then ``\\x``/``\\u`` escapes."""
    return _fit(text, encoding, _plain)


def fit_json(text: str, encoding: str) -> str:
    """JSON text as ``encoding`` can write it: each character it lacks as a JSON escape."""
    return _fit(text, encoding, _json_escape)


class FittedStream:
    """A text stream that writes only what its encoding can carry (see :func:`fit_text`).

    It passes ``encoding`` and ``isatty`` through, so Rich still sees the real stream (and
    itself draws ASCII table borders for a non-UTF-8 one).
    """

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    @property
    def encoding(self) -> str:
        return stream_encoding(self.stream)

    def write(self, text: str) -> int:
        self.stream.write(fit_text(text, self.encoding))
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return self.stream.isatty()

    def fileno(self) -> int:
        return self.stream.fileno()
