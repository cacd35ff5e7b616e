"""Async handlers in the worker: timeouts, leases under a blocked loop, sync and async
handlers side by side, fan-out with ``job.client``.

Tests marked with ``mode`` run twice: ``thread`` (``worker.run()``, async handlers on the
worker's private loop) and ``embedded`` (``run_async()`` on an application's loop).
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
import warnings

import pytest
import rediq
from aio_helpers import Gauge, lease_margins, serving, until
from helpers import wait_until
from rediq import QueueConfig

MODES = ["thread", "embedded"]


@pytest.mark.parametrize("mode", MODES)
def test_async_timeout_cancels_the_coroutine_and_the_job_retries_then_fails(server, client, mode):
    started: list[int] = []
    cancelled: list[int] = []

    async def slow(job: rediq.JobContext) -> str:
        started.append(job.attempt)
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.append(job.attempt)
            raise
        return "never"

    async def quick(job: rediq.JobContext) -> int:
        return job.data + 1

    q = client.queue("t")
    with serving(server.url, {"slow": slow, "quick": quick}, {"t": QueueConfig(concurrency=2)}, mode=mode):
        job = q.enqueue("slow", None, timeout=0.3, attempts=2)
        with pytest.raises(rediq.JobFailed, match=r"TimeoutError: job timed out after 0.3 s"):
            job.result(timeout=10)
        assert q.enqueue("quick", 1).result(timeout=5) == 2   # the worker serves on
    info = q.get(job.id)
    assert started == [1, 2] and cancelled == [1, 2]
    assert (info.state, info.failures, info.attempts_made, info.stalls) == ("failed", 2, 2, 0)
    assert 0.3 <= info.finished_at - info.started_at < 3


def test_sync_timeout_fails_the_job_while_the_worker_keeps_serving_others(server, client):
    release, returned = threading.Event(), threading.Event()

    def hang(job: rediq.JobContext) -> str:
        release.wait(30)
        returned.set()
        return "late"

    def quick(job: rediq.JobContext) -> int:
        return job.data

    async def aquick(job: rediq.JobContext) -> int:
        return -job.data

    q = client.queue("s")
    handlers = {"hang": hang, "quick": quick, "aquick": aquick}
    with serving(server.url, handlers, {"s": QueueConfig(concurrency=2), "other": QueueConfig()}):
        job = q.enqueue("hang", None, timeout=0.3)
        with pytest.raises(rediq.JobFailed, match=r"TimeoutError: job timed out after 0.3 s"):
            job.result(timeout=10)
        assert not returned.is_set()   # the thread cannot be killed: it still runs
        assert [q.enqueue("quick", i).result(timeout=5) for i in range(5)] == list(range(5))
        assert q.enqueue("aquick", 3).result(timeout=5) == -3
        assert client.queue("other").enqueue("quick", 9).result(timeout=5) == 9
        release.set()
        assert returned.wait(5)
        later = q.enqueue_many([("quick", i) for i in range(4)])
        assert [j.result(timeout=5) for j in later] == list(range(4))
    info = q.get(job.id)
    assert (info.state, info.failures, info.attempts_made, info.result) == ("failed", 1, 1, None)


def _busy(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


@pytest.mark.parametrize("mode, block", [("thread", "sleep"), ("embedded", "sleep"), ("thread", "busy")])
def test_handler_blocking_the_loop_longer_than_a_renewal_interval_keeps_its_lease(
        server, client, r, mode, block):
    """lease 1.5 s (renewal every 0.5 s); the handler blocks its loop twice for 1.0 s, so
    the run outlasts the lease and only renewals that a blocked loop cannot delay save it."""
    runs: list[int] = []

    async def hog(job: rediq.JobContext) -> str:
        runs.append(job.attempt)
        for _ in range(2):
            time.sleep(1.0) if block == "sleep" else _busy(1.0)  # noqa: ASYNC251 - the point
            await asyncio.sleep(0)
        return "done"

    q = client.queue("hog")
    margins: list[float] = []
    stop = threading.Event()
    watcher = threading.Thread(target=lease_margins, args=(r, q.keys.active, "hog-1", stop, margins))
    with serving(server.url, {"hog": hog}, {"hog": QueueConfig(lease=1.5)}, mode=mode):
        watcher.start()
        try:
            job = q.enqueue("hog", None, job_id="hog-1")
            assert job.result(timeout=15) == "done"
        finally:
            stop.set()
            watcher.join()
    info = q.get("hog-1")
    assert runs == [1]
    assert (info.state, info.attempts_made, info.stalls, info.failures) == ("completed", 1, 0, 0)
    assert q.counts()["stalled"] == 0
    assert len(margins) > 20, "the watcher saw the job active"
    assert min(margins) > 0, f"the lease lapsed by {-min(margins):.0f} ms while the loop was blocked"


def test_sync_and_async_handlers_on_one_queue_share_its_concurrency_limit(server, client):
    gauge = Gauge()
    clients: dict[str, type] = {}

    def s(job: rediq.JobContext) -> str:
        gauge.enter("sync")
        clients["sync"] = type(job.client)
        try:
            gauge.hold(4)
            time.sleep(0.02)
        finally:
            gauge.leave("sync")
        return f"s{job.data}"

    async def a(job: rediq.JobContext) -> str:
        gauge.enter("async")
        clients["async"] = type(job.client)
        try:
            await gauge.ahold(4)
            await asyncio.sleep(0.02)
        finally:
            gauge.leave("async")
        return f"a{job.data}"

    q = client.queue("mixed")
    jobs = q.enqueue_many([("s" if i % 2 else "a", i) for i in range(40)])
    with serving(server.url, {"s": s, "a": a}, {"mixed": QueueConfig(concurrency=4)}):
        results = [j.result(timeout=15) for j in jobs]
    assert results == [f"{'s' if i % 2 else 'a'}{i}" for i in range(40)]
    assert gauge.peak == 4, f"at most 4 at once, and the limit was reached: peak {gauge.peak}"
    assert any(s.get("sync") and s.get("async") for s in gauge.snapshots if sum(s.values()) == 4)
    assert clients == {"sync": rediq.Client, "async": rediq.AsyncClient}
    assert q.counts()["completed"] == 40


@pytest.mark.parametrize("mode", MODES)
def test_sync_and_async_queues_in_one_worker_run_side_by_side_each_within_its_limit(server, client, mode):
    gauge = Gauge()

    def s(job: rediq.JobContext) -> int:
        gauge.enter("sq")
        try:
            gauge.hold(5)
            time.sleep(0.02)
        finally:
            gauge.leave("sq")
        return job.data

    async def a(job: rediq.JobContext) -> int:
        gauge.enter("aq")
        try:
            await gauge.ahold(5)
            await asyncio.sleep(0.02)
        finally:
            gauge.leave("aq")
        return job.data

    sjobs = client.queue("sq").enqueue_many([("s", i) for i in range(8)])
    ajobs = client.queue("aq").enqueue_many([("a", i) for i in range(12)])
    queues = {"sq": QueueConfig(concurrency=2), "aq": QueueConfig(concurrency=3)}
    with serving(server.url, {"s": s, "a": a}, queues, mode=mode):
        assert [j.result(timeout=15) for j in sjobs] == list(range(8))
        assert [j.result(timeout=15) for j in ajobs] == list(range(12))
    assert gauge.peak_by == {"sq": 2, "aq": 3}
    assert gauge.peak == 5, "both queues ran at their limits at the same time"


@pytest.mark.parametrize("mode", MODES)
def test_async_handler_fans_out_into_another_queue_with_its_async_client(server, client, mode):
    async def split(job: rediq.JobContext) -> list[str]:
        assert isinstance(job.client, rediq.AsyncClient)
        items = job.client.queue("items")
        jobs = await items.enqueue_many(("square", i) for i in range(job.data))
        await items.enqueue("square", "seven", job_id="poison")
        return [j.id for j in jobs]

    async def square(job: rediq.JobContext) -> int:
        if not isinstance(job.data, int):
            raise TypeError(f"not a number: {job.data!r}")
        await asyncio.sleep(0)
        return job.data ** 2

    items = client.queue("items")
    queues = {"uploads": QueueConfig(), "items": QueueConfig(concurrency=10)}
    with serving(server.url, {"split": split, "square": square}, queues, mode=mode):
        ids = client.queue("uploads").enqueue("split", 50).result(timeout=10)
        assert [items.job(i).result(timeout=10) for i in ids] == [i * i for i in range(50)]
        with pytest.raises(rediq.JobFailed, match="TypeError: not a number: 'seven'"):
            items.job("poison").result(timeout=10)
    assert items.counts() | {"paused": 0, "stalled": 0} == {
        "waiting": 0, "delayed": 0, "active": 0, "completed": 50, "failed": 1, "paused": 0, "stalled": 0}


@pytest.mark.parametrize("mode", MODES)
def test_async_handler_client_uses_the_worker_clients_database_and_prefix(server, r, mode):
    db3 = server.url.rsplit("/", 1)[0] + "/3"
    seen: list[tuple[str, int]] = []

    async def split(job: rediq.JobContext) -> str:
        kwargs = job.client.redis.connection_pool.connection_kwargs
        seen.append((job.client.prefix, kwargs.get("db", 0)))
        return (await job.client.queue("items").enqueue("item", job.data)).id

    app = rediq.Client.from_url(db3, prefix="app")
    try:
        with serving(db3, {"split": split}, ["uploads"], mode=mode, prefix="app"):
            item = app.queue("uploads").enqueue("split", 7).result(timeout=10)
        assert seen == [("app", 3)]
        assert app.queue("items").get(item).data == 7
        assert r.keys("*") == []   # nothing went to db 0
    finally:
        app.redis.flushdb()
        app.close()


def test_async_handler_reports_progress_readable_while_it_runs(server, client):
    go_on = threading.Event()

    async def step(job: rediq.AsyncJobContext) -> str:
        assert await job.progress({"done": 1, "of": 2}) is True
        await until(go_on.is_set, 10, "the test to read the progress")
        return "finished"

    q = client.queue("p")
    with serving(server.url, {"step": step}, ["p"]):
        job = q.enqueue("step")
        wait_until(lambda: q.get(job.id).progress == {"done": 1, "of": 2}, 10, "the progress")
        assert q.get(job.id).state == "active"
        go_on.set()
        assert job.result(timeout=10) == "finished"


def _open_idle_loops() -> list[asyncio.AbstractEventLoop]:
    return [o for o in gc.get_objects()
            if isinstance(o, asyncio.AbstractEventLoop) and not (o.is_closed() or o.is_running())]


def test_private_event_loop_is_closed_when_the_worker_stops(server, client):
    async def h(job: rediq.JobContext) -> int:
        return job.data

    before = len(_open_idle_loops())
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        for i in range(2):
            with serving(server.url, {"h": h}, ["q"]):
                assert client.queue("q").enqueue("h", i).result(timeout=10) == i
        gc.collect()
        assert len(_open_idle_loops()) == before, "a stopped worker left its event loop open"
    assert [str(w.message) for w in seen if "unclosed event loop" in str(w.message)] == []


class _AsyncCallable:
    async def __call__(self, job: rediq.JobContext) -> str:
        await asyncio.sleep(0)
        return "ran"


async def _async_handler(job: rediq.JobContext) -> str:
    await asyncio.sleep(0)
    return "ran"


def _plain_decorator(fn):  # type: ignore[no-untyped-def]
    def wrapper(job: rediq.JobContext):  # type: ignore[no-untyped-def]
        return fn(job)   # a plain decorator hides that fn is a coroutine function
    return wrapper


@pytest.mark.parametrize("handler", [_AsyncCallable(), _plain_decorator(_async_handler)],
                         ids=["object-with-async-call", "sync-wrapper-returning-coroutine"])
def test_handler_that_returns_a_coroutine_is_awaited_on_the_loop(server, client, handler):
    with serving(server.url, {"h": handler}, ["q"]):
        assert client.queue("q").enqueue("h").result(timeout=10) == "ran"
