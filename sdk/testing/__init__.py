"""Testing code that uses relayq: a throwaway Redis, workers in-process, and what
a service enqueued.

Install with ``pip install 'relayq[testing]'``; the pytest plugin
(:mod:`sdk.testing.plugin`, registered through the ``pytest11`` entry point)
then gives every test session the ``relayq_redis_url`` and ``relayq_queue_name``
fixtures. Nothing here imports pytest, so the helpers work with any runner::

    async def test_signup_sends_a_welcome_mail(relayq_redis_url, relayq_queue_name):
        client = Client(relayq_redis_url, relayq_queue_name)
        async with client:
            await signup(client, "ada@example.com")          # the code under test
            [call] = await enqueued(client, send_welcome)
            assert call.args == ("ada@example.com",)

    async def test_the_mail_task(worker):
        assert await send_welcome.run("ada@example.com") == "sent"   # codec + middleware
        async with worker.running():                                 # a real worker
            assert await send_welcome.enqueue("ada@example.com").result(timeout=5) == "sent"

See docs/testing.md.
"""

from __future__ import annotations

from ._helpers import Enqueued, drain, enqueued, redis_server

__all__ = ["Enqueued", "drain", "enqueued", "redis_server"]
