"""The ``[parallel]`` table of a large TOML file, without parsing the rest of it.

LensKit parses its settings files whole (``tomllib``, about 0.08 s per MB, every character
of a string in Python), and so does LensKit's own answer in the doctor's child process. For
a file far larger than any real settings, a second whole parse by the doctor would double
that cost: :func:`parallel_part` finds the statements that define ``parallel`` with one
regular-expression scan (strings, comments and brackets are tokens; the text between them
is skipped in C) and returns them alone, every other line left empty so that line numbers
stay the file's. ``tomllib`` then parses that part as it would the file; what the rest of
the file holds is not checked here (LensKit's own answer says whether it loads).
"""

from __future__ import annotations

import re
import tomllib

# One token: a string of each of TOML's four kinds (multi-line first, so that ``"""`` is not
# read as an empty string), a comment, or a character that shapes the document. A string's
# closing delimiter is optional, so an unterminated one is one token to the end instead of a
# failed match retried from every later quote; its group then says it is unterminated.
# Every loop is possessive over alternatives that start with different characters: linear.
_TOKEN = re.compile(
    r'"""(?:[^"\\]++|\\[\s\S]|""?+(?!"))*+("{3,5})?'
    r"|'''(?:[^']++|''?+(?!'))*+('{3,5})?"
    r'|"(?:[^"\\\n]++|\\[^\n])*+(")?'
    r"|'[^'\n]*+(')?"
    r"|#[^\n]*+"
    r"|[\[\]{}=\n]"
)
_CLOSED = {'"""': 1, "'''": 2, '"': 3, "'": 4}
_NOT_BLANK = re.compile(r"[^ \t\r]")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]++")
_TABLE = "parallel"


def _closed(token: re.Match[str]) -> bool:
    text = token.group()
    group = _CLOSED.get(text[:3]) or _CLOSED[text[0]]
    return token.group(group) is not None


def _first_key(key: str) -> str | None:
    """The first part of a dotted key (``parallel`` of ``parallel.num_threads``), as TOML
    reads it; None when it is not a key."""
    bare = _BARE_KEY.match(key.lstrip(" \t"))
    if bare is not None:
        rest = key.lstrip(" \t")[bare.end() :].lstrip(" \t")
        if not rest or rest.startswith("."):
            return bare.group()
    try:  # a quoted part: TOML's own reading of the escapes
        parsed = tomllib.loads(f"{key}= 0")
    except tomllib.TOMLDecodeError:
        return None
    return next(iter(parsed), None)


def _header_key(header: str) -> str | None:
    """The first key of a table header line (``[parallel]``, ``[[ "parallel" . x ]]``)."""
    try:
        parsed = tomllib.loads(header)
    except tomllib.TOMLDecodeError:
        return None
    return next(iter(parsed), None)


def parallel_part(text: str) -> str | None:
    """``text`` with only the statements that define ``parallel`` (its table headers with
    their key/value lines, and ``parallel...`` keys before the first header); every other
    line is left empty. None when the scan meets something it cannot place (an unterminated
    string, a line that is neither a key nor a header): then only a whole parse can tell."""
    keep: list[tuple[int, int]] = []
    state = "line"  # line: at a statement's start; key, value: in one; header: in [...]
    line_start = start = 0
    depth = 0  # arrays and inline tables open in a value
    in_parallel = False  # under a [parallel...] header
    at_root = True  # before the first header
    include = False  # the statement being read defines parallel
    for token in _TOKEN.finditer(text):
        kind, at = token.group()[0], token.start()
        if kind in "\"'" and not _closed(token):
            return None
        if state == "line":
            blank = _NOT_BLANK.search(text, line_start, at)
            if blank is not None:  # a bare key began before this token
                state, start = "key", blank.start()
            elif kind == "\n":
                line_start = at + 1
                continue
            elif kind == "#":
                line_start = token.end()  # only the newline may follow
                continue
            elif kind == "[":
                state, start = "header", at
                continue
            elif kind in "\"'":
                state, start = "key", at
                continue
            else:
                return None
        if state == "key":
            if kind in "\"'":
                continue
            if kind != "=":
                return None
            first = _first_key(text[start:at])
            if first is None:
                return None
            include = in_parallel or (at_root and first == _TABLE)
            state = "value"
        elif state == "value":
            if kind in "[{":
                depth += 1
            elif kind in "]}":
                depth -= 1
                if depth < 0:
                    return None
            elif kind == "\n" and depth == 0:
                if include:
                    keep.append((start, at))
                state, line_start = "line", at + 1
        elif state == "header" and kind == "\n":
            first = _header_key(text[start : at + 1])  # with its newline: "\r\n" too
            if first is None:
                return None
            in_parallel, at_root = first == _TABLE, False
            if in_parallel:
                keep.append((start, at))
            state, line_start = "line", at + 1
    # the end of the text ends the last line
    if state == "key" or depth > 0:
        return None
    if state == "line" and _NOT_BLANK.search(text, line_start) is not None:
        return None  # a key without "="
    if state == "value" and include:
        keep.append((start, len(text)))
    elif state == "header":
        first = _header_key(text[start:])
        if first is None:
            return None
        if first == _TABLE:
            keep.append((start, len(text)))
    pieces: list[str] = []
    previous = 0
    for begin, end in keep:
        pieces.append("\n" * text.count("\n", previous, begin))
        pieces.append(text[begin:end])
        previous = end
    pieces.append("\n" * text.count("\n", previous))  # a kept "\r" keeps its "\n"
    return "".join(pieces)


__all__ = ["parallel_part"]
