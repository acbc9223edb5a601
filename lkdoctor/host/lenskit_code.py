"""Facts read from the installed LensKit's own source (a class, a call, with file and line),
parsed without importing it; each line's ``workers.py`` asks for the facts of its release."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class CodeFact:
    """A line of LensKit's code that decides something, and what it decides."""

    value: str
    path: Path
    line: int
    text: str

    @property
    def source(self) -> str:
        return f"{self.path}:{self.line}: {self.text}"


def parsed(path: Path) -> ast.Module | None:
    """``path`` parsed; None when it cannot be read or parsed."""
    try:
        return ast.parse(path.read_text(encoding="utf-8"), str(path))
    except (OSError, SyntaxError, ValueError, UnicodeDecodeError):
        return None


def call_name(node: ast.expr) -> str:
    """The name a call or base class is written with: ``f`` of ``f()`` and ``m.f()``."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def call_fact(path: Path, callee: str) -> CodeFact | None:
    """The first call of ``callee`` in ``path``; its value says whether it passes a context."""
    tree = parsed(path)
    if tree is None:
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and call_name(node.func) == callee:
            takes_ctx = bool(node.args) or any(k.arg == "ctx" for k in node.keywords)
            return CodeFact("ctx" if takes_ctx else "default", path, node.lineno, f"{callee}()")
    return None
