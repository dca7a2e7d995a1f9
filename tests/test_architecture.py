"""The shape of the house, pinned: what a reader of ``sdk/`` can rely on.

Run ``python -m pytest tests/test_architecture.py`` to check it:

- no run-time import circle inside ``sdk`` (imports under ``if TYPE_CHECKING:``
  do not run, and are not counted);
- no module reads or writes a private attribute (``obj._name``) of an object
  that is not ``self``/``cls``, unless the name is defined in that same module
  (a class's own module may use its private state, e.g. ``send_all`` beside
  ``TaskResult``): the handle, the client and the listener meet only through
  their public-to-the-package methods;
- every ``asyncio.Task`` is created in ``sdk/_aio.py`` (by a ``Supervisor``,
  which stops what it started);
- no module in ``sdk`` is longer than 400 lines (ruff's ``C90`` keeps every
  function at complexity 10 or less, see ``pyproject.toml``).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SDK = Path(__file__).resolve().parents[1] / "sdk"
# public API of named tuples, underscored only to stay clear of field names
NAMED_TUPLE_API = {"_replace", "_asdict", "_fields", "_make"}
MODULES = sorted(SDK.rglob("*.py"))
MAX_LINES = 400


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SDK.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _resolve(node: ast.ImportFrom, package: str) -> Iterator[str]:
    """The ``sdk`` modules a ``from ... import ...`` statement imports."""
    if node.level:
        base = package.split(".")
        base = base[: len(base) - node.level + 1]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    if not target.startswith("sdk"):
        return
    for alias in node.names:  # `from . import _keys` imports a module
        candidate = f"{target}.{alias.name}"
        yield candidate if _exists(candidate) else target


def _runtime_imports(path: Path) -> Iterator[str]:
    """Modules of ``sdk`` that ``path`` imports when it is imported (module level)."""
    package = _module_name(path)
    if path.name != "__init__.py":
        package = package.rsplit(".", 1)[0]

    def walk(body: list[ast.stmt]) -> Iterator[str]:
        for node in body:
            if isinstance(node, ast.If) and _is_type_checking(node):
                yield from walk(node.orelse)
            elif isinstance(node, (ast.If, ast.Try)):
                yield from walk(node.body)
                yield from walk(node.orelse)
                for handler in getattr(node, "handlers", []):
                    yield from walk(handler.body)
            elif isinstance(node, ast.ImportFrom):
                yield from _resolve(node, package)
            elif isinstance(node, ast.Import):
                yield from (a.name for a in node.names if a.name.startswith("sdk"))

    yield from walk(ast.parse(path.read_text()).body)


def _exists(module: str) -> bool:
    path = SDK.parent.joinpath(*module.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def test_no_runtime_import_circle() -> None:
    graph = {_module_name(p): set(_runtime_imports(p)) for p in MODULES}
    # a package's __init__ is imported before its modules: `import sdk.client._x`
    # runs sdk/__init__ and sdk/client/__init__ first; that edge is not a choice
    # of the module's author and is left out
    for module, targets in graph.items():
        graph[module] = {t for t in targets if t != module and not module.startswith(t + ".")}
    # the graph is real (the check would pass vacuously on an empty one)
    assert {"sdk._scripts", "sdk.client._waiting"} <= graph["sdk.client._client"]
    assert "sdk.worker._dispatch" in graph["sdk.worker._consumer"]
    circles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        stack.append(module)
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                circles.append([*stack[stack.index(target) :], target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)
    assert not circles, "\n".join(" -> ".join(c) for c in circles)


def _own_private_names(tree: ast.Module) -> set[str]:
    """Private names a module defines: attributes set on ``self``/``cls``, methods,
    slots, class-level names and module-level names."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names.add(node.value)  # __slots__ entries
    return {n for n in names if n.startswith("_")}


def _foreign_private_accesses(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    own = _own_private_names(tree)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        name = node.attr
        if not name.startswith("_") or (name.startswith("__") and name.endswith("__")):
            continue
        value = node.value
        if isinstance(value, ast.Name) and value.id in {"self", "cls"}:
            continue
        if isinstance(value, ast.Call) and getattr(value.func, "id", "") == "super":
            continue
        if name in own or name in NAMED_TUPLE_API:
            continue
        found.append(f"{path.relative_to(SDK.parent)}:{node.lineno}: .{name}")
    return found


def test_no_private_attribute_of_another_class_is_touched() -> None:
    found = [access for path in MODULES for access in _foreign_private_accesses(path)]
    assert not found, "\n".join(found)


def test_every_task_is_created_by_a_supervisor() -> None:
    creators = []
    for path in MODULES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in {"create_task", "ensure_future"}:
                creators.append(f"{path.relative_to(SDK.parent)}:{node.lineno}")
    assert creators and all(c.startswith("sdk/_aio.py:") for c in creators), creators


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SDK)))
def test_module_is_at_most_400_lines(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{path.name} has {lines} lines: split it by concept"
