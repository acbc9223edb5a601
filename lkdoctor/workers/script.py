"""The static check of a script: module-level code that reaches process-based work.

A spawned (or forkserver) worker imports the parent's main script as ``__mp_main__``, so
every statement outside ``if __name__ == "__main__":`` runs again in every worker; one
that starts processes there fails with "An attempt has been made to start a new process
before the current process has finished its bootstrapping phase". The script is parsed
with :mod:`ast`, never imported or run. Calls are followed through import aliases and
through the functions and classes the same file defines; the walk is iterative, so deep
nesting cannot exhaust the stack, and every way a file can be unreadable becomes a
``not-checked`` status with the reason.
"""

from __future__ import annotations

import ast
import io
import tokenize
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from lkdoctor.model import ScriptCheck, ScriptLocation, UnguardedCall

#: Larger files are not parsed (a generated file, not a script someone runs by hand).
MAX_BYTES = 4 * 2**20

#: The process-based APIs, by qualified name: LensKit 2025's batch functions, runner and
#: parallel invoker, and the standard library's process pools.
LENSKIT_TARGETS = {
    "lenskit.batch.recommend",
    "lenskit.batch.predict",
    "lenskit.batch.score",
    "lenskit.batch.BatchPipelineRunner.run",
    "lenskit.batch._runner.BatchPipelineRunner.run",
    "lenskit.parallel.invoker",
    "lenskit.parallel.invoker.invoker",
    "lenskit.parallel.multiprocess_executor",
    "lenskit.parallel.pool.multiprocess_executor",
    "lenskit.parallel.pool.ProcessPoolOpInvoker",
}
STDLIB_TARGETS = {
    "multiprocessing.Pool",
    "multiprocessing.Process",
    "multiprocessing.pool.Pool",
    "multiprocessing.context.Process",
    "concurrent.futures.ProcessPoolExecutor",
    "concurrent.futures.process.ProcessPoolExecutor",
}
TARGETS = LENSKIT_TARGETS | STDLIB_TARGETS

#: Classes whose instances start processes when a method is called, not when made.
RUNNER_CLASSES = {"lenskit.batch.BatchPipelineRunner", "lenskit.batch._runner.BatchPipelineRunner"}

Status = Literal["protected", "unprotected", "no-process-work", "not-checked"]


def _shorten(text: str, width: int = 100) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def read_source(path: Path) -> tuple[str | None, str]:
    """The script's text as Python decodes it (PEP 263), or None and why it cannot be."""
    try:
        if not path.exists():
            return None, "no such file"
        if path.is_dir():
            main = path / "__main__.py"
            if not main.is_file():
                return None, "a folder without __main__.py, not a script"
            path = main
        if not path.is_file():
            return None, "not a regular file"
        size = path.stat().st_size
        if size > MAX_BYTES:
            return None, f"{size / 2**20:.1f} MiB: larger than {MAX_BYTES // 2**20} MiB, not parsed"
        data = path.read_bytes()
    except FileNotFoundError:
        return None, "no such file"
    except OSError as exc:
        return None, f"cannot be read: {exc.strerror or exc}"
    if b"\0" in data:
        return None, "a binary file (NUL bytes), not Python source"
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        return data.decode(encoding), ""
    except (SyntaxError, LookupError, UnicodeDecodeError) as exc:
        return None, f"not decodable as Python source: {exc}"


def _is_main_guard(test: ast.expr) -> bool:
    """``__name__ == "__main__"`` in either order."""
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1):
        return False
    if not isinstance(test.ops[0], ast.Eq):
        return False
    sides = [test.left, test.comparators[0]]
    names = [s for s in sides if isinstance(s, ast.Name) and s.id == "__name__"]
    mains = [s for s in sides if isinstance(s, ast.Constant) and s.value == "__main__"]
    return len(names) == 1 and len(mains) == 1


def _calls(root: ast.AST) -> Iterator[ast.Call]:
    """The calls ``root`` makes when it runs: not those inside functions, classes or lambdas
    it only defines (a class body does run; its methods do not)."""
    stack: list[ast.AST] = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Call):
            yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                stack.extend(child.decorator_list if not isinstance(child, ast.Lambda) else [])
                stack.extend(child.args.defaults + [d for d in child.args.kw_defaults if d])
                continue
            stack.append(child)


def _module_level(tree: ast.Module) -> Iterator[ast.stmt]:
    """Statements that run on import: all but the guard's body (its ``else`` runs)."""
    pending: deque[ast.stmt] = deque(tree.body)
    while pending:
        stmt = pending.popleft()
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
            # defining it runs only its decorators and default values
            if (definition := _header_calls_only(stmt)) is not None:
                yield definition
            continue
        if isinstance(stmt, ast.If) and _is_main_guard(stmt.test):
            pending.extend(stmt.orelse)
            continue
        if isinstance(stmt, ast.If | ast.For | ast.While | ast.With | ast.Try | ast.ClassDef):
            # their headers run here; their bodies are statements of the module too
            header = _header_calls_only(stmt)
            if header is not None:
                yield header
            for name in ("body", "orelse", "finalbody"):
                pending.extend(getattr(stmt, name, []))
            for handler in getattr(stmt, "handlers", []):
                pending.extend(handler.body)
            continue
        yield stmt


def _header_calls_only(stmt: ast.stmt) -> ast.stmt | None:
    """A compound statement reduced to its header (test, iterable, context managers,
    bases and decorators), so its body is judged statement by statement."""
    parts: list[ast.expr] = []
    if isinstance(stmt, ast.If | ast.While):
        parts.append(stmt.test)
    elif isinstance(stmt, ast.For):
        parts.append(stmt.iter)
    elif isinstance(stmt, ast.With):
        parts.extend(item.context_expr for item in stmt.items)
    elif isinstance(stmt, ast.ClassDef):
        parts.extend([*stmt.bases, *stmt.decorator_list])
    elif isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
        parts.extend([*stmt.decorator_list, *stmt.args.defaults])
        parts.extend(d for d in stmt.args.kw_defaults if d is not None)
    if not parts:
        return None
    header = ast.Expr(value=ast.Tuple(elts=parts, ctx=ast.Load()))
    return ast.copy_location(header, stmt)


@dataclass
class _Script:
    path: Path
    lines: list[str]
    aliases: dict[str, str] = field(default_factory=dict)  # local name → qualified name
    functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = field(default_factory=dict)
    classes: dict[str, ast.ClassDef] = field(default_factory=dict)
    instances: dict[str, str] = field(default_factory=dict)  # variable → class (qualified)

    def text(self, line: int) -> str:
        return _shorten(self.lines[line - 1]) if 0 < line <= len(self.lines) else ""

    def at(self, node: ast.AST) -> ScriptLocation:
        line = getattr(node, "lineno", 0)
        return ScriptLocation(path=str(self.path), line=line, text=self.text(line))

    def qualified(self, expr: ast.expr) -> str | None:
        """The dotted name ``expr`` stands for, through the file's imports and variables."""
        attrs: list[str] = []
        while isinstance(expr, ast.Attribute):
            attrs.append(expr.attr)
            expr = expr.value
        if isinstance(expr, ast.Call):  # BatchPipelineRunner(...).run(...)
            base = self.qualified(expr.func)
        elif isinstance(expr, ast.Name):
            base = self.instances.get(expr.id) or self.aliases.get(expr.id)
            if base is None and (expr.id in self.functions or expr.id in self.classes):
                base = f"__main__.{expr.id}"
        else:
            return None
        if base is None:
            return None
        return ".".join([base, *reversed(attrs)])


def _statements(tree: ast.Module) -> Iterator[ast.stmt]:
    """Every statement of the file, nested ones too, without visiting expressions (imports
    and assignments are statements: this is several times cheaper than ``ast.walk``)."""
    stack: list[ast.stmt] = list(reversed(tree.body))
    while stack:
        stmt = stack.pop()
        yield stmt
        for name in ("body", "orelse", "finalbody"):
            inner = getattr(stmt, name, None)
            if isinstance(inner, list):
                stack.extend(s for s in inner if isinstance(s, ast.stmt))
        for handler in getattr(stmt, "handlers", []):
            stack.extend(handler.body)
        for case in getattr(stmt, "cases", []):
            stack.extend(case.body)


def _index(tree: ast.Module, script: _Script) -> None:
    """Imports, variables holding runners or local class instances, the file's own
    functions and classes (methods as ``Class.method``)."""
    assignments: list[ast.Assign] = []
    for node in _statements(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    script.aliases[alias.asname] = alias.name
                else:
                    top = alias.name.split(".", 1)[0]
                    script.aliases[top] = top
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                script.aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            assignments.append(node)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            script.functions[node.name] = node
        elif isinstance(node, ast.ClassDef):
            script.classes[node.name] = node
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    script.functions[f"{node.name}.{item.name}"] = item
    for node in assignments:  # after the imports: `runner = BatchPipelineRunner(...)`
        assert isinstance(node.value, ast.Call)
        made = script.qualified(node.value.func)
        if made in RUNNER_CLASSES or (made or "").startswith("__main__."):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    script.instances[target.id] = made or ""


def _local(qualified: str, script: _Script) -> list[str]:
    """The functions of the file a call of ``qualified`` runs (a class: its __init__)."""
    name = qualified.removeprefix("__main__.")
    if name in script.classes:
        return [
            f"{name}.{m}"
            for m in ("__init__", "__post_init__")
            if f"{name}.{m}" in script.functions
        ]
    return [name] if name in script.functions else []


def _target(qualified: str | None) -> str | None:
    if qualified is None:
        return None
    if qualified in TARGETS:
        return qualified
    return None


def _n_jobs(call: ast.Call) -> str | None:
    for keyword in call.keywords:
        if keyword.arg == "n_jobs" and isinstance(keyword.value, ast.Constant):
            return repr(keyword.value.value)
    return None


def _reach(call: ast.Call, script: _Script) -> tuple[str, ast.Call, list[ast.AST]] | None:
    """The process-based API ``call`` reaches, the call of it, and the definitions and calls
    on the way (breadth first: the shortest chain)."""
    qualified = script.qualified(call.func)
    if (target := _target(qualified)) is not None:
        return target, call, []
    if qualified is None:
        return None
    # breadth first, each function once; `came_from` leads back to the module-level call
    came_from: dict[str, tuple[str, ast.Call] | None] = {}
    queue: deque[str] = deque()
    for name in _local(qualified, script):
        came_from.setdefault(name, None)
        queue.append(name)
    while queue:
        name = queue.popleft()
        for inner in _calls(ast.Module(body=script.functions[name].body, type_ignores=[])):
            inner_name = script.qualified(inner.func)
            if (target := _target(inner_name)) is not None:
                return target, inner, _chain(name, came_from, script)
            for local in _local(inner_name or "", script):
                if local not in came_from:
                    came_from[local] = (name, inner)
                    queue.append(local)
    return None


def _chain(
    last: str, came_from: dict[str, tuple[str, ast.Call] | None], script: _Script
) -> list[ast.AST]:
    """Definitions and calls from the module-level call down to the function ``last``."""
    steps: list[ast.AST] = [script.functions[last]]
    step = came_from[last]
    while step is not None:
        caller, call = step
        steps += [call, script.functions[caller]]
        step = came_from[caller]
    return steps[::-1]


@dataclass(frozen=True)
class ScriptResult:
    status: Status
    detail: str
    unguarded: list[UnguardedCall]
    lines: int | None


def analyse_source(source: str, path: Path) -> ScriptResult:
    """The check of ``source`` (the text of ``path``)."""
    try:
        tree = ast.parse(source, str(path))
    except SyntaxError as exc:
        return ScriptResult(
            "not-checked", f"syntax error at line {exc.lineno}: {exc.msg}", [], None
        )
    except (RecursionError, MemoryError):
        return ScriptResult("not-checked", "nested too deeply for Python's parser", [], None)
    except ValueError as exc:  # e.g. NUL bytes in a decoded string
        return ScriptResult("not-checked", f"not Python source: {exc}", [], None)
    try:
        return _analysed(tree, source.splitlines(), path)
    except RecursionError:  # following a 2,000-deep call chain f()()()…
        return ScriptResult("not-checked", "nested too deeply to follow", [], None)


def _analysed(tree: ast.Module, lines: list[str], path: Path) -> ScriptResult:
    script = _Script(path=path, lines=lines)
    _index(tree, script)
    unguarded: list[UnguardedCall] = []
    for stmt in _module_level(tree):
        for call in _calls(stmt):
            found = _reach(call, script)
            if found is None:
                continue
            target, api_call, chain = found
            locations = [script.at(step) for step in chain]
            if chain:
                locations.append(script.at(api_call))
            unguarded.append(
                UnguardedCall(
                    at=script.at(call),
                    reaches=target,
                    chain=locations,
                    n_jobs=_n_jobs(api_call),
                )
            )
    if unguarded:
        return ScriptResult("unprotected", "", unguarded, len(lines))
    guarded = any(
        _reach(call, script) is not None
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and _is_main_guard(node.test)
        for stmt in node.body
        for call in _calls(stmt)
    )
    if guarded:
        return ScriptResult(
            "protected", "process work runs only under the __main__ guard", [], len(lines)
        )
    return ScriptResult("no-process-work", "no module-level code starts processes", [], len(lines))


def check_script(path: Path, found_by: Literal["--script", "command"]) -> ScriptCheck:
    """The static check of the script at ``path``; never raises for what the file holds."""
    source, why = read_source(path)
    if source is None:
        return ScriptCheck(path=str(path), found_by=found_by, status="not-checked", detail=why)
    if path.is_dir():
        path = path / "__main__.py"
    result = analyse_source(source, path)
    return ScriptCheck(
        path=str(path),
        found_by=found_by,
        status=result.status,
        detail=result.detail,
        unguarded=result.unguarded,
        lines=result.lines,
    )
