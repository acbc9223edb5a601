"""The package's imports form a one-way graph: no cycle, also none through a lazy import.

Every ``import`` and ``from … import`` of an ``lkdoctor`` module counts, wherever it stands
(module level, inside a function, under ``TYPE_CHECKING``), so a cycle cannot hide behind a
function-level import.
"""

from __future__ import annotations

import ast
from pathlib import Path

import lkdoctor

PACKAGE = Path(lkdoctor.__file__).parent


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path, known: set[str]) -> set[str]:
    """The lkdoctor modules ``path`` imports (a name imported from a package counts as its
    submodule when one exists, else as the package)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in known)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module not in known:
                continue
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in known else node.module)
    return found


def import_graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    known = set(files)
    return {name: imported_modules(path, known) - {name} for name, path in files.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_package_has_no_import_cycle() -> None:
    graph = import_graph()
    assert len(graph) > 20  # the walk really saw the package
    assert find_cycle(graph) is None, " → ".join(find_cycle(graph) or [])


def test_the_cycle_finder_finds_a_cycle_through_a_lazy_import(tmp_path: Path) -> None:
    a = tmp_path / "a.py"
    a.write_text("import b\n")
    b = tmp_path / "b.py"
    b.write_text("def f():\n    import a\n")
    graph = {"a": imported_modules(a, {"a", "b"}), "b": imported_modules(b, {"a", "b"})}
    assert find_cycle(graph) == ["a", "b", "a"]


STAGES = ["model", "host", "sections", "checks", "render", "output", "cli"]


def stage(module: str) -> int:
    """The stage a module belongs to; an import may only point at the same or an earlier one."""
    top = module.split(".")[1] if "." in module else ""
    if top in {"", "_native", "_probe", "version", "model", "collected"}:
        return 0
    if top in {"host", "target"}:  # the diagnosed process's facts, read by host readers
        return 1
    # report: the sections put together, with the plan shapes of the lines plan/ registers;
    # findings: the rules the checks and the lines' own checks (in plan/) share
    sections = {"cpu", "plan", "pools", "bench", "environment", "cluster", "observe", "workers"}
    if top in sections | {"report", "findings"}:
        return 2
    if top in {"checks", "redact"}:
        return 3
    if top == "render":
        return 4
    if top in {"pipeline", "output"}:
        return 5
    return 6  # cli, lenskit_plugin, __main__


def test_imports_only_point_back_along_the_stages() -> None:
    backwards = [
        f"{source} ({STAGES[stage(source)]}) imports {target} ({STAGES[stage(target)]})"
        for source, targets in import_graph().items()
        if source != "lkdoctor"
        for target in targets
        if stage(target) > stage(source)
    ]
    assert backwards == []


def test_host_readers_import_no_report_types() -> None:
    """host/ is the ground floor: plain data from the machine, no report model."""
    graph = import_graph()
    host_modules = [module for module in graph if stage(module) == STAGES.index("host")]
    assert "lkdoctor.host.proc" in host_modules  # the walk saw the host readers
    into_model = [
        f"{module} imports {target}"
        for module in host_modules
        for target in graph[module]
        if target.split(".")[1] in {"model", "collected"}
    ]
    assert into_model == []


#: What the diagnosed process is (its environment, folder, command line, CPUs, cgroup): read
#: by these host readers, which only ``lkdoctor/target.py`` calls, once per report. The
#: sampler also reads the environment of the other processes of a tree.
TARGET_READERS = {
    "read_environ": {"lkdoctor.target", "lkdoctor.observe.sampler"},
    "read_affinity": {"lkdoctor.target"},
    "read_cwd": {"lkdoctor.target"},
    "read_cmdline": {"lkdoctor.target"},
    "sched_getaffinity": {"lkdoctor.host.proc"},
    "readlink": {"lkdoctor.host.proc", "lkdoctor.host.shm"},
}


def called_names(path: Path) -> set[str]:
    """The names of the functions ``path`` calls (``f(…)`` and ``x.f(…)`` alike)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name):
                names.add(func.id)
            elif isinstance(func, ast.Attribute):
                names.add(func.attr)
    return names


def test_only_the_target_reads_the_diagnosed_processs_facts() -> None:
    callers: dict[str, set[str]] = {name: set() for name in TARGET_READERS}
    for path in PACKAGE.rglob("*.py"):
        for name in called_names(path) & set(TARGET_READERS):
            callers[name].add(module_name(path))
    assert "lkdoctor.target" in callers["read_affinity"]  # the walk saw the calls
    strays = {name: sorted(found - TARGET_READERS[name]) for name, found in callers.items()}
    assert {name: found for name, found in strays.items() if found} == {}


# --- LensKit lines: one folder each, found through the registry ----------------------------

#: Where a LensKit line may be named: its own folder (plan/<line>/) and the registry.
LINE_HOMES = ("lkdoctor/plan/lenskit", "lkdoctor/plan/lines.py")


def line_dispatch(path: Path, line_names: set[str], shapes: set[str]) -> list[str]:
    """Where ``path`` picks behaviour by LensKit line: a line's name as a literal, a
    comparison of a ``dialect``, a line's plan shape or one of a line's modules."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        where = f"{path.name}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Constant) and node.value in line_names:
            found.append(f"{where}: the line name {node.value!r}")
        elif isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(isinstance(s, ast.Attribute) and s.attr == "dialect" for s in sides):
                found.append(f"{where}: a comparison of a dialect")
        elif isinstance(node, ast.Name | ast.Attribute | ast.alias):
            name = node.id if isinstance(node, ast.Name) else getattr(node, "attr", None)
            name = name or getattr(node, "name", "")
            if name.split(".")[-1] in shapes:
                found.append(f"{where}: the plan shape {name}")
            if isinstance(node, ast.alias) and name.startswith("lkdoctor.plan.lenskit"):
                found.append(f"{where}: imports {name}")
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
            "lkdoctor.plan.lenskit"
        ):
            found.append(f"{where}: imports {node.module}")
    return found


def test_no_line_is_picked_outside_its_folder_and_the_registry() -> None:
    """The rest of lkdoctor asks the plan's line (found by the registry) and never names a
    line, compares a dialect or knows a line's plan shape."""
    from lkdoctor.plan.lines import LINES

    line_names = {line.name for line in LINES}
    shapes = {line.plan_shape().__name__ for line in LINES}
    assert line_names == {"2025", "2026"} and shapes == {"ThreadPlan2025", "ThreadPlan2026"}
    outside = [
        path
        for path in sorted(PACKAGE.rglob("*.py"))
        if not str(path.relative_to(PACKAGE.parent)).startswith(LINE_HOMES)
    ]
    assert len(outside) > 50  # the walk saw the package
    found = [hit for path in outside for hit in line_dispatch(path, line_names, shapes)]
    assert found == []


def test_the_dispatch_finder_finds_each_kind(tmp_path: Path) -> None:
    source = tmp_path / "dispatching.py"
    source.write_text(
        "from lkdoctor.plan.lenskit2026.shape import ThreadPlan2026\n"
        "import lkdoctor.plan.lenskit2025.checks\n"
        "def f(plan, workers):\n"
        "    if isinstance(plan, ThreadPlan2026):\n"
        "        return 1\n"
        "    if workers.dialect == other:\n"
        "        return 2\n"
        "    return {'2025': 3}\n",
        encoding="utf-8",
    )
    found = line_dispatch(source, {"2025"}, {"ThreadPlan2026"})
    assert sorted(found) == [
        "dispatching.py:1: imports lkdoctor.plan.lenskit2026.shape",
        "dispatching.py:1: the plan shape ThreadPlan2026",
        "dispatching.py:2: imports lkdoctor.plan.lenskit2025.checks",
        "dispatching.py:4: the plan shape ThreadPlan2026",
        "dispatching.py:6: a comparison of a dialect",
        "dispatching.py:8: the line name '2025'",
    ]
