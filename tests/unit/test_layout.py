"""The package's layout: a room per process over a shared core, small modules, no import cycle,
and imports that point from the edges down to the core, never back."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import wawp_gateway

PACKAGE = Path(wawp_gateway.__file__).parent
ROOT = "wawp_gateway"
# Written by `wawp-gateway generate`, not by hand.
GENERATED = {PACKAGE / "sdk" / "actions.py"}
MAX_TOP_LEVEL_MODULES = 12
MAX_LINES = 450
# Which room may import which: the core and the Wawp API are shared; a process's room never
# imports another process's room (cli and the SDK's tooling wire them together).
ALLOWED: dict[str, set[str]] = {
    "core": {"core"},
    "wawp": {"core", "wawp"},
    "worker": {"core", "wawp", "worker"},
    "webhook": {"core", "webhook"},
    "tracker": {"core", "tracker"},
    "sandbox": {"core", "sandbox"},
    "sdk": {"core", "wawp", "sdk", "worker"},
    # Replay reads dead letters the way the worker reads commands (intake, the DLQ headers).
    "dlqtool": {"core", "wawp", "worker", "dlqtool"},
    "ops": {"core", "ops"},
    "docgen": {"core", "wawp", "sdk", "ops", "docgen"},
    "cli": {
        "core",
        "wawp",
        "worker",
        "webhook",
        "tracker",
        "sandbox",
        "sdk",
        "dlqtool",
        "docgen",
        "cli",
    },
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(path: Path, modules: dict[str, Path]) -> Iterator[str]:
    """Every package module ``path`` imports, at any depth (lazy imports count too)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for target in targets:
            if target in modules and target != name:
                yield target
                break


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: set(_imports(path, modules)) for name, path in modules.items()}


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or module.count(".") == 1 else ""


def test_top_level_holds_few_modules() -> None:
    """Besides its subpackages the package's top level holds at most 12 modules."""
    top = [p.name for p in PACKAGE.glob("*.py")]
    assert len(top) <= MAX_TOP_LEVEL_MODULES, sorted(top)


def test_no_hand_written_module_is_long() -> None:
    long = {
        str(path.relative_to(PACKAGE)): n
        for path in PACKAGE.rglob("*.py")
        if path not in GENERATED and (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_no_import_cycle() -> None:
    graph = _graph()
    cycles = _cycles(graph)
    assert not cycles, f"import cycles: {cycles}"


def test_rooms_import_only_what_they_may() -> None:
    wrong = sorted(
        f"{module} -> {target}"
        for module, targets in _graph().items()
        if (room := _room(module)) in ALLOWED
        for target in targets
        if _room(target) and _room(target) not in ALLOWED[room]
    )
    assert not wrong, wrong


def test_the_cycle_finder_finds_a_cycle() -> None:
    """The check is not blind: a two-module loop is reported."""
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)
