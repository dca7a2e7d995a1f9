"""``Worker[Deps]``: registers tasks, owns the lifespan, and runs the consumer."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import timedelta, tzinfo
from types import MappingProxyType, TracebackType
from typing import Any, Generic, TypeVar, overload

from redis.asyncio import Redis
from typing_extensions import Self, Unpack

from .._aio import Supervisor
from ..client import Client, TaskResult
from ..errors import ConfigurationError, RelayqError
from ._calling import Caller
from ._context import Middleware, WrappedContext
from ._delivery import LeaseConfig
from ._local import Dependencies
from ._options import WorkerConfig, WorkerOptions
from ._runner import WorkerRun, check_server, install_signals, thread_pool
from ._scheduler import CronJob, validate_crontab
from ._task import (
    DEFAULT_MAX_ITEMS,
    DEFAULT_TTL,
    CronDecorator,
    StreamTask,
    Task,
    TaskDecorator,
    TaskOptions,
)

__all__ = ["Worker"]

logger = logging.getLogger("relayq.worker")

Deps = TypeVar("Deps")
T = TypeVar("T")

TaskLifespan = Callable[[WrappedContext[Deps]], AbstractAsyncContextManager[object]]


class Worker(Generic[Deps]):
    """Runs the tasks registered on it, with the dependencies its lifespan yields.

    ``Worker(worker_lifespan=lifespan)`` is a ``Worker[Deps]`` when ``lifespan``
    yields ``Deps``; without a lifespan it is a ``Worker[None]``. Tasks take a
    ``WrappedContext[Deps]`` first, which the type checker enforces.

    :param redis_url: default ``$REDIS_URL``, else ``redis://localhost:6379``.
    :param worker_lifespan: ``async`` context manager factory run once per worker
        process; what it yields becomes ``ctx.deps``.
    :param task_lifespan: ``async`` context manager factory around each execution.
    :param middleware: functions wrapping every execution, first outermost (see
        :data:`Middleware`); more can be added with :meth:`middleware`.
    :param options: see :class:`~sdk.worker.WorkerOptions`: ``queue_name``,
        ``concurrency``, ``queue_fetch_limit``, ``tz``, ``health_check_interval``,
        ``lease``, ``grace_period``, ``worker_id``, and every client option
        (``serializer``, ``signing_key``, ``priorities``, ...).
    :raises ConfigurationError: an invalid or unknown option.
    """

    @overload
    def __init__(
        self: Worker[None],
        redis_url: str | None = None,
        *,
        worker_lifespan: None = None,
        task_lifespan: TaskLifespan[None] | None = None,
        middleware: Sequence[Middleware[None]] = (),
        **options: Unpack[WorkerOptions],
    ) -> None: ...

    @overload
    def __init__(
        self: Worker[Deps],
        redis_url: str | None = None,
        *,
        # Deps is inferred from what the lifespan yields alone, so a lifespan that
        # annotates its parameter loosely (Worker[Any]) still types the worker
        worker_lifespan: Callable[[Worker[Any]], AbstractAsyncContextManager[Deps]],
        task_lifespan: TaskLifespan[Deps] | None = None,
        middleware: Sequence[Middleware[Deps]] = (),
        **options: Unpack[WorkerOptions],
    ) -> None: ...

    def __init__(
        self,
        redis_url: str | None = None,
        *,
        worker_lifespan: Callable[[Worker[Any]], AbstractAsyncContextManager[Any]] | None = None,
        task_lifespan: TaskLifespan[Any] | None = None,
        middleware: Sequence[Middleware[Any]] = (),
        **options: Unpack[WorkerOptions],
    ) -> None:
        config, client_options = WorkerConfig.build(options)
        self.config: WorkerConfig = config
        self.client: Client = Client(redis_url, config.queue_name, **client_options)
        self._task_lifespan = task_lifespan
        self._middleware: list[Middleware[Any]] = list(middleware)
        # task.run() calls through the same middleware list (added to while running)
        local = Caller(self._middleware, task_lifespan, None)
        self._deps = Dependencies(self, worker_lifespan, local)
        self._tasks: dict[str, Task[Any, Any]] = {}
        self._crons: dict[str, CronJob] = {}
        self._run: WorkerRun | None = None
        self._stop_early = False
        #: Set once :meth:`run` is consuming; cleared when it returns.
        self.ready: asyncio.Event = asyncio.Event()

    def __repr__(self) -> str:
        return f"<Worker {self.id} queue={self.queue_name!r} tasks={sorted(self._tasks)}>"

    @property
    def id(self) -> str:
        """This worker's name in Redis (its consumer name)."""
        return self.config.worker_id

    @property
    def queue_name(self) -> str:
        """The queue it consumes."""
        return self.config.queue_name

    @property
    def concurrency(self) -> int:
        """Tasks run at once."""
        return self.config.concurrency

    @property
    def queue_fetch_limit(self) -> int:
        """Deliveries held at most (running + prefetched)."""
        return self.config.fetch_limit

    @property
    def tz(self) -> tzinfo:
        """The time zone cron schedules are read in."""
        return self.config.tz

    @property
    def lease(self) -> LeaseConfig:
        """Lease timing."""
        return self.config.lease

    @property
    def grace_period(self) -> float:
        """Seconds running tasks may take to finish on shutdown."""
        return self.config.grace_s

    @property
    def health_check_interval(self) -> float:
        """Seconds between health reports."""
        return self.config.health_interval_s

    # -- registering ---------------------------------------------------------------

    def task(
        self,
        *,
        name: str | None = None,
        max_tries: int = 3,
        timeout: timedelta | float | None = None,
        ttl: timedelta | float | None = DEFAULT_TTL,
        unique: bool = False,
        retry_on_timeout: bool = False,
        max_items: int = DEFAULT_MAX_ITEMS,
    ) -> TaskDecorator[Deps]:
        """Register an ``async def`` or plain ``def`` task (a sync one runs in a thread).

        An async generator is a streaming task: callers iterate what it yields with
        ``handle.stream()``, and its result is the list of its items.

        :param name: registered name; default the function's ``__name__``.
        :param max_tries: deliveries allowed, retries and crash recoveries included.
        :param timeout: cancel the task after this long (``None``: never).
        :param ttl: keep the outcome this long (``None``: forever; ``0``: not stored,
            but waiters still receive it).
        :param unique: one live instance per task name and arguments: enqueueing it
            again while one is queued, scheduled or running returns the live one.
        :param retry_on_timeout: treat a timeout like ``raise Retry()`` (default
            backoff) while tries remain, instead of failing at once.
        :param max_items: a streaming task's items stream keeps at most this many
            items (the oldest are trimmed; a consumer that falls further behind gets
            :class:`~sdk.errors.StreamGap`).
        """
        options = TaskOptions.build(max_tries, timeout, ttl, unique, retry_on_timeout, max_items)

        def register(fn: Callable[..., Any]) -> Task[Any, Any]:
            task: Task[Any, Any] = self._new_task(name or fn.__name__, fn, options)
            self._add(task)
            return task

        return TaskDecorator(register)

    def cron(
        self,
        crontab: str,
        *,
        name: str | None = None,
        tz: tzinfo | None = None,
        max_tries: int = 1,
        timeout: timedelta | float | None = None,
        ttl: timedelta | float | None = DEFAULT_TTL,
        unique: bool = True,
    ) -> CronDecorator[Deps]:
        """Register a task that runs on a schedule, once per tick across all workers.

        ``crontab`` has 5 fields (minute hour day month weekday) or 6 with a
        seconds field last (``"* * * * * */5"``: every 5 seconds); parsed by
        croniter. Can be used while the worker runs (dynamic cron); see
        :meth:`remove_cron`. Every worker of the queue should register the same
        jobs, as with tasks.

        :param tz: the time zone the crontab is read in; default the worker's ``tz``.
        :param unique: skip a tick while the previous run is still live (default).
        """
        validate_crontab(crontab)
        options = TaskOptions.build(max_tries, timeout, ttl, unique)

        def register(fn: Callable[..., Any]) -> Task[Any, Any]:
            task: Task[Any, Any] = self._new_task(name or fn.__name__, fn, options)
            self._add(task)
            self._crons[task.name] = CronJob(task.name, task, crontab, tz or self.tz)
            if self._run is not None:
                self._run.jobs_changed()
            return task

        return CronDecorator(register)

    def _new_task(self, name: str, fn: Callable[..., Any], options: TaskOptions) -> Task[Any, Any]:
        kind = StreamTask if inspect.isasyncgenfunction(fn) else Task
        return kind(self.client, name, fn, options, self._deps.run_locally)

    def _add(self, task: Task[Any, Any]) -> None:
        if task.name in self._tasks:
            raise ConfigurationError(f"a task named {task.name!r} is already registered")
        self._tasks[task.name] = task

    def middleware(self, fn: Middleware[Deps]) -> Middleware[Deps]:
        """Add a middleware (innermost so far); usable as a decorator.

        ::

            @worker.middleware
            async def timing(ctx: WrappedContext[Deps], call_next: CallNext) -> Any:
                started = time.perf_counter()
                try:
                    return await call_next()
                finally:
                    print(ctx.fn_name, time.perf_counter() - started)
        """
        self._middleware.append(fn)
        return fn

    def remove_cron(self, name: str) -> None:
        """Stop scheduling the cron job ``name`` (its task stays registered).

        :raises ConfigurationError: no such cron job.
        """
        if self._crons.pop(name, None) is None:
            raise ConfigurationError(f"no cron job named {name!r}")
        if self._run is not None:
            self._run.jobs_changed()

    @property
    def crons(self) -> Mapping[str, CronJob]:
        """The scheduled cron jobs by name (read-only)."""
        return MappingProxyType(self._crons)

    @property
    def tasks(self) -> Mapping[str, Task[Any, Any]]:
        """The registered tasks by name (read-only)."""
        return MappingProxyType(self._tasks)

    # -- as a client ---------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.client.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.client.__aexit__(exc_type, exc, tb)

    @property
    def redis(self) -> Redis:
        """The redis-py client (while connected)."""
        return self.client.redis

    async def enqueue_many(self, handles: Iterable[TaskResult[T]]) -> list[TaskResult[T]]:
        """Send many task calls in one round trip; see :meth:`Client.enqueue_many`."""
        return await self.client.enqueue_many(handles)

    @property
    def deps(self) -> Deps:
        """What ``worker_lifespan`` yielded, while the worker runs.

        :raises RelayqError: the worker is not running.
        """
        return self._deps.current()  # type: ignore[no-any-return]

    # -- running -------------------------------------------------------------------

    async def run(self, *, burst: bool = False, handle_signals: bool = True) -> None:
        """Consume tasks until :meth:`stop`, SIGTERM or SIGINT (or, with ``burst``,
        until no task is queued, running or due).

        On stop it fetches nothing more, hands prefetched tasks back at once, lets
        running tasks finish within ``grace_period``, then cancels and hands back
        the rest. A second signal cancels running tasks immediately.

        :param handle_signals: install SIGTERM/SIGINT handlers (main thread only).
        :raises RelayqError: a background loop of the worker crashed (it stopped).
        """
        if self._run is not None:
            raise RelayqError(f"{self!r} is already running")
        if not self._tasks:
            logger.warning("worker %s has no registered tasks", self.id)
        threads = thread_pool(self.config)
        run = self._run = WorkerRun(
            client=self.client,
            config=self.config,
            tasks=self._tasks,
            crons=self._crons,
            caller=Caller(self._middleware, self._task_lifespan, threads),
            burst=burst,
        )
        if self._stop_early:
            run.stop()
        loop = asyncio.get_running_loop()
        signals = install_signals(loop, run.stop, run.force) if handle_signals else ()
        try:
            async with self:
                await check_server(self.client)
                async with self._deps.lifespan() as deps:
                    await run.consume(deps, self.ready.set)
        finally:
            self._run = None
            self._stop_early = False
            self.ready.clear()
            for sig in signals:
                loop.remove_signal_handler(sig)
            threads.shutdown(wait=False, cancel_futures=True)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Self]:
        """Run the worker in this event loop for the duration of the block.

        Inside the block it is consuming (and connected, so tasks can be enqueued);
        on exit it stops cleanly. For tests, notebooks and embedding.
        """
        tasks = Supervisor(f"worker {self.id} (running in-process)")
        runner = tasks.spawn(self.run(handle_signals=False), report=False)  # awaited below
        ready = tasks.spawn(self.ready.wait(), report=False)  # awaited or cancelled below
        await asyncio.wait((runner, ready), return_when=asyncio.FIRST_COMPLETED)
        if runner.done():
            ready.cancel()
            runner.result()  # raises what prevented the start
            raise RelayqError("worker stopped before it became ready")
        try:
            async with self.client:
                yield self
        finally:
            self.stop()
            await runner

    def stop(self) -> None:
        """Ask a running worker to shut down gracefully (safe to call from a task,
        and while it is still starting)."""
        if self._run is not None:
            self._run.stop()
        else:
            self._stop_early = True
