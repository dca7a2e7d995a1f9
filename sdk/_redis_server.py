"""A throwaway ``redis-server`` for the demo, the tests and the benchmarks.

One launcher for all three: a ``redis-server`` subprocess on a free loopback
port (never 6379, whose data may be someone's), in a temporary directory, with
persistence off unless asked for; it can be crashed and started again on the
same port and directory, and it is gone when the block exits.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

__all__ = ["INSTALL_REDIS", "RedisServer", "RedisServerMissing", "find_redis_server", "throwaway"]

#: The command that installs ``redis-server`` on Debian and Ubuntu.
INSTALL_REDIS: Final = "sudo apt-get install -y redis-server"
_START_TIMEOUT_S: Final = 15.0


class RedisServerMissing(RuntimeError):
    """``redis-server`` is not installed (the message says how to install it)."""


def find_redis_server(executable: str | None = None) -> str:
    """The path of ``redis-server`` (or of ``executable``).

    :raises RedisServerMissing: it is not on ``PATH``.
    """
    found = shutil.which(executable or "redis-server")
    if found is None:
        raise RedisServerMissing(
            f"{executable or 'redis-server'} is not on PATH; install it with: {INSTALL_REDIS}"
        )
    return found


def free_port() -> int:
    """A loopback TCP port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """A ``redis-server`` subprocess that its owner starts, crashes and restarts.

    :param executable: the ``redis-server`` binary.
    :param directory: its ``--dir`` (AOF and RDB files go there) and its log.
    :ivar port: the loopback port it listens on (kept across restarts).
    """

    def __init__(self, executable: str, directory: Path, port: int | None = None) -> None:
        self.executable = executable
        self.dir = directory
        self.port = port or free_port()
        self.appendonly = False
        self.log = directory / "redis.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>``."""
        return f"redis://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        """Whether the subprocess is alive."""
        return self._proc is not None and self._proc.poll() is None

    def start(self, *, appendonly: bool = False) -> None:
        """Start the server and return once it answers PING.

        :raises RuntimeError: it did not start (the message ends with its log).
        """
        if self.running:
            raise RuntimeError("redis-server is already running")
        self.appendonly = appendonly
        options = {
            "port": str(self.port),
            "bind": "127.0.0.1",
            "save": "",
            "appendonly": "yes" if appendonly else "no",
            "appendfsync": "always",
            "daemonize": "no",
            "dir": str(self.dir),
            "logfile": str(self.log),
        }
        argv = [self.executable, *(x for k, v in options.items() for x in (f"--{k}", v))]
        # its own session: a Ctrl-C at the terminal must not kill Redis before the
        # worker using it has stopped
        self._proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline and self._proc.poll() is None:
            if _ping(self.port):
                return
            time.sleep(0.01)
        self.stop()
        tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
        raise RuntimeError(f"redis-server on port {self.port} did not start:\n{tail}")

    def stop(self, *, graceful: bool = False) -> None:
        """Stop the server: killed, like a crash (nothing is saved beyond what AOF has
        already), or with ``graceful`` a SIGTERM first."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM if graceful else signal.SIGKILL)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)

    def restart(self, *, appendonly: bool | None = None) -> None:
        """Crash and start again on the same port (``appendonly=None`` keeps the setting)."""
        self.stop()
        self.start(appendonly=self.appendonly if appendonly is None else appendonly)

    def reset(self) -> None:
        """Restart empty, with the default configuration (persistence files deleted)."""
        self.stop()
        for path in self.dir.iterdir():
            if path.is_dir():
                shutil.rmtree(path)
            elif path != self.log:
                path.unlink()
        self.start()


@contextmanager
def throwaway(
    prefix: str = "relayq-redis-", *, appendonly: bool = False, executable: str | None = None
) -> Iterator[RedisServer]:
    """A started :class:`RedisServer` in a new temporary directory; on exit it is
    stopped and the directory removed.

    :raises RedisServerMissing: ``redis-server`` is not installed.
    """
    binary = find_redis_server(executable)
    directory = Path(tempfile.mkdtemp(prefix=prefix))
    server: RedisServer | None = None
    try:
        for attempt in range(3):  # a free port can be taken between probing and binding
            server = RedisServer(binary, directory)
            try:
                server.start(appendonly=appendonly)
                break
            except RuntimeError:
                if attempt == 2:
                    raise
        assert server is not None
        yield server
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(directory, ignore_errors=True)
