"""sdk.testing and relayq's pytest plugin, as a user's test suite uses them."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from sdk import TaskStatus, Worker, WrappedContext
from sdk.client import Client
from sdk.testing import drain, enqueued, redis_server


async def test_enqueued_shows_what_a_service_sent(redis_url: str, queue_name: str) -> None:
    service = Client(redis_url, queue_name)

    @service.stub()
    async def send_mail(to: str, *, subject: str = "hi") -> bool:
        raise NotImplementedError

    @service.stub()
    async def resize(path: str, sizes: tuple[int, ...]) -> int:
        raise NotImplementedError

    async with service:
        assert await enqueued(service) == []
        await send_mail.enqueue("ada@example.com", subject="welcome").start()
        await resize.enqueue("a.png", (64, 128)).start(delay=timedelta(minutes=5))
        calls = await enqueued(service)
        # (two enqueues in the same millisecond come back in either order)
        assert sorted((c.fn_name, c.status) for c in calls) == [
            ("resize", TaskStatus.SCHEDULED),
            ("send_mail", TaskStatus.QUEUED),
        ]
        [mail] = await enqueued(service, send_mail)
        assert (mail.args, mail.kwargs) == (("ada@example.com",), {"subject": "welcome"})
        [image] = await enqueued(service, "resize")
        assert image.args == ("a.png", (64, 128)) and image.scheduled_time is not None


async def test_drain_runs_what_was_enqueued(redis_url: str, queue_name: str) -> None:
    worker = Worker(redis_url, queue_name=queue_name)
    done: list[int] = []

    @worker.task()
    async def record(ctx: WrappedContext[None], n: int) -> None:
        done.append(n)

    async with worker:
        await worker.enqueue_many([record.enqueue(i) for i in range(5)])
        assert len(await enqueued(worker.client, record)) == 5
    await drain(worker)
    assert sorted(done) == [0, 1, 2, 3, 4]
    async with worker:
        assert await enqueued(worker.client) == []


def test_redis_server_is_thrown_away() -> None:
    import redis

    with redis_server() as url:
        assert not url.endswith(":6379")
        assert redis.Redis.from_url(url).ping()
    with pytest.raises(redis.ConnectionError):
        redis.Redis.from_url(url, socket_connect_timeout=0.5).ping()


_USER_TESTS = """
import pytest
from sdk import Worker, WrappedContext
from sdk.client import Client
from sdk.testing import enqueued

pytestmark = pytest.mark.asyncio


def make_worker(url, queue):
    worker = Worker(url, queue_name=queue)

    @worker.task()
    async def double(ctx: WrappedContext[None], n: int) -> int:
        return 2 * n

    return worker, double


async def test_round_trip(relayq_redis_url, relayq_queue_name):
    worker, double = make_worker(relayq_redis_url, relayq_queue_name)
    async with worker.running():
        assert await double.enqueue(21).result(timeout=5) == 42


async def test_queues_are_per_test(relayq_redis_url, relayq_queue_name):
    client = Client(relayq_redis_url, relayq_queue_name)
    async with client:
        assert await enqueued(client) == []


def test_one_server_per_session(relayq_redis_url):
    assert relayq_redis_url.startswith("redis://127.0.0.1:")
"""


def _pytest(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_user.py").write_text(textwrap.dedent(_USER_TESTS))
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_plugin_serves_a_users_suite(tmp_path: Path, subprocess_env: dict[str, str]) -> None:
    """The entry point makes the fixtures available with no conftest at all."""
    env = {k: v for k, v in subprocess_env.items() if k != "RELAYQ_TEST_REDIS_URL"}
    proc = _pytest(tmp_path, env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "3 passed" in proc.stdout


def test_a_missing_redis_server_is_a_clear_failure(
    tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    env = dict(subprocess_env)
    env.pop("RELAYQ_TEST_REDIS_URL", None)
    env["PATH"] = str(tmp_path)  # no redis-server anywhere (python is called by full path)
    proc = _pytest(tmp_path, env)
    assert proc.returncode != 0
    assert "relayq_redis_url needs a real redis-server" in proc.stdout
    assert "apt-get install -y redis-server" in proc.stdout


def test_an_existing_server_can_be_given(
    tmp_path: Path, subprocess_env: dict[str, str], redis_url: str
) -> None:
    env = dict(subprocess_env)
    env["RELAYQ_TEST_REDIS_URL"] = redis_url
    env["PATH"] = str(tmp_path) + os.pathsep + "/nonexistent"  # would fail if it started one
    proc = _pytest(tmp_path, env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
