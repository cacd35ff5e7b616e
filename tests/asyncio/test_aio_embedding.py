"""A worker embedded in an application's event loop: ``async with worker:`` and
``await worker.run_async()``, stopped by ``stop()``, by a handler, or by cancellation."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Collection

import pytest
import rediq
from aio_helpers import until
from helpers import wait_until

WORKER_THREADS = ("rediq-keeper", "rediq-waiter", "rediq-asyncio")


def _worker_threads(before: Collection[threading.Thread] = ()) -> list[str]:
    """Names of the worker threads alive now that were not alive in ``before``."""
    return [t.name for t in threading.enumerate() if t.name in WORKER_THREADS and t not in before]


def test_async_with_worker_runs_async_handlers_on_the_app_loop_and_stops_on_exit(server, r):
    seen: list[tuple[bool, bool]] = []
    before = set(threading.enumerate())

    async def app() -> None:
        loop = asyncio.get_running_loop()
        ticks = 0

        async def handler(job: rediq.JobContext) -> int:
            seen.append((asyncio.get_running_loop() is loop,
                         threading.current_thread() is threading.main_thread()))
            await asyncio.sleep(0.01)
            return job.data * 10

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        tick_task = asyncio.create_task(ticker())
        async with rediq.AsyncClient.from_url(server.url) as ac:
            q = ac.queue("q")
            worker = rediq.Worker(rediq.Client.from_url(server.url), {"h": handler}, ["q"])
            async with worker:
                jobs = [await q.enqueue("h", i) for i in range(20)]
                assert [await j.result(timeout=10) for j in jobs] == [i * 10 for i in range(20)]
                assert ticks > 0   # the app's own tasks ran while the worker worked
            assert (await q.counts())["active"] == 0
            assert "rediq-asyncio" not in _worker_threads(before)   # no private loop was made
        tick_task.cancel()

    asyncio.run(app())
    assert seen == [(True, True)] * 20
    wait_until(lambda: not _worker_threads(before), 5, "the worker's threads to end")


def test_async_with_worker_stops_gracefully_when_the_body_raises(server, client):
    done: list[int] = []

    async def handler(job: rediq.JobContext) -> None:
        await asyncio.sleep(0.2)
        done.append(job.data)

    async def app() -> None:
        worker = rediq.Worker(rediq.Client.from_url(server.url), {"h": handler}, ["q"])
        async with rediq.AsyncClient.from_url(server.url) as ac:
            with pytest.raises(KeyError, match="app failure"):
                async with worker:
                    await ac.queue("q").enqueue("h", 1)
                    await until(lambda: client.queue("q").counts()["active"] == 1, 10, "the job to start")
                    raise KeyError("app failure")

    asyncio.run(app())
    assert done == [1]   # the running job finished within grace
    assert client.queue("q").counts()["completed"] == 1


def test_run_async_returns_when_another_task_calls_stop(server, client):
    async def handler(job: rediq.JobContext) -> str:
        return "ok"

    async def app() -> None:
        worker = rediq.Worker(rediq.Client.from_url(server.url), {"h": handler}, ["q"])
        run = asyncio.create_task(worker.run_async())
        async with rediq.AsyncClient.from_url(server.url) as ac:

            async def controller() -> None:
                assert await (await ac.queue("q").enqueue("h")).result(timeout=10) == "ok"
                worker.stop()

            await asyncio.gather(controller(), asyncio.wait_for(run, 15))
        assert run.result() is None

    asyncio.run(app())


def test_async_handler_can_stop_its_own_embedded_worker(server, client):
    async def app() -> None:
        worker: rediq.Worker

        async def shutdown(job: rediq.JobContext) -> str:
            worker.stop()
            await asyncio.sleep(0.05)
            return "bye"

        worker = rediq.Worker(rediq.Client.from_url(server.url), {"shutdown": shutdown}, ["q"])
        job = client.queue("q").enqueue("shutdown")
        await asyncio.wait_for(worker.run_async(), 15)
        assert client.queue("q").job(job.id).result(timeout=0) == "bye"

    asyncio.run(app())


def test_cancelling_run_async_lets_the_running_job_finish_and_claims_no_more(server, client):
    q = client.queue("q")
    first, second = q.enqueue("h", 1), q.enqueue("h", 2)

    async def app() -> None:
        started, gate = asyncio.Event(), asyncio.Event()

        async def handler(job: rediq.JobContext) -> str:
            started.set()
            await gate.wait()
            return f"finished {job.data}"

        worker = rediq.Worker(rediq.Client.from_url(server.url), {"h": handler},
                              {"q": rediq.QueueConfig(concurrency=1)}, grace=10)
        run = asyncio.create_task(worker.run_async())
        await asyncio.wait_for(started.wait(), 10)
        run.cancel()
        await asyncio.sleep(0.2)
        assert not run.done(), "run_async returned while its job still ran"
        gate.set()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(run, 10)

    asyncio.run(app())
    assert first.result(timeout=0) == "finished 1"
    assert q.get(second.id).state == "waiting"
    assert q.counts()["active"] == 0


def test_cancelled_run_async_past_grace_hands_the_job_back_and_cancels_its_coroutine(server, client):
    q = client.queue("q")
    job = q.enqueue("h", 1)
    cancelled: list[str] = []

    async def app() -> None:
        started = asyncio.Event()

        async def handler(job: rediq.JobContext) -> None:
            started.set()
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                cancelled.append(job.id)
                raise

        worker = rediq.Worker(rediq.Client.from_url(server.url), {"h": handler}, ["q"], grace=0.3)
        run = asyncio.create_task(worker.run_async())
        await asyncio.wait_for(started.wait(), 10)
        t0 = time.monotonic()
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(run, 10)
        assert time.monotonic() - t0 < 3, "the stop took much longer than its 0.3 s grace"
        # the app goes on running: the handed-back job's coroutine must not run on in it
        await until(lambda: cancelled, 2, "the handed-back job's coroutine to be cancelled")

    asyncio.run(app())
    info = q.get(job.id)
    assert (info.state, info.stalls, info.failures) == ("waiting", 0, 0)
    assert cancelled == [job.id]


def _evalsha_calls(r) -> int:
    return int(r.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0))


def test_lease_renewal_keeps_its_interval_while_running_jobs_finish_after_stop(server, r):
    async def app() -> None:
        started, gate = asyncio.Event(), asyncio.Event()

        async def handler(job: rediq.JobContext) -> str:
            started.set()
            await gate.wait()
            return "done"

        worker = rediq.Worker(rediq.Client.from_url(server.url), {"h": handler},
                              {"slowstop": rediq.QueueConfig(lease=3.0)}, grace=10)
        rediq.Client.from_url(server.url).queue("slowstop").enqueue("h")
        run = asyncio.create_task(worker.run_async())
        try:
            await asyncio.wait_for(started.wait(), 10)
            worker.stop()
            calls = _evalsha_calls(r)
            await asyncio.sleep(0.5)   # half a second of grace, with the job still running
            calls = _evalsha_calls(r) - calls
        finally:
            gate.set()
            await asyncio.wait_for(run, 10)
        # a renewal every lease/3 = 1 s, a stall recovery every 1.5 s: a handful at most
        assert calls <= 10, f"{calls} script calls in 0.5 s of grace"

    asyncio.run(app())


def test_worker_threads_end_promptly_after_a_stop_past_grace(server, client):
    before = set(threading.enumerate())
    release = threading.Event()

    def hang(job: rediq.JobContext) -> None:
        release.wait(30)

    worker = rediq.Worker(rediq.Client.from_url(server.url), {"hang": hang}, ["pastgrace"], grace=0.2)
    client.queue("pastgrace").enqueue("hang")
    runner = threading.Thread(target=worker.run, daemon=True)
    try:
        runner.start()
        wait_until(lambda: client.queue("pastgrace").counts()["active"], 10, "the job to start")
        t0 = time.monotonic()
        worker.stop()
        runner.join(10)
        took = time.monotonic() - t0
        deadline = time.monotonic() + 1.0
        while _worker_threads(before) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _worker_threads(before), f"still alive after the stop: {_worker_threads(before)}"
        assert took < 1.2, f"a stop past a 0.2 s grace took {took:.1f} s"
    finally:
        release.set()
