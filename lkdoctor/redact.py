"""Masking of secrets (always) and of identity (``--redact``), applied to the report model.

Every format renders the same masked model, so nothing that leaves the machine can carry
a secret: the report is dumped to plain data, every string is scrubbed, and the result is
validated back into a :class:`~lkdoctor.report.Report`.

Always masked:
- values of variables whose names look secret (``*TOKEN*``, ``*SECRET*``, ``*PASSWORD*``,
  ``*KEY*``, ``*AUTH*``, ...), wherever the model keeps ``NAME: value`` pairs, and in
  ``NAME=value`` text;
- credentials inside URLs (``scheme://user:pass@host`` → ``scheme://****@host``);
- any other occurrence of a secret variable's value (when it is long enough to be unique).

Every string also leaves with undecodable bytes (lone surrogates from ``surrogateescape``)
written as ``\\xNN``, so that every format can print it.

With ``hide_identity`` (``--redact``) also: the home folder becomes ``~``, the user name
``<user>`` and the host name ``<host>``.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import platform
import re
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from lkdoctor.host.undecodable import SHOWN_CHARS, escape_undecodable
from lkdoctor.report import Report

MASK = "****"
USER_MASK = "<user>"
HOST_MASK = "<host>"

_SECRET_NAME = re.compile(
    r"TOKEN|SECRET|PASSW(?:OR)?D|PASSPHRASE|PASS(?:_|$)|KEY|CREDENTIAL|CREDS|AUTH|PRIVATE"
    r"|SESSION|COOKIE|SIGNATURE|(?:^|_)PWD(?:_|$)|API_?KEY",
    re.IGNORECASE,
)
#: Names that match the pattern but never hold a secret.
_NOT_SECRET = frozenset({"PWD", "OLDPWD", "TOKENIZERS_PARALLELISM"})
#: Environment-style names (the keys of variable maps in the model).
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: The ``NAME=`` of ``NAME=value`` inside free text (evidence, error messages), and its value.
_ASSIGNED_NAME = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*+)=")
_ASSIGNED_VALUE = re.compile(r"\"[^\"]*+\"|'[^']*+'|[^\s,;]++")
#: The ``user:pass@`` or ``token@`` of ``scheme://user:pass@host``. Every pattern here runs in
#: time linear in the text (a hostile variable must not stall the report): a match may start
#: only where a look-behind allows it, and possessive quantifiers never give characters back.
#: Here the match starts right after ``://`` (not at the scheme, which every letter of a long
#: word could begin).
_URL_USERINFO = re.compile(r"(?<=[A-Za-z0-9+.-]://)[^/\s@]++@")
#: ``user:pass@host`` without a scheme (e.g. a Redis or Ray address); it starts where a run
#: of user-name characters starts, never inside one.
_BARE_USERINFO = re.compile(r"(?<![\w/:.@%+-])[\w.%+-]++:[^\s/@:]++@(?=[\w.-])")
#: Where ``cut`` shortened a long value for evidence.
CUT_MARK = "…"
#: The userinfo of a URL that a cut ends (``https://user:pa…``): no ``@`` is left to find it.
URL_AT_CUT = re.compile(r"(?<=[A-Za-z0-9+.-]://)[^/\s@]++$")
#: A value this short is too likely to occur by chance to be replaced everywhere.
_MIN_SECRET_LENGTH = 8


def looks_secret(name: str) -> bool:
    """Does a variable with this name probably hold a secret?"""
    return name.upper() not in _NOT_SECRET and _SECRET_NAME.search(name) is not None


def mask_urls(text: str) -> str:
    """Credentials inside URLs and ``user:pass@host`` addresses, masked."""
    text = _URL_USERINFO.sub(f"{MASK}@", text)
    return _BARE_USERINFO.sub(f"{MASK}@", text)


def mask_assignments(text: str) -> str:
    """``SECRET_NAME=value`` in free text becomes ``SECRET_NAME=****``.

    The value of any other name is searched too (``OMP_NUM_THREADS='API_TOKEN=…'``), so
    the scan resumes right after each ``NAME=`` that is not secret; each character is read
    a bounded number of times.
    """
    pieces: list[str] = []
    done = position = 0
    while (name := _ASSIGNED_NAME.search(text, position)) is not None:
        position = name.end()
        if not looks_secret(name.group(1)):
            continue
        value = _ASSIGNED_VALUE.match(text, position)
        if value is None:
            continue
        pieces += [text[done:position], MASK]
        done = position = value.end()
    pieces.append(text[done:])
    return "".join(pieces)


def secret_values(environs: Iterable[Mapping[str, str]]) -> set[str]:
    """Values of secret-looking variables (and URL passwords) worth hunting down elsewhere."""
    found: set[str] = set()
    for environ in environs:
        for name, value in environ.items():
            if looks_secret(name):
                found.add(value)
            for match in _URL_USERINFO.finditer(value):
                found.update(match.group()[:-1].split(":", 1))
    # also as the report writes them once undecodable bytes are escaped (evidence quotes them)
    found |= {escape_undecodable(v) for v in found}
    # and as Python's repr writes them (LensKit 2026's pydantic errors quote input_value so)
    found |= {repr(v)[1:-1] for v in found}
    return {v for v in found if len(v) >= _MIN_SECRET_LENGTH and not v.isdigit()}


@dataclass
class Identity:
    """What ``--redact`` hides: home folders, user names, host names."""

    homes: list[str] = field(default_factory=list)
    users: list[str] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)

    @classmethod
    def of_this_machine(
        cls, environ: Mapping[str, str], other_hosts: Iterable[str] = ()
    ) -> Identity:
        """This machine's home, users and host names, and ``other_hosts`` (a cluster's nodes)."""
        homes = {environ.get("HOME", ""), os.path.expanduser("~")}
        users = {environ.get(n, "") for n in ("USER", "LOGNAME", "USERNAME", "SLURM_JOB_USER")}
        with contextlib.suppress(KeyError, OSError):  # no passwd entry for this uid
            users.add(getpass.getuser())
        hosts = {socket.gethostname(), platform.node(), environ.get("HOSTNAME", ""), *other_hosts}
        hosts |= {environ.get("SLURMD_NODENAME", ""), environ.get("SLURM_SUBMIT_HOST", "")}
        hosts |= {h.split(".", 1)[0] for h in hosts}
        return cls(
            homes=_longest_first(h.rstrip("/") for h in homes if len(h.rstrip("/")) > 1),
            users=_longest_first(u for u in users if u),
            hosts=_longest_first(h for h in hosts if len(h) > 1),
        )

    def hide(self, text: str) -> str:
        for home in self.homes:
            text = re.sub(re.escape(home) + r"(?=/|$|[^\w.-])", "~", text)
        for user in self.users:
            if text == user:
                return USER_MASK
            # as a path component or before an @: never inside other words ("root" in "cgroup root")
            text = re.sub(rf"(?<=/){re.escape(user)}(?=/|$)", USER_MASK, text)
            text = re.sub(rf"(?<![\w.-]){re.escape(user)}(?=@)", USER_MASK, text)
        for host in self.hosts:
            text = re.sub(rf"(?<![\w-]){re.escape(host)}(?![\w-])", HOST_MASK, text)
        return text


def _is_variable_name(key: str) -> bool:
    # Upper case only: lower-case keys are the model's own field names ("key" is no secret).
    return _ENV_NAME.match(key) is not None and key == key.upper()


def _longest_first(items: Iterable[str]) -> list[str]:
    return sorted(set(items), key=lambda s: (-len(s), s))


@dataclass
class Scrubber:
    secrets: set[str]
    identity: Identity | None

    def text(self, text: str) -> str:
        for secret in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(secret, MASK)
        if CUT_MARK in text:
            text = self._cut_secrets(text)
        text = mask_assignments(mask_urls(text))
        # after masking, so a secret with undecodable bytes is still found and masked
        text = escape_undecodable(text)
        return self.identity.hide(text) if self.identity else text

    def _cut_secrets(self, text: str) -> str:
        """A secret that a long value's cut (``…``, see ``cut``) split: its beginning, masked."""
        pieces = text.split(CUT_MARK)
        for index, piece in enumerate(pieces[:-1]):
            for secret in self.secrets:
                # the longest beginning of the secret the piece ends with (a cut shows at most
                # SHOWN_CHARS characters, so this stays short)
                for length in range(min(len(secret) - 1, len(piece), SHOWN_CHARS), 3, -1):
                    if piece.endswith(secret[:length]):
                        piece = piece[:-length] + MASK
                        break
            pieces[index] = URL_AT_CUT.sub(MASK, piece)
        return CUT_MARK.join(pieces)

    def value(self, value: Any, name: str | None = None) -> Any:
        if isinstance(value, str):
            if name is not None and _is_variable_name(name) and looks_secret(name) and value:
                return MASK
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(str(k)): self.value(v, str(k)) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(v) for v in value]
        return value


def redact_report(
    report: Report,
    *,
    environs: Iterable[Mapping[str, str]] = (),
    hide_identity: bool = False,
    identity: Identity | None = None,
    other_hosts: Iterable[str] = (),
) -> Report:
    """A copy of ``report`` with secrets masked, and with ``hide_identity`` user/host/home hidden.

    ``environs`` are the environments the report was read from (their secret values are
    hunted down anywhere in the report); ``other_hosts`` are host names the report holds
    besides this machine's (a cluster's nodes); ``identity`` overrides both for tests.
    """
    environs = list(environs)
    if hide_identity and identity is None:
        environ = environs[0] if environs else os.environ
        identity = Identity.of_this_machine(environ, other_hosts)
    scrubber = Scrubber(secret_values(environs), identity if hide_identity else None)
    original = report.model_dump(mode="json")
    scrubbed = scrubber.value(original)
    if hide_identity and isinstance(scrubbed.get("environment"), dict):
        scrubbed["environment"]["redacted"] = True
    return _validate(scrubbed, original)


def _validate(scrubbed: dict[str, Any], original: dict[str, Any]) -> Report:
    """Back into the model; a fixed-vocabulary field a mask broke gets its original back."""
    for _ in range(10):
        try:
            return Report.model_validate(scrubbed)
        except ValidationError as exc:
            for error in exc.errors():
                _restore(scrubbed, original, error["loc"])
    raise RuntimeError("the masked report does not fit the model; refusing to leak it unmasked")


def _restore(target: Any, source: Any, loc: tuple[int | str, ...]) -> None:
    # The error path may end inside a union branch name; stop where the data stops.
    for i, step in enumerate(loc):
        try:
            if i == len(loc) - 1 or not isinstance(source[step], dict | list):
                target[step] = source[step]
                return
            target, source = target[step], source[step]
        except (KeyError, IndexError, TypeError):
            return
