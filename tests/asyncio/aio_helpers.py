"""Helpers of the asyncio suite: one adapter over the sync and the async client, workers
run the two ways a program runs them, and measurements taken inside handlers.

This folder has no ``__init__.py`` on purpose: a package named ``asyncio`` on the test
path would shadow the standard library. Module names start with ``aio_`` / ``test_aio_``
so they never clash with another folder's modules in pytest's default import mode.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

import rediq
import redis
import redis.asyncio as aredis
from rediq import commands as C

T = TypeVar("T")

# Methods of AsyncClient/AsyncQueue/AsyncJob that do no I/O and so are plain methods.
NO_IO = {"queue", "job"}


# ----------------------------------------------------------------------------- the adapter
class Blocking:
    """Drive an async rediq object from sync test code.

    Every method that does I/O must return an awaitable (else the test fails: a sync call
    in the async client would block the event loop); it is run to completion on the
    test's event loop. Queues and jobs it returns are wrapped the same way.
    """

    def __init__(self, target: Any, runner: asyncio.Runner) -> None:
        self._target = target
        self._runner = runner

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            out = attr(*args, **kwargs)
            if name in NO_IO:
                assert not inspect.isawaitable(out), f"{name}() should need no await"
            else:
                assert inspect.isawaitable(out), (
                    f"{type(self._target).__name__}.{name}() returned {type(out).__name__}, "
                    "not an awaitable: it would block the event loop")
                out = self._runner.run(out)
            return self._wrap(out)

        return call

    def _wrap(self, value: Any) -> Any:
        if isinstance(value, (rediq.AsyncQueue, rediq.AsyncJob, rediq.AsyncClient)):
            return Blocking(value, self._runner)
        if isinstance(value, list) and value and isinstance(value[0], rediq.AsyncJob):
            return [Blocking(v, self._runner) for v in value]
        return value

    def __repr__(self) -> str:
        return f"Blocking({self._target!r})"


class Api:
    """The client under test, sync or async, behind one sync-looking surface.

    Attributes:
        kind: ``"sync"`` or ``"async"``.
        client: the sync :class:`rediq.Client`, or the wrapped :class:`rediq.AsyncClient`.
    """

    def __init__(self, kind: str, url: str) -> None:
        self.kind = kind
        self.url = url
        self._runner: asyncio.Runner | None = None
        if kind == "sync":
            self._raw: Any = rediq.Client.from_url(url)
            self.client: Any = self._raw
        else:
            self._runner = asyncio.Runner()
            self._raw = rediq.AsyncClient.from_url(url)
            self.client = Blocking(self._raw, self._runner)

    def queue(self, name: Any) -> Any:
        return self.client.queue(name)

    def from_url(self, url: str, **kwargs: Any) -> Any:
        """Build another client of the same kind (wrapped); the caller closes it."""
        if self.kind == "sync":
            return rediq.Client.from_url(url, **kwargs)
        return Blocking(rediq.AsyncClient.from_url(url, **kwargs), self._require_runner())

    def wrap_redis(self, sync_cls: type[redis.Redis] = redis.Redis,
                   async_cls: type[aredis.Redis] = aredis.Redis, **kwargs: Any) -> Any:
        """Build the client of this kind around a redis-py client (of ``sync_cls`` or
        ``async_cls``) on the test server; the caller closes it."""
        if self.kind == "sync":
            return rediq.Client(sync_cls.from_url(self.url, **kwargs))
        return Blocking(rediq.AsyncClient(async_cls.from_url(self.url, **kwargs)), self._require_runner())

    def no_retry(self) -> Any:
        """A redis-py ``Retry`` of this kind that does not retry."""
        from redis.backoff import NoBackoff

        if self.kind == "sync":
            from redis.retry import Retry
        else:
            from redis.asyncio.retry import Retry  # type: ignore[assignment]
        return Retry(NoBackoff(), 0)

    def _require_runner(self) -> asyncio.Runner:
        assert self._runner is not None
        return self._runner

    def close(self) -> None:
        if self.kind == "sync":
            self._raw.close()
        else:
            runner = self._require_runner()
            runner.run(self._raw.aclose())
            runner.close()


# ------------------------------------------------------------------ raw script calls (sync)
def claim(client: rediq.Client, queue: str, n: int = 1, lease: float = 30.0,
          token: str = "test-token") -> C.ClaimResult:
    """Claim up to ``n`` jobs of ``queue`` as a fake worker would (claim-7)."""
    keys = client.queue(queue).keys
    return C.parse_claim(client.run(C.build_claim(keys, n, token, int(lease * 1000))))


def fail(client: rediq.Client, queue: str, job_id: str, token: str = "test-token",
         error: str = "RuntimeError: planned") -> C.FailResult:
    """Record a failed run of a job claimed with :func:`claim` (fail-7)."""
    keys = client.queue(queue).keys
    return C.parse_fail(client.run(C.build_fail(keys, job_id, token, error, 0.5)))


# -------------------------------------------------------------------------------- workers
@contextmanager
def serving(url: str, handlers: Mapping[str, Callable[..., Any]],
            queues: Mapping[str, rediq.QueueConfig] | list[str], *, mode: str = "thread",
            grace: float = 5.0, stop_grace: float | None = 0.0,
            **client_options: Any) -> Iterator[rediq.Worker]:
    """Run a worker while the block runs, the way a program runs one.

    Args:
        mode: ``"thread"``: ``worker.run()`` on a thread (async handlers on the worker's
            private loop). ``"embedded"``: ``asyncio.run(worker.run_async())`` on a thread
            that stands for an application's loop (async handlers on that loop).
        stop_grace: grace of the stop at the end of the block (None: the worker's own).
        **client_options: for the worker's ``Client.from_url`` (``prefix=``...).
    """
    client = rediq.Client.from_url(url, **client_options)
    worker = rediq.Worker(client, handlers, queues, grace=grace)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            if mode == "thread":
                worker.run()
            else:
                asyncio.run(worker.run_async())
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    thread = threading.Thread(target=run, name=f"test-worker-{mode}", daemon=True)
    thread.start()
    try:
        yield worker
    finally:
        worker.stop(stop_grace)
        thread.join(15)
        client.close()
        assert not thread.is_alive(), "worker did not stop within 15 s"
    assert not errors, f"worker raised: {errors!r}"


# --------------------------------------------------------------------------- measurements
class Gauge:
    """Count handlers running at once (thread-safe), overall and per label."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.now: dict[str, int] = {}
        self.peak = 0
        self.peak_by: dict[str, int] = {}
        self.snapshots: list[dict[str, int]] = []   # per-label counts whenever the total peaked

    def enter(self, label: str) -> None:
        with self._lock:
            self.now[label] = self.now.get(label, 0) + 1
            total = sum(self.now.values())
            self.peak_by[label] = max(self.peak_by.get(label, 0), self.now[label])
            if total >= self.peak:
                self.peak = total
                self.snapshots.append(dict(self.now))

    def leave(self, label: str) -> None:
        with self._lock:
            self.now[label] -= 1

    def hold(self, peak: int, timeout: float = 2.0) -> None:
        """Keep a sync handler running until ``peak`` handlers ran at once (or ``timeout``),
        so a limit that should be reached is reached however slow the machine is."""
        deadline = time.monotonic() + timeout
        while self.peak < peak and time.monotonic() < deadline:
            time.sleep(0.005)

    async def ahold(self, peak: int, timeout: float = 2.0) -> None:
        """:meth:`hold` for async handlers."""
        deadline = time.monotonic() + timeout
        while self.peak < peak and time.monotonic() < deadline:
            await asyncio.sleep(0.005)


async def until(predicate: Callable[[], Awaitable[T] | T], timeout: float = 10.0,
                what: str = "condition", interval: float = 0.01) -> T:
    """Async twin of ``helpers.wait_until``: poll ``predicate`` (sync or async) until truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value  # type: ignore[return-value]
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {value!r})")
        await asyncio.sleep(interval)


def lease_margins(r: redis.Redis, active_key: str, job_id: str, stop: threading.Event,
                  out: list[float]) -> None:
    """Until ``stop``, record (lease deadline - server now) in ms of ``job_id`` while active."""
    while not stop.is_set():
        pipe = r.pipeline(transaction=True)
        pipe.time()
        pipe.zscore(active_key, job_id)
        (sec, usec), score = pipe.execute()
        if score is not None:
            out.append(score - (sec * 1000 + usec / 1000))
        stop.wait(0.02)
