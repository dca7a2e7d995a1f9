"""The documentation cannot rot: the site builds with ``mkdocs build --strict``
(broken links, missing pages or snippets fail it), and every Python code block
of README.md and docs/ is type-checked with mypy against the real API.

The blocks of one page are checked together, in order, as the body of one
``async def`` (so a block may ``await`` and use what an earlier block of the
page defined), after a prelude with the names the prose around them provides
(``worker``, ``fetch``, ``url``, an ``api``...). mypy runs without ``--strict``
(snippets need not annotate everything) but with ``--check-untyped-defs``, so a
call that no longer fits the API fails here.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.M | re.S)
_IMPORT = re.compile(r"^(from \S+ import .*|import .*)$")

#: What the prose around the code blocks provides.
PRELUDE = """\
import asyncio
import hashlib
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from httpx import AsyncClient

from sdk import (
    Client,
    Progress,
    ResultTimeout,
    Retry,
    StreamResult,
    TaskAborted,
    TaskFailed,
    TaskNotFound,
    TaskResult,
    TaskStatus,
    Worker,
    WrappedContext,
)
from sdk.examples.app import PAGES, Web
from sdk.testing import drain, enqueued
from sdk.worker import CallNext, Middleware


@dataclass
class Deps:
    # what the tasks of the docs find in ctx.deps (each page names its own)
    http: Any = None
    model: Any = None
    web: Any = None


@asynccontextmanager
async def lifespan(worker: Worker[Deps]) -> AsyncIterator[Deps]:
    yield Deps()


worker = Worker(worker_lifespan=lifespan)


@worker.task()
async def fetch(ctx: WrappedContext[Deps], url: str) -> int:
    return 0


url: str = "https://example.com"
api = FastAPI()
log = logging.getLogger("docs")
# the application's own code in docs/testing.md's examples
signup: Any = None
send_welcome: Any = None
generate: Any = None
"""


def _pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def page_module(source: str) -> str:
    """The module that type-checks the Python blocks of one page (empty: none)."""
    blocks = _BLOCK.findall(source)
    if not blocks:
        return ""
    lines = "\n".join(blocks).splitlines()
    imports = [line for line in lines if _IMPORT.match(line)]
    body = "\n".join(line for line in lines if not _IMPORT.match(line))
    return (
        "from __future__ import annotations\n"
        "from _prelude import *  # noqa: F403\n"
        + "\n".join(dict.fromkeys(imports))
        + "\n\n\nasync def _page() -> None:\n"
        + textwrap.indent(body, "    ")
        + "\n"
    )


def run_mypy(directory: Path) -> subprocess.CompletedProcess[str]:
    (directory / "_prelude.py").write_text(PRELUDE)
    (directory / "mypy.ini").write_text("[mypy]\n")
    modules = sorted(str(p) for p in directory.glob("doc_*.py"))
    # sdk from this checkout's source (an editable install's import hook is
    # invisible to mypy, and a module it cannot find would check nothing)
    paths = (directory, ROOT, ROOT / "typings")
    env = {**os.environ, "MYPYPATH": os.pathsep.join(map(str, paths))}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(directory / "mypy.ini"),
            "--cache-dir",
            str(directory / ".mypy_cache"),
            # the docs show asyncio.timeout and TaskGroup, marked as Python 3.11+
            "--python-version",
            "3.11",
            "--check-untyped-defs",
            "--ignore-missing-imports",
            # prose order: a page may show a call before the definition it uses,
            # and define a name twice in different examples
            "--disable-error-code",
            "used-before-def",
            "--disable-error-code",
            "no-redef",
            "--no-error-summary",
            *modules,
        ],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=170,
        check=False,
    )


@pytest.mark.timeout(180)
def test_every_python_block_type_checks(tmp_path: Path) -> None:
    checked = 0
    for page in _pages():
        module = page_module(page.read_text())
        if module:
            name = re.sub(r"\W", "_", str(page.relative_to(ROOT))[:-3])
            (tmp_path / f"doc_{name}.py").write_text(module)
            checked += 1
    assert checked >= 10, checked
    proc = run_mypy(tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.timeout(180)
def test_a_block_that_no_longer_fits_the_api_fails(tmp_path: Path) -> None:
    page = """Some prose.

```python
n: str = await fetch.enqueue("https://example.com").result()
handle = fetch.enqueue(42)
```
"""
    (tmp_path / "doc_bad.py").write_text(page_module(page))
    proc = run_mypy(tmp_path)
    assert proc.returncode == 1
    assert "[assignment]" in proc.stdout and "[arg-type]" in proc.stdout, proc.stdout


@pytest.mark.timeout(180)
@pytest.mark.skipif(
    sys.version_info < (3, 11), reason="the docs toolchain (mkdocstrings) needs Python 3.11+"
)
def test_the_site_builds_strict(tmp_path: Path) -> None:
    """``mkdocs build --strict`` (mkdocs.yml): every page, link, anchor, snippet
    and API reference entry resolves."""
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=170,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    reference = (tmp_path / "site" / "reference" / "index.html").read_text()
    for name in ("TaskResult", "StreamResult", "WrappedContext", "TaskFailed", "enqueued"):
        assert name in reference, f"{name} is missing from the API reference"
