"""One run of a worker: its consumer, cron scheduler and health reporter under
one supervisor, started in order and stopped in the reverse order.

:class:`~sdk.worker.Worker` is the public face (registration, ``run``,
``running``, ``stop``); this module is what happens between start and stop.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .._aio import Supervisor
from .._permissions import require_permissions
from .._redis import eviction_risk, require_supported_server
from ..client import Client
from ..errors import RelayqError
from ._calling import Caller
from ._consumer import Consumer
from ._executor import Executor
from ._health import HealthReporter
from ._options import WorkerConfig
from ._scheduler import CronJob, CronScheduler
from ._task import Task

__all__ = ["WorkerRun", "check_server", "install_signals", "thread_pool"]

logger = logging.getLogger("relayq.worker")


async def check_server(client: Client) -> None:
    """Before the user's lifespan, so that a server relayq cannot use fails fast:
    its version, this user's permissions, and its eviction policy (a warning).

    :raises RedisCommandError: the server is too old.
    :raises ConfigurationError: this Redis user may not do what a worker needs.
    """
    await require_supported_server(client.redis)
    await require_permissions(client.scripts, "worker")
    risk = await eviction_risk(client.redis)
    if risk:
        logger.warning(risk)


class WorkerRun:
    """Consumes one queue until stopped, with the worker's tasks and dependencies.

    :param caller: calls the task functions (middleware, task lifespan, threads).
    :param burst: stop once nothing is queued, held or due.
    """

    def __init__(
        self,
        *,
        client: Client,
        config: WorkerConfig,
        tasks: dict[str, Task[Any, Any]],
        crons: dict[str, CronJob],
        caller: Caller,
        burst: bool,
    ) -> None:
        self._client = client
        self._config = config
        self._tasks = tasks
        self._crons = crons
        self._caller = caller
        self._burst = burst
        self._stop_requested = False
        self._consumer: Consumer | None = None
        self._scheduler: CronScheduler | None = None
        #: Loops that crash stop the run (a worker whose lease renewal died must not go on).
        self.supervisor = Supervisor(f"worker {config.worker_id}", on_failure=self._crashed)

    def _crashed(self, name: str, exc: BaseException) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop gracefully (also before :meth:`consume` began: it then returns at once)."""
        self._stop_requested = True
        if self._consumer is not None:
            self._consumer.stop()

    def force(self) -> None:
        """Cancel running tasks now instead of waiting for the grace period."""
        self._stop_requested = True
        if self._consumer is not None:
            self._consumer.force()

    def jobs_changed(self) -> None:
        """Cron jobs were added or removed while running."""
        if self._scheduler is not None:
            self._scheduler.changed()

    async def consume(self, deps: Any, on_ready: Callable[[], None]) -> None:
        """Consume until stopped; returns after the graceful shutdown.

        :raises RelayqError: a background loop crashed (the run stopped because of it).
        """
        client, config = self._client, self._config
        executor = Executor(
            tasks=self._tasks,
            scripts=client.scripts,
            supervisor=self.supervisor,
            caller=self._caller,
            deps=deps,
            redis=client.redis,
            worker_id=config.worker_id,
            queue_name=config.queue_name,
            serializer=client.serializer,
            deserializer=client.deserializer,
            signer=client.signer,
            max_result_bytes=client.config.max_payload_bytes,
        )
        consumer = self._consumer = Consumer(
            client=client,
            config=config,
            executor=executor,
            supervisor=self.supervisor,
            burst=self._burst,
        )
        if self._stop_requested:
            consumer.stop()
        logger.info(
            "worker %s consuming %r (concurrency %d, tasks: %s)",
            config.worker_id,
            config.queue_name,
            config.concurrency,
            ", ".join(sorted(self._tasks)) or "none",
        )
        self._scheduler = CronScheduler(client, self._crons)
        health = HealthReporter(client, config.worker_id, consumer, config.health_interval_s)
        self.supervisor.start("cron scheduler", self._scheduler.run())
        self.supervisor.start("health reporter", health.report_forever())
        self.supervisor.start(
            "group pruning", consumer.housekeeping.prune_forever(config.health_interval_s)
        )
        try:
            await consumer.run(on_ready)
        finally:
            await self.supervisor.stop()
            await health.close()
            await consumer.housekeeping.close()
            self._scheduler = None
            self._consumer = None
        stats = consumer.stats
        logger.info(
            "worker %s stopped: %d done, %d failed, %d retried",
            config.worker_id,
            stats.done,
            stats.failed,
            stats.retried,
        )
        failure = self.supervisor.failure
        if failure is not None:
            raise RelayqError(
                f"worker {config.worker_id} stopped: a background loop crashed: {failure!r}"
            ) from failure


def install_signals(
    loop: asyncio.AbstractEventLoop, stop: Callable[[], None], force: Callable[[], None]
) -> tuple[int, ...]:
    """SIGTERM/SIGINT stop gracefully; a second one forces. Returns the signals
    installed (none off the main thread or on a loop without signal support)."""
    signals = (signal.SIGTERM, signal.SIGINT)
    received = False

    def on_signal(sig: int) -> None:
        nonlocal received
        name = signal.Signals(sig).name
        if received:
            logger.warning("second %s: cancelling running tasks now", name)
            force()
            return
        received = True
        logger.info("%s: shutting down gracefully", name)
        stop()

    try:
        for sig in signals:
            loop.add_signal_handler(sig, on_signal, sig)
    except (ValueError, RuntimeError, NotImplementedError):
        return ()
    return signals


def thread_pool(config: WorkerConfig) -> ThreadPoolExecutor:
    """The threads sync tasks run in: one per concurrent task."""
    return ThreadPoolExecutor(config.concurrency, thread_name_prefix=f"relayq-{config.worker_id}")
