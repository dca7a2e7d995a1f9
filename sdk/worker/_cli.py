"""The ``relayq`` command line: ``run`` a worker, show a queue's ``status``, run the ``demo``.

::

    relayq run examples.app:worker [--workers N] [--burst] [--reload] [--uvloop] [--verbose]
    relayq status examples.app:worker [--watch] [--interval S]
    relayq demo

``MODULE:ATTR`` names a :class:`~sdk.worker.Worker` object; the current directory
is put first on ``sys.path`` so a project's own modules import as they do in its
tests. ``run`` with ``--workers`` or ``--reload`` supervises child processes of
this same command (:mod:`sdk.worker._processes`, :mod:`sdk.worker._reload`);
otherwise the worker runs in this process and the exit code is 0 after a
graceful SIGTERM/SIGINT.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import sys
import time
import traceback
from collections.abc import Callable, Coroutine
from typing import Any

import click

from .. import __version__
from ..client import Client
from ..errors import RelayqError
from ._inspect import format_status, read_status
from ._logging import LOG_FORMAT, setup_logging
from ._processes import exit_with_supervisor, supervise, worker_command
from ._runner import install_signals
from ._worker import Worker

__all__ = ["cli", "load_worker", "main", "run_worker"]

logger = logging.getLogger("relayq.cli")


def _split_target(target: str) -> tuple[str, str]:
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise click.BadParameter(
            f"expected MODULE:ATTR, e.g. examples.app:worker; got {target!r}",
            param_hint="'MODULE:ATTR'",
        )
    return module_name, attr


def _import_module(module_name: str) -> Any:
    cwd = os.getcwd()
    if cwd not in sys.path:
        # what `python -m` does: the project's own packages import from where we run
        sys.path.insert(0, cwd)
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        missing = exc.name or ""
        if missing and (module_name == missing or module_name.startswith(missing + ".")):
            raise click.ClickException(
                f"cannot import module {module_name!r}: {exc}. Run relayq from the directory "
                f"that contains it (now {cwd}) or add that directory to PYTHONPATH."
            ) from None
        raise _import_error(module_name, exc) from None
    except Exception as exc:
        raise _import_error(module_name, exc) from None


def _import_error(module_name: str, exc: BaseException) -> click.ClickException:
    report = traceback.TracebackException(type(exc), exc, exc.__traceback__)
    # the user's frames are the story; ours and importlib's are noise
    report.stack = traceback.StackSummary.from_list(
        [f for f in report.stack if f.filename != __file__ and "importlib" not in f.filename]
    )
    text = "".join(report.format())
    return click.ClickException(f"importing {module_name!r} raised an exception:\n{text}")


def load_worker(target: str) -> Worker[Any]:
    """Import ``MODULE:ATTR`` and return the :class:`Worker` it names.

    :raises click.ClickException: the import fails, the attribute is missing, or
        it is not a ``Worker`` (the message says which).
    :raises click.BadParameter: ``target`` is not of the form ``MODULE:ATTR``.
    """
    module_name, attr = _split_target(target)
    obj = _import_module(module_name)
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise click.ClickException(
                f"module {module_name!r} has no attribute {attr!r}"
            ) from None
    if not isinstance(obj, Worker):
        raise click.ClickException(
            f"{target!r} is a {type(obj).__name__}, not a relayq Worker "
            "(it should name e.g. `worker = Worker(...)`)"
        )
    return obj


def _loop_runner(use_uvloop: bool) -> Callable[[Coroutine[Any, Any, None]], None]:
    if not use_uvloop:
        return asyncio.run
    try:
        import uvloop
    except ImportError:
        raise click.ClickException("--uvloop needs uvloop: pip install 'relayq[uvloop]'") from None
    run: Callable[[Coroutine[Any, Any, None]], None] = uvloop.run
    return run


def run_worker(worker: Worker[Any], *, burst: bool = False, use_uvloop: bool = False) -> int:
    """Run ``worker`` in this process until it stops; return the process exit code.

    0 after a graceful stop (SIGTERM, SIGINT, or a drained queue with ``burst``);
    1 when the worker cannot run (e.g. Redis is unreachable); 130 on an interrupt
    that arrived before the worker installed its signal handlers.
    """
    runner = _loop_runner(use_uvloop)

    exit_with_supervisor()
    logger.info(
        "relayq %s: worker for queue %r on %s%s",
        __version__,
        worker.queue_name,
        worker.client.safe_url,
        " (burst)" if burst else "",
    )
    try:
        runner(worker.run(burst=burst))
    except KeyboardInterrupt:
        return 130
    except RelayqError as exc:
        logger.error("%s", exc)
        return 1
    return 0


# -- status ------------------------------------------------------------------------


async def _show_status(client: Client, watch: bool, interval: float) -> None:
    stopped = _stop_on_signals() if watch else asyncio.Event()
    async with client:
        while True:
            text = format_status(await read_status(client), time.time())
            if watch and sys.stdout.isatty():
                click.clear()
            click.echo(text)
            if not watch:
                return
            click.echo(f"(every {interval:g}s; Ctrl-C to stop)\n" if sys.stdout.isatty() else "")
            try:
                await asyncio.wait_for(stopped.wait(), interval)
                return
            except asyncio.TimeoutError:
                pass


def _stop_on_signals() -> asyncio.Event:
    """An event the first SIGINT or SIGTERM sets; a second one cancels the watch.

    Not asyncio.run's own Ctrl-C handling, which cancels the main task: on Python
    3.11 a cancellation landing inside a redis-py call can be swallowed (see
    ``sdk._aio.stop_task``), and the watch would then go on for ever.
    """
    stopped = asyncio.Event()
    main = asyncio.current_task()

    def force() -> None:
        if main is not None:
            main.cancel()

    install_signals(asyncio.get_running_loop(), stopped.set, force)
    return stopped


# -- commands ----------------------------------------------------------------------


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="relayq")
def cli() -> None:
    """relayq: a typed, async, RPC-style task queue on Redis."""


@cli.command(short_help="Run a worker: MODULE:ATTR names a Worker object.")
@click.argument("target", metavar="MODULE:ATTR")
@click.option(
    "--workers",
    "-w",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Worker processes to run, as child processes of this one.",
)
@click.option("--burst", is_flag=True, help="Exit once nothing is queued, running or due.")
@click.option(
    "--reload",
    is_flag=True,
    help="Restart when a .py file under the current directory changes (relayq[reload]).",
)
@click.option("--uvloop", "use_uvloop", is_flag=True, help="Use uvloop (relayq[uvloop]).")
@click.option("--verbose", "-v", is_flag=True, help="Log at DEBUG instead of INFO.")
def run(
    target: str, workers: int, burst: bool, reload: bool, use_uvloop: bool, verbose: bool
) -> None:
    """Run the worker MODULE:ATTR (e.g. examples.app:worker) until SIGTERM or Ctrl-C."""
    setup_logging(verbose)
    _split_target(target)
    child_args = ["run", target]
    child_args += ["--burst"] * burst + ["--uvloop"] * use_uvloop + ["--verbose"] * verbose
    if use_uvloop:
        _loop_runner(True)  # fail here, not in every child
    if reload:
        from ._reload import run_with_reload

        if workers > 1:
            child_args += ["--workers", str(workers)]
        raise SystemExit(run_with_reload(worker_command(child_args), os.getcwd()))
    if workers > 1:
        load_worker(target)  # one clear error here instead of one per child
        raise SystemExit(supervise(worker_command(child_args), workers))
    raise SystemExit(run_worker(load_worker(target), burst=burst, use_uvloop=use_uvloop))


@cli.command(short_help="Show a queue: depth, scheduled, running, live workers.")
@click.argument("target", metavar="MODULE:ATTR")
@click.option("--watch", is_flag=True, help="Refresh until Ctrl-C.")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    default=2.0,
    show_default=True,
    help="Seconds between refreshes with --watch.",
)
def status(target: str, watch: bool, interval: float) -> None:
    """Show the queue of worker MODULE:ATTR: depth, scheduled, running, live workers."""
    logging.basicConfig(level=logging.WARNING, format=LOG_FORMAT)
    worker = load_worker(target)
    try:
        asyncio.run(_show_status(worker.client, watch, interval))
    except KeyboardInterrupt:
        pass
    except RelayqError as exc:
        raise click.ClickException(str(exc)) from None


@cli.command(short_help="Try relayq: a throwaway Redis, a worker, typed calls.")
@click.option(
    "--tasks",
    type=click.IntRange(min=1, max=1_000_000),
    default=5000,
    show_default=True,
    help="No-op tasks for the throughput figure.",
)
@click.option("--verbose", "-v", is_flag=True, help="Show the worker's log lines too.")
def demo(tasks: int, verbose: bool) -> None:
    """Start a throwaway redis-server and a worker for examples/, make typed calls.

    Uses $REDIS_URL instead of starting redis-server when it is set.
    """
    from ._demo import run_demo

    raise SystemExit(run_demo(tasks=tasks, verbose=verbose))


def main() -> None:
    """Entry point of the ``relayq`` console script."""
    cli.main(prog_name="relayq")


if __name__ == "__main__":
    main()
