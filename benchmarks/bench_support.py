"""Shared plumbing of the benchmark scripts (standard library only).

- :class:`RedisServer` starts a private ``redis-server`` on a free port (never
  6379) with persistence off, and stops it by its own PID;
- :class:`MiniRedis` speaks just enough RESP2 to flush the server, read ``INFO``
  and run the odd verification command, without any client library (the peer
  harness's orchestrator runs outside every library's virtualenv);
- small helpers: percentiles, medians, a Markdown table, machine facts.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import math
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

# this checkout's sdk, also when relayq is not installed (compare.py runs as a script)
if str(Path(__file__).resolve().parents[1]) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sdk._redis_server import RedisServer as _Server
from sdk._redis_server import RedisServerMissing, find_redis_server

__all__ = [
    "MiniRedis",
    "RedisServer",
    "free_port",
    "machine_info",
    "markdown_table",
    "median",
    "percentile",
    "source_info",
]


class MiniRedis:
    """A blocking RESP2 connection: enough to flush, read INFO and check state."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.sock = socket.create_connection((host, port), timeout=30)
        self.file = self.sock.makefile("rb")

    def cmd(self, *args: object) -> Any:
        """Send one command and return its decoded reply (errors raise ``RuntimeError``)."""
        parts = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        buf = b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)
        self.sock.sendall(buf)
        return self._read()

    def _read(self) -> Any:
        line = self.file.readline()
        if not line:
            raise ConnectionError("redis closed the connection")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self.file.read(n + 2)[:-2]
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._read() for _ in range(n)]
        raise RuntimeError(f"bad RESP line {line!r}")

    def info(self, section: str = "everything") -> dict[str, str]:
        """``INFO`` as a flat dict."""
        out: dict[str, str] = {}
        for ln in self.cmd("INFO", section).decode().splitlines():
            if ":" in ln and not ln.startswith("#"):
                k, v = ln.split(":", 1)
                out[k] = v
        return out

    def stats(self) -> tuple[int, float, int]:
        """``(commands processed, server CPU seconds, used memory bytes)``."""
        i = self.info("everything")
        cpu = float(i["used_cpu_user"]) + float(i["used_cpu_sys"])
        return int(i["total_commands_processed"]), cpu, int(i["used_memory"])

    def flush(self) -> None:
        """Forget all data, scripts and functions."""
        self.cmd("FLUSHALL")
        self.cmd("SCRIPT", "FLUSH")
        try:
            self.cmd("FUNCTION", "FLUSH")
        except RuntimeError:  # redis < 7
            pass

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def free_port() -> int:
    """A free TCP port on 127.0.0.1 that is not 6379."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port: int = s.getsockname()[1]
        if port != 6379:
            return port


class RedisServer:
    """A private, throwaway ``redis-server`` (no persistence): relayq's own launcher
    (``sdk._redis_server``) with a :class:`MiniRedis` client beside it.

    ::

        with RedisServer() as redis:
            redis.url, redis.client.flush()
    """

    def __init__(self, exe: str | None = None, workdir: Path | None = None) -> None:
        try:
            binary = find_redis_server(exe)
        except RedisServerMissing as exc:
            raise SystemExit(f"{exc} (or pass its path)") from None
        self._tmp = None if workdir else tempfile.TemporaryDirectory(prefix="relayq-bench-")
        self.workdir = workdir or Path(self._tmp.name if self._tmp else ".")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.server = _Server(binary, self.workdir)
        self.server.start()
        self.port = self.server.port
        self.log = self.server.log
        self.client = MiniRedis(self.port)
        self.version: str = self.client.info("server")["redis_version"]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        client = getattr(self, "client", None)
        if client is not None:
            client.close()
        self.server.stop(graceful=True)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> RedisServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of ``values`` (need not be sorted)."""
    ordered = sorted(values)
    k = max(0, math.ceil(p / 100.0 * len(ordered)) - 1)
    return ordered[k]


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table with padded columns."""
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(header)]
    lines = ["| " + " | ".join(h.ljust(widths[i]) for i, h in enumerate(header)) + " |"]
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        lines.append("| " + " | ".join(v.ljust(widths[i]) for i, v in enumerate(r)) + " |")
    return "\n".join(lines)


def machine_info() -> dict[str, Any]:
    """Facts that make a figure reproducible: date, CPU, cores, kernel, Python."""
    cpu = "?"
    try:
        for ln in Path("/proc/cpuinfo").read_text().splitlines():
            if ln.startswith("model name"):
                cpu = ln.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "date_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "loadavg_1m_at_start": os.getloadavg()[0],
    }


def source_info(root: Path) -> dict[str, Any]:
    """Which relayq code was measured: commit, whether ``sdk/`` differs from it, and a
    digest of every file under ``sdk/`` (equal digests = the same code)."""
    digest = hashlib.sha256()
    for path in sorted((root / "sdk").rglob("*")):
        if path.is_file() and path.suffix in (".py", ".lua"):
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    out: dict[str, Any] = {"sdk_sha256": digest.hexdigest()[:16]}
    try:
        out["commit"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--", "sdk"], cwd=root, capture_output=True, text=True
        ).stdout
        out["sdk_dirty"] = bool(status.strip())
    except OSError:
        pass
    return out
