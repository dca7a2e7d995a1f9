"""The public faces of relayq, pinned: what ``sdk``, ``sdk.client``, ``sdk.worker`` and
``sdk.errors`` export, and that every exported name is documented.

Changing an export list is an API change: update the list here on purpose.
"""

from __future__ import annotations

import ast
import inspect
import types
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import sdk
import sdk.client
import sdk.errors
import sdk.worker

SDK_ALL = [
    "Client",
    "Progress",
    "RelayqError",
    "ResultTimeout",
    "Retry",
    "StreamGap",
    "StreamRef",
    "StreamRestarted",
    "StreamResult",
    "StreamTask",
    "Task",
    "TaskAborted",
    "TaskFailed",
    "TaskInfo",
    "TaskNotFound",
    "TaskOutcome",
    "TaskRef",
    "TaskResult",
    "TaskStatus",
    "TaskTimedOut",
    "Worker",
    "WrappedContext",
]
CLIENT_ALL = [
    "Client",
    "ClientOptions",
    "Progress",
    "StreamRef",
    "StreamResult",
    "TaskInfo",
    "TaskOutcome",
    "TaskRef",
    "TaskResult",
    "TaskStatus",
]
WORKER_ALL = [
    "CallNext",
    "CronJob",
    "Middleware",
    "Retry",
    "StreamTask",
    "Task",
    "TaskOptions",
    "Worker",
    "WorkerOptions",
    "WrappedContext",
]
ERRORS_ALL = [
    "ConfigurationError",
    "InvalidSignature",
    "NotConnected",
    "PayloadTooLarge",
    "RedisCommandError",
    "RedisUnavailable",
    "RelayqError",
    "ResultTimeout",
    "Retry",
    "SerializationError",
    "StreamGap",
    "StreamRestarted",
    "TaskAborted",
    "TaskFailed",
    "TaskNotFound",
    "TaskTimedOut",
]

MODULES: list[tuple[ModuleType, list[str]]] = [
    (sdk, SDK_ALL),
    (sdk.client, CLIENT_ALL),
    (sdk.worker, WORKER_ALL),
    (sdk.errors, ERRORS_ALL),
]
IDS = [module.__name__ for module, _ in MODULES]
SDK_DIR = Path(sdk.__file__).parent


@pytest.mark.parametrize(("module", "expected"), MODULES, ids=IDS)
def test_all_is_pinned_and_sorted(module: ModuleType, expected: list[str]) -> None:
    assert module.__all__ == expected
    assert sorted(module.__all__) == module.__all__


@pytest.mark.parametrize(("module", "expected"), MODULES, ids=IDS)
def test_every_exported_name_resolves(module: ModuleType, expected: list[str]) -> None:
    for name in module.__all__:
        assert getattr(module, name) is not None, f"{module.__name__}.{name}"


def test_faces_export_the_same_objects() -> None:
    for name in CLIENT_ALL:
        if name in SDK_ALL:
            assert getattr(sdk, name) is getattr(sdk.client, name), name
    for name in WORKER_ALL:
        if name in SDK_ALL:
            assert getattr(sdk, name) is getattr(sdk.worker, name), name
    for name in ERRORS_ALL:
        if name in SDK_ALL:
            assert getattr(sdk, name) is getattr(sdk.errors, name), name


def test_unknown_attribute_of_sdk_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = sdk.no_such_name


def test_error_tree() -> None:
    errors = sdk.errors
    for name in ERRORS_ALL:
        cls = getattr(errors, name)
        if name == "Retry":
            assert not issubclass(cls, errors.RelayqError)  # a signal, not an error
        else:
            assert issubclass(cls, errors.RelayqError), name
    assert issubclass(errors.ResultTimeout, TimeoutError)
    assert issubclass(errors.TaskTimedOut, errors.TaskFailed)
    assert issubclass(errors.TaskAborted, errors.TaskFailed)
    assert issubclass(errors.SerializationError, TypeError)
    assert issubclass(errors.ConfigurationError, ValueError)
    # the docstring draws the tree: every error is in it
    doc = errors.__doc__ or ""
    for name in ERRORS_ALL:
        if name != "Retry":
            assert name in doc, name


def _has_docstring(obj: Any) -> bool:
    return bool((inspect.getdoc(obj) or "").strip())


def _alias_is_documented(name: str) -> bool:
    """A type alias or constant has no ``__doc__``: accept a ``#:`` comment above its
    assignment or a string right after it (what Sphinx reads), in some sdk module."""
    for path in SDK_DIR.rglob("*.py"):
        source = path.read_text()
        lines = source.splitlines()
        body = ast.parse(source).body
        for index, node in enumerate(body):
            targets: list[ast.expr] = []
            if isinstance(node, ast.Assign):
                targets = list(node.targets)
            elif isinstance(node, ast.AnnAssign):
                targets = [node.target]
            if not any(isinstance(t, ast.Name) and t.id == name for t in targets):
                continue
            above = lines[node.lineno - 2].strip() if node.lineno >= 2 else ""
            nxt = body[index + 1] if index + 1 < len(body) else None
            after = (
                isinstance(nxt, ast.Expr)
                and isinstance(nxt.value, ast.Constant)
                and isinstance(nxt.value.value, str)
            )
            if above.startswith("#:") or after:
                return True
    return False


def _public_members(cls: type) -> list[tuple[str, Any]]:
    members = []
    for attr, value in vars(cls).items():
        if attr.startswith("_"):
            continue
        if isinstance(value, property):
            members.append((attr, value.fget))
        elif isinstance(value, (classmethod, staticmethod)):
            members.append((attr, value.__func__))
        elif inspect.isfunction(value):
            members.append((attr, value))
    return members


@pytest.mark.parametrize(("module", "expected"), MODULES, ids=IDS)
def test_every_public_name_has_a_docstring(module: ModuleType, expected: list[str]) -> None:
    assert _has_docstring(module)
    undocumented = []
    for name in module.__all__:
        obj = getattr(module, name)
        # on Python 3.10 a subscripted alias such as Callable[...] still passes
        # inspect.isclass; it is documented like any alias
        is_alias = isinstance(obj, types.GenericAlias)
        if not is_alias and (inspect.isclass(obj) or inspect.isfunction(obj)):
            if not (obj.__doc__ or "").strip():
                undocumented.append(name)
            if inspect.isclass(obj):
                undocumented += [
                    f"{name}.{attr}"
                    for attr, member in _public_members(obj)
                    if not _has_docstring(member)
                ]
        elif not _alias_is_documented(name):
            undocumented.append(name)
    assert undocumented == []
