"""Fixtures of the client + worker behaviour suite: in-process workers on threads and
real worker processes (``tests/procs.py``), both always stopped at teardown."""

from __future__ import annotations

import threading
from typing import Any, Callable, Iterator

import pytest
import redis

import rediq
from procs import WorkerProcs


class ThreadWorkers:
    """Run :class:`rediq.Worker` instances on threads; stop them all at teardown."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.running: list[tuple[rediq.Worker, threading.Thread, rediq.Client]] = []
        self.errors: list[BaseException] = []

    def start(self, handlers: dict[str, Callable[..., Any]],
              queues: dict[str, rediq.QueueConfig] | list[str], *, client_name: str | None = None,
              **kwargs: Any) -> rediq.Worker:
        """Build a worker on its own client (connections named ``client_name``) and run it
        on a thread."""
        client = rediq.Client.from_url(self.url, **({"client_name": client_name} if client_name else {}))
        worker = rediq.Worker(client, handlers, queues, **kwargs)

        def run() -> None:
            try:
                worker.run()
            except BaseException as exc:  # noqa: BLE001 - reported at teardown
                self.errors.append(exc)

        thread = threading.Thread(target=run, name="test-worker", daemon=True)
        thread.start()
        self.running.append((worker, thread, client))
        return worker

    def thread_of(self, worker: rediq.Worker) -> threading.Thread:
        return next(t for w, t, _ in self.running if w is worker)

    def stop_all(self) -> list[str]:
        stuck = []
        for worker, thread, _ in self.running:
            worker.stop(grace=0.0)
        for worker, thread, client in self.running:
            thread.join(10)
            if thread.is_alive():
                stuck.append(worker.id)
            client.close()
        return stuck


class Gate:
    """A named set of events handlers wait on; all are opened at teardown."""

    def __init__(self) -> None:
        self._events: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def __getitem__(self, name: str) -> threading.Event:
        with self._lock:
            return self._events.setdefault(name, threading.Event())

    def wait(self, name: str, timeout: float = 30.0) -> None:
        if not self[name].wait(timeout):
            raise TimeoutError(f"gate {name!r} never opened")

    def open_all(self) -> None:
        with self._lock:
            for e in self._events.values():
                e.set()


class Recorder:
    """Thread-safe log of handler runs with server-clock timestamps (ms)."""

    def __init__(self, r: Any) -> None:
        self.r = r
        self._lock = threading.Lock()
        self.runs: list[dict[str, Any]] = []

    def __call__(self, job: rediq.JobContext, **extra: Any) -> dict[str, Any]:
        sec, usec = self.r.time()
        item = {"id": job.id, "attempt": job.attempt, "data": job.data,
                "t_ms": sec * 1000 + usec / 1000, **extra}
        with self._lock:
            self.runs.append(item)
        return item

    def of(self, job_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return [x for x in self.runs if x["id"] == job_id]

    def __len__(self) -> int:
        with self._lock:
            return len(self.runs)


@pytest.fixture
def gate() -> Iterator[Gate]:
    """Events handlers block on; opened at teardown so no handler thread lingers."""
    g = Gate()
    yield g
    g.open_all()


@pytest.fixture
def rec(server: Any) -> Iterator[Recorder]:
    """A recorder of handler runs (server clock), on its own connection pool."""
    conn = redis.Redis.from_url(server.url)
    yield Recorder(conn)
    conn.close()


@pytest.fixture
def workers(server: Any, r: Any, gate: Gate) -> Iterator[ThreadWorkers]:
    """In-process workers (on threads) against the flushed default server."""
    tw = ThreadWorkers(server.url)
    yield tw
    gate.open_all()
    stuck = tw.stop_all()
    assert not stuck, f"workers did not stop: {stuck}"
    assert not tw.errors, f"worker.run() raised: {tw.errors!r}"


@pytest.fixture
def procs(server: Any, r: Any) -> Iterator[WorkerProcs]:
    """Worker processes against the flushed default server; SIGKILLed at teardown."""
    wp = WorkerProcs(server.url)
    yield wp
    logs = wp.cleanup()
    print("\n".join(log[-4000:] for log in logs))  # shown when the test failed
