"""Volume: async handlers at concurrency 100 drain 10,000 jobs, each exactly once."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter

import pytest
import rediq
from aio_helpers import Gauge, serving
from helpers import wait_until

N = 10_000
CONCURRENCY = 100


@pytest.mark.parametrize("mode", ["thread", "embedded"])
def test_async_handlers_at_concurrency_100_drain_10000_jobs_each_exactly_once(server, client, mode):
    runs: list[tuple[str, int, int]] = []
    threads_seen: list[int] = []
    gauge = Gauge()

    async def work(job: rediq.JobContext) -> int:
        gauge.enter("work")
        try:
            runs.append((job.id, job.attempt, job.data))
            if job.data % 100 == 0:
                threads_seen.append(threading.active_count())
            await asyncio.sleep(0.001)   # yield, so many runs are in flight at once
            return job.data * 3
        finally:
            gauge.leave("work")

    q = client.queue("volume")
    jobs = q.enqueue_many(("work", i) for i in range(N))
    config = rediq.QueueConfig(concurrency=CONCURRENCY, keep_completed_count=2 * N)
    t0 = time.monotonic()
    with serving(server.url, {"work": work}, {"volume": config}, mode=mode) as worker:
        wait_until(lambda: q.counts()["completed"] == N, 90, f"{N} jobs to complete", interval=0.05)
    took = time.monotonic() - t0

    per_id = Counter(job_id for job_id, _, _ in runs)
    assert len(runs) == N and set(per_id) == {j.id for j in jobs}
    assert max(per_id.values()) == 1 and {a for _, a, _ in runs} == {1}
    assert sorted(d for _, _, d in runs) == list(range(N))
    assert worker.processed == N
    assert q.counts() == {"waiting": 0, "delayed": 0, "active": 0, "completed": N, "failed": 0,
                          "paused": 0, "stalled": 0}
    assert [q.job(jobs[i].id).result(timeout=0) for i in (0, N // 2, N - 1)] == [0, N // 2 * 3, (N - 1) * 3]
    assert 1 < gauge.peak <= CONCURRENCY
    assert max(threads_seen) < 30, "async runs need no thread each"
    print(f"{mode}: drained {N} jobs in {took:.1f} s ({N / took:.0f} jobs/s), peak in flight {gauge.peak}")
