"""A benchmark that runs its worker as a child process of itself (standard library
only, uvloop when asked for): the line protocol between the two, the child's
handle on the caller's side, and the plumbing both ``roundtrip.py`` and
``live.py`` share (event loop, package versions, the results table).

The child prints ``MARK + json`` lines (:func:`emit`); everything else it prints
is passed through untouched.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import Coroutine, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, TypeVar

from bench_support import markdown_table

__all__ = [
    "MARK",
    "Child",
    "deadline",
    "emit",
    "package_versions",
    "run_loop",
    "runs_table",
    "uvloop_available",
]

MARK = "@@RELAYQ-BENCH "
T = TypeVar("T")


def emit(kind: str, **data: Any) -> None:
    """In the child: report ``kind`` with ``data`` to the caller."""
    sys.stdout.write(MARK + json.dumps({"kind": kind, **data}) + "\n")
    sys.stdout.flush()


class deadline:
    """``asyncio.timeout`` for Python 3.10: cancel the block after ``seconds`` and
    stop the benchmark with ``message``."""

    def __init__(self, seconds: float, message: str) -> None:
        self.seconds, self.message = seconds, message
        self._handle: asyncio.TimerHandle | None = None
        self._fired = False

    async def __aenter__(self) -> None:
        task = asyncio.current_task()
        assert task is not None

        def fire() -> None:
            self._fired = True
            task.cancel()

        self._handle = asyncio.get_running_loop().call_later(self.seconds, fire)

    async def __aexit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        assert self._handle is not None
        self._handle.cancel()
        if self._fired and exc_type is asyncio.CancelledError:
            raise SystemExit(self.message)


class Child:
    """A worker child process of a benchmark script, speaking MARK lines on stdout."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.messages: dict[str, dict[str, Any]] = {}

    @classmethod
    async def start(
        cls, script: Path, url: str, queue: str, *, uvloop: bool, args: Sequence[str] = ()
    ) -> Child:
        """Run ``script _worker --redis-url URL --queue QUEUE [--no-]uvloop ARGS``."""
        cmd = [
            sys.executable, str(script), "_worker",
            "--redis-url", url, "--queue", queue,
            "--uvloop" if uvloop else "--no-uvloop", *args,
        ]  # fmt: skip
        proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE)
        return cls(proc)

    async def read_until(self, kind: str, timeout: float) -> dict[str, Any]:
        """The data of the child's first ``kind`` report (it may have come already)."""
        assert self.proc.stdout is not None
        async with deadline(timeout, f"worker child: no {kind!r} within {timeout:g}s"):
            while kind not in self.messages:
                line = await self.proc.stdout.readline()
                if not line:
                    raise SystemExit(
                        f"worker child exited ({await self.proc.wait()}) before {kind!r}"
                    )
                text = line.decode()
                if text.startswith(MARK):
                    msg = json.loads(text[len(MARK) :])
                    self.messages[msg.pop("kind")] = msg
        return self.messages[kind]

    async def finish(self, timeout: float) -> dict[str, Any]:
        """Wait for the child's ``result`` and a clean exit."""
        result = await self.read_until("result", timeout)
        rc = await self.proc.wait()
        if rc != 0:
            raise SystemExit(f"worker child exited with {rc}")
        return result

    async def stop(self, timeout: float) -> dict[str, Any]:
        """SIGTERM the child, then :meth:`finish`."""
        self.proc.send_signal(signal.SIGTERM)
        return await self.finish(timeout)

    def kill(self) -> None:
        """Kill it if it still runs (a failed benchmark's cleanup)."""
        if self.proc.returncode is None:
            self.proc.kill()


def run_loop(main: Coroutine[Any, Any, T], use_uvloop: bool) -> T:
    """Run ``main`` on uvloop or on plain asyncio."""
    if use_uvloop:
        import uvloop

        return uvloop.run(main)
    return asyncio.run(main)


def uvloop_available() -> bool:
    """Whether uvloop can be imported here."""
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


def package_versions() -> dict[str, str]:
    """The installed versions of relayq and what it runs on."""
    out = {}
    for dist in ("relayq", "redis", "hiredis", "msgpack", "uvloop"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            pass
    return out


def runs_table(
    rows: Sequence[tuple[str, str, str]], runs: Sequence[dict[str, Any]], med: dict[str, float]
) -> str:
    """A Markdown table: one row per ``(label, key, format)`` that has a median,
    one column per run, and the median when there is more than one run."""
    header = ["metric", *(f"run {r['run']}" for r in runs)]
    if len(runs) > 1:
        header.append("median")
    lines = []
    for label, key, fmt in rows:
        if key not in med:
            continue
        line = [label, *(fmt.format(r[key]) for r in runs)]
        if len(runs) > 1:
            line.append(fmt.format(med[key]))
        lines.append(line)
    return markdown_table(header, lines)
