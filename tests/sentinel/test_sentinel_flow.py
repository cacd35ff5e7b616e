"""The core flow through a ``redis+sentinel://`` URL, sync and async: the client finds the
master through the sentinels, a worker runs the jobs, WAIT on enqueue confirms a replica."""

from __future__ import annotations

import asyncio
from typing import Iterator

import pytest
import redis
from cluster_helpers import ThreadWorkers
from helpers import wait_until

import rediq


@pytest.fixture
def url(steady) -> str:
    redis.Redis(port=steady.master.port).flushall()
    return steady.url


@pytest.fixture
def workers(url: str) -> Iterator[ThreadWorkers]:
    tw = ThreadWorkers(url)
    yield tw
    assert not tw.stop_all(), "workers did not stop"
    assert not tw.errors, f"worker.run() raised: {tw.errors!r}"


def test_sentinel_url_reaches_the_master_of_the_service(steady, url):
    with rediq.Client.from_url(url) as client:
        client.queue("q").enqueue("work", 1)
        assert client.redis.info("replication")["role"] == "master"
        assert client.redis.connection_pool.get_master_address() == ("127.0.0.1", steady.master.port)
    with redis.Redis(port=steady.master.port) as master:
        assert master.exists("{rediq:q}:meta")


def test_core_flow_through_a_sentinel_url_with_the_sync_client(url, workers):
    def work(job: rediq.JobContext) -> dict:
        if job.data == "flaky" and job.attempt == 1:
            raise RuntimeError("first attempt fails")
        return {"data": job.data, "attempt": job.attempt}

    client = rediq.Client.from_url(url)
    q = client.queue("sync")
    workers.start({"work": work}, {"sync": rediq.QueueConfig(concurrency=2)})
    jobs = q.enqueue_many([("work", i) for i in range(20)])
    flaky = q.enqueue("work", "flaky", attempts=2, backoff=rediq.Backoff.fixed(0.1))
    later = q.enqueue("work", "later", delay=0.3)
    assert [j.result(timeout=10) for j in jobs] == [{"data": i, "attempt": 1} for i in range(20)]
    assert flaky.result(timeout=10) == {"data": "flaky", "attempt": 2}
    assert later.result(timeout=10)["data"] == "later"
    again = q.enqueue("work", "x", job_id=jobs[0].id)
    assert again.existed
    wait_until(lambda: q.counts()["completed"] == 22, 5, "counts caught up")
    assert q.counts() == {"waiting": 0, "delayed": 0, "active": 0, "completed": 22, "failed": 0,
                          "paused": 0, "stalled": 0}
    client.close()


def test_core_flow_through_a_sentinel_url_with_the_async_client_and_async_handlers(url, workers):
    async def work(job: rediq.AsyncJobContext) -> dict:
        assert isinstance(job.client, rediq.AsyncClient)
        if job.data.get("fan"):
            kids = await job.client.queue("async-kids").enqueue_many(("work", {"n": i}) for i in range(5))
            return [k.id for k in kids]
        return job.data["n"] * 10

    workers.start({"work": work}, {"async": rediq.QueueConfig(concurrency=4),
                                   "async-kids": rediq.QueueConfig(concurrency=4)})

    async def main() -> None:
        async with rediq.AsyncClient.from_url(url) as client:
            q = client.queue("async")
            jobs = [await q.enqueue("work", {"n": i}) for i in range(10)]
            assert [await j.result(timeout=10) for j in jobs] == [i * 10 for i in range(10)]
            kid_ids = await (await q.enqueue("work", {"fan": True})).result(timeout=10)
            kids = client.queue("async-kids")
            assert [await kids.job(i).result(timeout=10) for i in kid_ids] == [0, 10, 20, 30, 40]
            assert (await q.counts())["completed"] == 11

    asyncio.run(main())


def test_wait_replicas_confirms_each_enqueue_on_the_replica(steady, url):
    with rediq.Client.from_url(url, wait_replicas=1, wait_timeout=2.0) as client, \
            redis.Redis(port=steady.replica.port) as replica:
        job = client.queue("safe").enqueue("work", 1)
        # WAIT returned: the replica has it now, no polling needed
        assert replica.hget(f"{{rediq:safe}}:job:{job.id}", "state") == b"waiting"
        many = client.queue("safe").enqueue_many([("work", i) for i in range(50)])
        assert replica.exists(*[f"{{rediq:safe}}:job:{j.id}" for j in many]) == 50

    async def main() -> None:
        async with rediq.AsyncClient.from_url(url, wait_replicas=1, wait_timeout=2.0) as client:
            job = await client.queue("safe").enqueue("work", 2)
            with redis.Redis(port=steady.replica.port) as replica:
                assert replica.hget(f"{{rediq:safe}}:job:{job.id}", "state") == b"waiting"

    asyncio.run(main())


def test_idle_worker_on_a_sentinel_url_blocks_on_the_master_and_starts_a_job_at_once(steady, url, workers):
    import time

    started: dict[str, float] = {}
    workers.start({"note": lambda job: started.setdefault(job.id, time.monotonic())},
                  {"idle": rediq.QueueConfig()}, client_name="idle-w")
    with redis.Redis(port=steady.master.port) as master, rediq.Client.from_url(url) as client:
        latencies = []
        for _ in range(3):
            wait_until(lambda: any(c["name"] == "idle-w" and "b" in c["flags"] for c in master.client_list()),
                       10, "the worker blocks on the master")
            t0 = time.monotonic()
            job = client.queue("idle").enqueue("note", None)
            wait_until(lambda job=job: job.id in started, 5, "the job started")
            latencies.append(started[job.id] - t0)
    assert max(latencies) < 0.5, latencies   # a wait not woken would cost up to 5 s
