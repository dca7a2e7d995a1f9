"""The options a worker takes, validated in one place."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta, timezone, tzinfo
from typing import Any, Final

from .._options import check_option_names
from .._time import seconds
from ..client import ClientOptions
from ..errors import ConfigurationError
from ._delivery import LeaseConfig

__all__ = ["WorkerConfig", "WorkerOptions"]

_DEFAULT_LEASE_S: Final = 30.0
_DEFAULT_GRACE_S: Final = 30.0
_DEFAULT_HEALTH_S: Final = 60.0
_MIN_LEASE_S: Final = 0.3


class WorkerOptions(ClientOptions, total=False):
    """Keyword options of :class:`~sdk.worker.Worker`, besides its lifespans and
    middleware (and every option of :class:`~sdk.client.ClientOptions`).

    :ivar queue_name: the queue to consume (and enqueue to); default ``"default"``.
    :ivar concurrency: tasks run at once in this process; default 16.
    :ivar queue_fetch_limit: deliveries held at most (running + prefetched);
        default ``concurrency * 2``.
    :ivar tz: time zone for cron schedules; default UTC.
    :ivar health_check_interval: how often the worker logs and stores its health;
        default 1 minute.
    :ivar lease: how long a delivery stays this worker's without renewal; a dead
        worker's tasks are reclaimed after about this long. Default 30 s.
    :ivar grace_period: on shutdown, how long running tasks may take to finish
        before they are cancelled and handed back. Default 30 s.
    :ivar worker_id: this worker's name in Redis (unique among live workers);
        default ``host-pid-random``.
    """

    queue_name: str
    concurrency: int
    queue_fetch_limit: int | None
    tz: tzinfo
    health_check_interval: timedelta | float
    lease: timedelta | float
    grace_period: timedelta | float
    worker_id: str | None


_OWN: Final = WorkerOptions.__optional_keys__ - ClientOptions.__optional_keys__


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """A worker's validated options (the client's are in its own ``ClientConfig``)."""

    queue_name: str
    concurrency: int
    fetch_limit: int
    tz: tzinfo
    health_interval_s: float
    lease: LeaseConfig
    grace_s: float
    worker_id: str

    @classmethod
    def build(cls, options: Mapping[str, Any]) -> tuple[WorkerConfig, dict[str, Any]]:
        """Validate the worker's own options; returns them and the client's options.

        :raises ConfigurationError: naming the option that is wrong or unknown.
        """
        check_option_names(options, WorkerOptions.__optional_keys__, "Worker")
        client_options = {k: v for k, v in options.items() if k not in _OWN}
        concurrency = options.get("concurrency", 16)
        if not isinstance(concurrency, int) or concurrency < 1:
            raise ConfigurationError(f"concurrency must be an int >= 1, got {concurrency!r}")
        fetch_limit = options.get("queue_fetch_limit")
        if fetch_limit is None:
            fetch_limit = concurrency * 2
        if not isinstance(fetch_limit, int) or fetch_limit < concurrency:
            raise ConfigurationError(
                f"queue_fetch_limit must be an int >= concurrency ({concurrency}), "
                f"got {fetch_limit!r}"
            )
        lease_s = seconds(options.get("lease", _DEFAULT_LEASE_S), "lease")
        if lease_s is None or lease_s < _MIN_LEASE_S:
            raise ConfigurationError(
                f"lease must be at least {_MIN_LEASE_S} s, got {options.get('lease')!r}"
            )
        health = seconds(
            options.get("health_check_interval", _DEFAULT_HEALTH_S), "health_check_interval"
        )
        grace = seconds(options.get("grace_period", _DEFAULT_GRACE_S), "grace_period")
        tz = options.get("tz", timezone.utc)
        if not isinstance(tz, tzinfo):
            raise ConfigurationError(f"tz must be a datetime.tzinfo, got {tz!r}")
        worker_id = options.get("worker_id") or (
            f"{socket.gethostname()}-{os.getpid()}-{os.urandom(3).hex()}"
        )
        if not isinstance(worker_id, str) or " " in worker_id:
            raise ConfigurationError(
                f"worker_id must be a string without spaces, got {worker_id!r}"
            )
        config = cls(
            queue_name=options.get("queue_name", "default"),
            concurrency=concurrency,
            fetch_limit=fetch_limit,
            tz=tz,
            health_interval_s=health or _DEFAULT_HEALTH_S,
            lease=LeaseConfig.of(lease_s),
            grace_s=grace or 0.0,
            worker_id=worker_id,
        )
        return config, client_options
