"""The engine of one worker process: fetch, dispatch, leases and control messages,
wired together under the worker's supervisor."""

from __future__ import annotations

import logging
from collections.abc import Callable

from .._aio import Supervisor
from ..client import Client
from ._delivery import Stats
from ._dispatch import Dispatcher
from ._executor import Executor
from ._fetcher import Fetcher
from ._housekeeping import Housekeeping
from ._leases import Leases
from ._options import WorkerConfig

__all__ = ["Consumer"]

logger = logging.getLogger("relayq.worker")


class Consumer:
    """Consumes one queue for one worker until stopped.

    :param burst: return once nothing is queued, held or due.
    """

    def __init__(
        self,
        *,
        client: Client,
        config: WorkerConfig,
        executor: Executor,
        supervisor: Supervisor,
        burst: bool,
    ) -> None:
        scripts = client.scripts
        priorities = client.priorities
        self._client = client
        self._supervisor = supervisor
        self.dispatcher = Dispatcher(
            supervisor=supervisor,
            scripts=scripts,
            executor=executor,
            concurrency=config.concurrency,
            fetch_limit=config.fetch_limit,
            grace_s=config.grace_s,
        )
        self.housekeeping = Housekeeping(
            client.redis, scripts, client.keys, config.worker_id, priorities
        )
        self._fetcher = Fetcher(
            redis=client.redis,
            scripts=scripts,
            keys=client.keys,
            priorities=priorities,
            consumer=config.worker_id,
            lease=config.lease,
            dispatcher=self.dispatcher,
            housekeeping=self.housekeeping,
            supervisor=supervisor,
            burst=burst,
        )
        self._leases = Leases(scripts, config.worker_id, config.lease, self.dispatcher)

    @property
    def stats(self) -> Stats:
        """The worker's counters."""
        return self.dispatcher.stats

    async def run(self, on_ready: Callable[[], None]) -> None:
        """Consume until :meth:`stop` (or, in burst mode, until the queue is drained),
        then hand back what was not finished and write every settlement."""
        await self.housekeeping.ensure_groups()
        await self.housekeeping.recover()
        self._supervisor.start("lease renewal", self._leases.renew_forever())
        stop_listening = await self._client.listen(self._client.keys.control, self._on_control)
        on_ready()
        try:
            await self._fetcher.run()
        finally:
            self.stop()
            try:
                await self.dispatcher.shutdown()
            finally:
                stop_listening()

    def stop(self) -> None:
        """Stop fetching and starting tasks; :meth:`run` then shuts down gracefully."""
        self._fetcher.stop()
        self.dispatcher.stop()

    def force(self) -> None:
        """Cancel running tasks now instead of waiting for the grace period."""
        self._fetcher.stop()
        self.dispatcher.force()

    def _on_control(self, message: bytes) -> None:
        # the only control message so far: the id of a task to abort
        self.dispatcher.abort(message.decode("utf-8", "surrogateescape"))
