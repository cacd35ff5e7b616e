"""What every peer adapter shares: the interface, the completion records, the processes.

A peer runs in processes of its own, never in the bench process: a *driver* process
(``python -m rediq_bench.peers.driver``) enqueues through the peer's client API, and the
peer's own worker (its CLI, or its worker API where it has no CLI) runs the jobs. Both use
the interpreter chosen for that peer (``--peer-python``), so a peer whose requirements clash
with another's can live in a virtualenv of its own.

The task function of every peer calls :func:`record`, which writes one fixed-size record
(enqueue time, start, end) to a FIFO the bench process reads. Completion is thereby
measured without a single command on the measured Redis server, as for rediq's own
workers (which count through shared memory).
"""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, ClassVar

__all__ = ["Peer", "PeerUnavailable", "record", "delete_listed", "settings", "Completions", "WorkerProcesses",
           "ENV_URL", "ENV_NS", "ENV_FIFO", "ENV_CONCURRENCY", "ENV_PROCESSES"]

ENV_URL = "REDIQ_BENCH_PEER_URL"
ENV_NS = "REDIQ_BENCH_PEER_NS"
ENV_FIFO = "REDIQ_BENCH_PEER_FIFO"
ENV_CONCURRENCY = "REDIQ_BENCH_PEER_CONCURRENCY"
ENV_PROCESSES = "REDIQ_BENCH_PEER_PROCESSES"

#: One completion: (enqueue time from the payload, start, end), wall-clock seconds.
RECORD = struct.Struct("<ddd")


class PeerUnavailable(Exception):
    """The peer cannot run here; the message says why (not installed, no Redis broker...)."""


class Peer:
    """One peer queue: how to enqueue to it, how to run its workers, how to clean up.

    The class attributes describe the peer; the instance methods run in the driver process
    (one instance per namespace). Async peers define the enqueue methods as coroutines and
    set ``is_async``.

    Attributes:
        name: the name given to ``--peers``.
        distributions: PyPI distributions whose versions are recorded (the first is the peer).
        install: what to ``pip install`` to get it with its Redis support.
        guarantee: the delivery guarantee it gives with its defaults, in a few words.
        bulk: the name of its bulk-enqueue API, or None when it has none.
        is_async: enqueue methods are coroutines.
        requires: (module, what to say when it does not import) pairs that :meth:`check`
            imports in order; ``{install}`` in the text stands for ``install``.
    """

    name: ClassVar[str] = ""
    distributions: ClassVar[tuple[str, ...]] = ()
    install: ClassVar[str] = ""
    guarantee: ClassVar[str] = ""
    bulk: ClassVar[str | None] = None
    is_async: ClassVar[bool] = False
    requires: ClassVar[tuple[tuple[str, str], ...]] = ()

    # -- run in the peer's interpreter -------------------------------------------------
    @classmethod
    def check(cls) -> None:
        """Import what the peer needs to run on Redis (the modules of ``requires``).

        Raises:
            PeerUnavailable: it is missing; the message says what to install.
        """
        import importlib

        for module, missing in cls.requires or ((cls.name, "not installed (pip install {install})"),):
            try:
                importlib.import_module(module)
            except ImportError as exc:
                raise PeerUnavailable(missing.format(install=cls.install)) from exc

    def connect(self, url: str, ns: str) -> Any:
        """Open a client for the queue ``ns`` (may be a coroutine)."""
        raise NotImplementedError

    def enqueue(self, n: int, t: float) -> Any:
        """Enqueue one job carrying (n, t) with the peer's one-job call (may be a coroutine)."""
        raise NotImplementedError

    def enqueue_bulk(self, items: list[tuple[int, float]]) -> Any:
        """Enqueue ``items`` with the peer's bulk call (only when ``bulk`` is set)."""
        raise NotImplementedError

    def close(self) -> Any:
        """Close the client (may be a coroutine)."""

    # -- run in the bench process ------------------------------------------------------
    @classmethod
    def worker_commands(cls, python: str, url: str, ns: str, processes: int,
                        concurrency: int) -> list[list[str]]:
        """The command lines that start the peer's workers (the same settings come by env)."""
        raise NotImplementedError

    @classmethod
    def describe(cls, processes: int, concurrency: int) -> str:
        """How its workers ran, in a few words (for the table)."""
        raise NotImplementedError

    @classmethod
    def cleanup(cls, r: Any, ns: str) -> None:
        """Delete the keys of the queue ``ns`` from a user's server (outside any window).

        The default deletes every key whose name holds ``ns``; a peer that keeps jobs under
        global names adds those it can find. (On the embedded server the bench flushes
        everything instead.)
        """
        _delete_matching(r, f"*{ns}*")

    #: the signal that asks its worker for a graceful stop
    stop_signal: ClassVar[int] = signal.SIGTERM


def _delete_matching(r: Any, pattern: str) -> None:
    batch: list[bytes] = []
    for key in r.scan_iter(match=pattern, count=1000):
        batch.append(key)
        if len(batch) >= 1000:
            r.delete(*batch)
            batch.clear()
    if batch:
        r.delete(*batch)


def delete_listed(r: Any, keys: list[str]) -> None:
    """Delete ``keys`` in batches."""
    for i in range(0, len(keys), 1000):
        r.delete(*keys[i:i + 1000])


# -- the task side: completion records ------------------------------------------------
_fd: tuple[int, int] | None = None
_fd_lock = threading.Lock()


def _fifo() -> int | None:
    global _fd
    pid = os.getpid()
    current = _fd
    if current is not None and current[0] == pid:
        return current[1]
    with _fd_lock:
        if _fd is not None and _fd[0] == pid:
            return _fd[1]
        path = os.environ.get(ENV_FIFO)
        if not path:
            return None
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)  # ENXIO: the bench is gone
        except OSError:
            return None
        os.set_blocking(fd, True)
        _fd = (pid, fd)
        return fd


def record(sent: float, start: float) -> None:
    """Report one finished job to the bench: (enqueue time, start, now) to the FIFO.

    One ``write`` of 24 bytes: atomic on a pipe (under PIPE_BUF), so threads and
    processes of a worker may all call it at once.
    """
    end = time.time()
    fd = _fifo()
    if fd is not None:
        try:
            os.write(fd, RECORD.pack(sent, start, end))
        except OSError:
            pass


def settings() -> tuple[str, str, int, int]:
    """(url, namespace, concurrency, processes) of the worker, from its environment."""
    return (os.environ[ENV_URL], os.environ[ENV_NS], int(os.environ.get(ENV_CONCURRENCY, "16")),
            int(os.environ.get(ENV_PROCESSES, "1")))


# -- the bench side -------------------------------------------------------------------
class Completions:
    """A FIFO in ``directory`` that the peers' task functions write records to.

    A thread reads it into :attr:`records`; the bench keeps a writer end open itself, so
    the reader never sees end-of-file while worker processes come and go. The pipe is
    enlarged to 1 MiB (where Linux allows) so writers do not wait on the reader.
    """

    def __init__(self, directory: Path) -> None:
        self.path = directory / "completions.fifo"
        os.mkfifo(self.path, 0o600)
        self._rfd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        self._wfd = os.open(self.path, os.O_WRONLY)
        try:
            import fcntl

            fcntl.fcntl(self._rfd, getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
        except (ImportError, OSError):
            pass
        self.records: list[tuple[float, float, float]] = []
        self._stop = False
        self._thread = threading.Thread(target=self._read, name="peer-completions", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        # Polls every 2 ms instead of waking on each record: on a 2-core machine a wake-up
        # per job would take CPU from the workers being measured. The records carry their
        # own times, so the polling delays no figure.
        size = RECORD.size
        pending = b""
        while not self._stop:
            try:
                chunk = os.read(self._rfd, size * 43690)
            except BlockingIOError:
                time.sleep(0.002)
                continue
            except OSError:
                return
            data = pending + chunk
            whole = len(data) - len(data) % size
            self.records.extend(RECORD.iter_unpack(data[:whole]))
            pending = data[whole:]
            time.sleep(0.002)

    def count(self) -> int:
        """Records received so far."""
        return len(self.records)

    def since(self, mark: int) -> list[tuple[float, float, float]]:
        """The records received after the first ``mark``."""
        return list(self.records[mark:])

    def close(self) -> None:
        """Stop the reader and remove the FIFO."""
        self._stop = True
        self._thread.join(2.0)
        for fd in (self._rfd, self._wfd):
            try:
                os.close(fd)
            except OSError:
                pass
        try:
            self.path.unlink()
        except OSError:
            pass


class WorkerProcesses:
    """The peer's worker processes, each in a session of its own; always stopped on exit.

    Args:
        commands: the command lines (see :meth:`Peer.worker_commands`).
        env: their environment.
        log: the file their output goes to (its tail is shown when one dies).
        stop_signal: the signal that asks for a graceful stop.
    """

    def __init__(self, commands: list[list[str]], env: dict[str, str], log: Path, cwd: Path,
                 stop_signal: int = signal.SIGTERM) -> None:
        self.log = log
        self.stop_signal = stop_signal
        self._out = open(log, "ab")  # noqa: SIM115 - closed in stop()
        self.procs: list[subprocess.Popen[bytes]] = []
        try:
            for argv in commands:
                self.procs.append(subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                                                   stdout=self._out, stderr=subprocess.STDOUT,
                                                   start_new_session=True))
        except BaseException:
            self.stop()
            raise

    def tail(self, lines: int = 8) -> str:
        """The last lines of the workers' output."""
        try:
            text = self.log.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(line.strip() for line in text[-lines:])

    def dead(self) -> str | None:
        """None while every process runs; else what one of them said as it exited."""
        for p in self.procs:
            code = p.poll()
            if code is not None:
                return f"worker process exited (code {code}): {self.tail()}"
        return None

    def stop(self, grace: float = 15.0) -> None:
        """Ask each process to stop; kill its process group after ``grace`` seconds."""
        for p in self.procs:
            if p.poll() is None:
                try:
                    p.send_signal(self.stop_signal)
                except OSError:
                    pass
        deadline = time.monotonic() + grace
        for p in self.procs:
            try:
                p.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                pass
        for p in self.procs:
            # Every process of the group is one this bench started (pool children included).
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                pass
        if not self._out.closed:
            self._out.close()
