"""A service that only enqueues never loads worker machinery (checked in a fresh
interpreter, since this test process has imported everything already)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest


def _run(code: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize(
    "statement",
    [
        "import sdk.client",
        "from sdk.client import Client, TaskResult",
        "import sdk",
        "from sdk import Client, TaskStatus, ResultTimeout",
        "import sdk.errors",
    ],
)
def test_client_side_imports_do_not_load_the_worker(
    statement: str, repo_root: Path, subprocess_env: dict[str, str]
) -> None:
    proc = _run(
        f"""
        import sys
        {statement}
        loaded = sorted(m for m in sys.modules if m == "sdk.worker" or m.startswith("sdk.worker."))
        assert not loaded, loaded
        print("ok")
        """,
        repo_root,
        subprocess_env,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_worker_names_resolve_lazily_from_sdk(
    repo_root: Path, subprocess_env: dict[str, str]
) -> None:
    proc = _run(
        """
        import sys
        import sdk
        assert "sdk.worker" not in sys.modules
        from sdk import Worker
        assert "sdk.worker" in sys.modules
        import sdk.worker
        assert Worker is sdk.worker.Worker
        assert sdk.WrappedContext is sdk.worker.WrappedContext
        assert sdk.Task is sdk.worker.Task
        print("ok")
        """,
        repo_root,
        subprocess_env,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_sdk_never_imports_an_optional_extra(
    repo_root: Path, subprocess_env: dict[str, str]
) -> None:
    """The web and observability libraries the examples and extras use stay optional.

    (redis-py itself imports opentelemetry when it is installed: only what relayq
    adds on top of its dependencies counts.)"""
    proc = _run(
        """
        import sys
        import redis.asyncio, msgpack, click, croniter
        before = set(sys.modules)
        import sdk, sdk.client, sdk.worker
        from sdk import StreamResult, Progress
        optional = ("fastapi", "starlette", "httpx", "prometheus_client", "opentelemetry")
        loaded = sorted(m for m in set(sys.modules) - before if m.split(".")[0] in optional)
        assert not loaded, loaded
        print("ok")
        """,
        repo_root,
        subprocess_env,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"
