"""The ``typecheck/`` fixtures: the mechanism still bites, and the suite is green.

``typecheck/`` holds code that mypy reads and nothing executes: unmarked lines
must type-check, and each line that must be rejected ends in
``# type: ignore[<code>]``. That only works while the project's mypy config
reports an ignore that suppresses nothing (``warn_unused_ignores``, part of
``strict``) and leaves an error with another code visible. These tests run mypy
in a subprocess with the repository's own ``pyproject.toml`` and no extra flags,
exactly as plain ``mypy`` would, with a fresh cache directory per session.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]

# `path:line: error: message  [code]` (mypy's default, non-pretty output)
_ERROR = re.compile(r"^(?P<path>.+?):(?P<line>\d+): error: .*\[(?P<code>[a-z-]+)\]$")
_EXPECT = re.compile(r"# expect: (?P<codes>[a-z, -]+)$")

# A fixture whose marked lines are each wrong in a different way; `# expect:`
# lists the codes mypy must report on that line (nothing else may be reported).
_STALE_FIXTURE = '''\
"""Fixture that must fail: stale and mislabelled ignores, wrong assert_type pins."""

from typing_extensions import assert_type

from sdk import Client, TaskResult

client = Client()


@client.stub()
async def fetch(url: str) -> int:
    raise NotImplementedError


def check() -> None:
    _ = fetch.enqueue("fine")  # type: ignore[arg-type]  # expect: unused-ignore
    _ = fetch.enqueue(1)  # type: ignore[call-arg]  # expect: arg-type, unused-ignore
    _ = fetch.enqueue(2)  # type: ignore[arg-type]
    assert_type(fetch.enqueue("x"), TaskResult[str])  # expect: assert-type
    assert_type(client.enqueue_unsafe("fetch"), TaskResult[int])  # expect: assert-type
    assert_type(fetch.enqueue("x"), TaskResult[int])
'''


@pytest.fixture(scope="module")
def mypy_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One cold mypy cache for this module's runs (not the developer's ``.mypy_cache``)."""
    yield tmp_path_factory.mktemp("mypy-cache")


def run_mypy(cache_dir: Path, *targets: str) -> subprocess.CompletedProcess[str]:
    """Run mypy on ``targets`` from the repository root with its own config."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--cache-dir",
            str(cache_dir),
            "--no-pretty",
            "--no-color-output",
            *targets,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=170,
        check=False,
    )


def errors_by_line(output: str, filename: str) -> set[tuple[int, str]]:
    """``(line, code)`` of every error mypy reported in ``filename``."""
    found: set[tuple[int, str]] = set()
    for raw in output.splitlines():
        match = _ERROR.match(raw)
        if match and Path(match["path"]).name == filename:
            found.add((int(match["line"]), match["code"]))
    return found


def expected_by_line(source: str) -> set[tuple[int, str]]:
    """``(line, code)`` pairs declared by the ``# expect:`` comments of ``source``."""
    expected: set[tuple[int, str]] = set()
    for number, line in enumerate(source.splitlines(), start=1):
        match = _EXPECT.search(line)
        if match:
            expected.update((number, code.strip()) for code in match["codes"].split(","))
    return expected


@pytest.mark.timeout(120)
def test_stale_or_mislabelled_ignore_fails_mypy(tmp_path: Path, mypy_cache: Path) -> None:
    fixture = tmp_path / "stale_fixture.py"
    fixture.write_text(_STALE_FIXTURE)
    expected = expected_by_line(_STALE_FIXTURE)
    # the fixture states what must happen: a stale ignore, a wrong code, two bad pins
    assert {code for _, code in expected} == {"unused-ignore", "arg-type", "assert-type"}

    proc = run_mypy(mypy_cache, str(fixture))

    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output
    # exactly the declared errors: the correct ignore and the correct pin stay silent
    assert errors_by_line(output, fixture.name) == expected, output
    assert 'Unused "type: ignore" comment' in output
    assert 'Error code "arg-type" not covered by "type: ignore[call-arg]" comment' in output


@pytest.mark.timeout(180)
def test_typecheck_fixtures_pass(mypy_cache: Path) -> None:
    fixtures = sorted((ROOT / "typecheck").glob("test_*.py"))
    rejected = sum(p.read_text().count("# type: ignore[") for p in fixtures)
    assert len(fixtures) >= 4 and rejected >= 50, (fixtures, rejected)

    proc = run_mypy(mypy_cache, "typecheck")

    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert output.startswith("Success: no issues found"), output


# -- pyright (basedpyright) ------------------------------------------------------------

# A fixture pyright must fail on exactly as marked (`# expect-pyright:` names the
# rule, shortened: see _PYRIGHT_RULES).
_STALE_PYRIGHT_FIXTURE = '''\
"""Fixture that must fail under pyright: a stale pyright ignore and a wrong pin."""

from typing_extensions import assert_type

from sdk import Client, TaskResult

client = Client()


@client.stub()
async def fetch(url: str) -> int:
    raise NotImplementedError


def check() -> None:
    _ = fetch.enqueue("fine")  # pyright: ignore[reportArgumentType]  # expect-pyright: unused
    _ = fetch.enqueue(2)  # pyright: ignore[reportArgumentType]
    assert_type(fetch.enqueue("x"), TaskResult[str])  # expect-pyright: pin
    assert_type(fetch.enqueue("x"), TaskResult[int])
'''


_PYRIGHT_RULES = {"unused": "reportUnnecessaryTypeIgnoreComment", "pin": "reportAssertTypeFailure"}


def run_pyright(*targets: str) -> dict[str, Any]:
    """basedpyright on ``targets`` with the repository's config; its JSON report."""
    proc = subprocess.run(
        [sys.executable, "-m", "basedpyright", "--outputjson", "--project", str(ROOT), *targets],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=170,
        check=False,
    )
    try:
        report: dict[str, Any] = json.loads(proc.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"basedpyright did not report:\n{proc.stdout}\n{proc.stderr}")
    return report


def pyright_errors(report: dict[str, Any]) -> set[tuple[str, int, str]]:
    """``(file name, line, rule)`` of every error in a basedpyright report."""
    return {
        (Path(d["file"]).name, d["range"]["start"]["line"] + 1, d.get("rule", ""))
        for d in report["generalDiagnostics"]
        if d["severity"] == "error"
    }


@pytest.mark.timeout(180)
def test_stale_pyright_ignore_and_wrong_pin_fail_pyright(tmp_path: Path) -> None:
    fixture = ROOT / "typecheck" / f"_stale_{os.getpid()}.py"  # inside the project's include
    fixture.write_text(_STALE_PYRIGHT_FIXTURE)
    try:
        report = run_pyright(str(fixture))
    finally:
        fixture.unlink()
    expected = {
        (fixture.name, number, _PYRIGHT_RULES[m[1]])
        for number, line in enumerate(_STALE_PYRIGHT_FIXTURE.splitlines(), start=1)
        if (m := re.search(r"# expect-pyright: (\w+)$", line))
    }
    assert len(expected) == 2
    assert pyright_errors(report) == expected, report["generalDiagnostics"]


@pytest.mark.timeout(180)
def test_typecheck_fixtures_pass_pyright() -> None:
    """The same fixtures under pyright (strict): every pin holds, and every
    must-fail line carries a pyright ignore that suppresses a real error."""
    fixtures = sorted((ROOT / "typecheck").glob("test_*.py"))
    rejected = sum(p.read_text().count("# pyright: ignore[") for p in fixtures)
    assert rejected >= 50, rejected
    report = run_pyright()
    assert report["summary"]["filesAnalyzed"] >= len(fixtures)
    assert pyright_errors(report) == set(), report["generalDiagnostics"]
