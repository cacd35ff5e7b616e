"""The core behaviour on a real 3-master Redis Cluster, with queues placed on different
shards: enqueue, claim/complete, retry with backoff, delay, rate limit, stall recovery
after kill -9, pause/resume, counts, idempotent enqueue."""

from __future__ import annotations

import signal
import threading
import time

import pytest
import rediq
import redis
from cluster_helpers import masters, node_of, queues_on_shards, slot_of
from helpers import wait_until
from scale_procs import events


class Runs:
    """Thread-safe log of handler runs: (queue, id, attempt, time.time())."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.items: list[tuple[str, str, int, float]] = []

    def add(self, job: rediq.JobContext) -> None:
        with self._lock:
            self.items.append((job.queue, job.id, job.attempt, time.time()))

    def of(self, job_id: str) -> list[tuple[str, str, int, float]]:
        with self._lock:
            return [x for x in self.items if x[1] == job_id]


@pytest.fixture
def three(client: rediq.Client) -> list[str]:
    """Three queue names, one on each master; asserted, not assumed."""
    names = queues_on_shards(client, [1, 1, 1])
    assert len({node_of(client, n) for n in names}) == 3 == len(masters(client))
    return names


def test_queues_on_three_shards_store_on_their_own_master_and_one_worker_runs_them_all(
        client, workers, three):
    for name in three:
        for i in range(5):
            client.queue(name).enqueue("echo", {"q": name, "i": i})
    # server side: every key of a queue is on the master that serves its slot, nowhere else
    for name in three:
        slot = slot_of(client, name)
        for port in masters(client):
            with redis.Redis(port=port) as node:
                stored = node.execute_command("CLUSTER", "COUNTKEYSINSLOT", slot)
                assert (stored > 0) == (port == node_of(client, name)), (name, port, stored)

    workers.start({"echo": lambda job: job.data}, {n: rediq.QueueConfig(concurrency=2) for n in three})
    for name in three:
        q = client.queue(name)
        wait_until(lambda q=q: q.counts()["completed"] == 5, 10, f"{name} drained")
        assert q.counts() == {"waiting": 0, "delayed": 0, "active": 0, "completed": 5,
                              "failed": 0, "paused": 0, "stalled": 0}
    job = client.queue(three[2]).enqueue("echo", [1, 2])
    assert job.result(timeout=5) == [1, 2]


def test_retry_with_exponential_backoff_on_every_shard(client, workers, three):
    runs = Runs()

    def flaky(job: rediq.JobContext) -> int:
        runs.add(job)
        if job.attempt < 3:
            raise RuntimeError(f"attempt {job.attempt} fails")
        return job.attempt

    workers.start({"flaky": flaky}, {n: rediq.QueueConfig(concurrency=1) for n in three})
    backoff = rediq.Backoff.exponential(0.2)
    jobs = [client.queue(n).enqueue("flaky", None, attempts=3, backoff=backoff) for n in three]
    for job in jobs:
        assert job.result(timeout=10) == 3
        info = job.info()
        assert (info.state, info.attempts_made, info.failures) == ("completed", 3, 2)
        starts = [t for *_, t in sorted(runs.of(job.id), key=lambda x: x[2])]
        gaps = [b - a for a, b in zip(starts, starts[1:])]
        assert gaps[0] >= 0.2 - 0.02 and gaps[1] >= 0.4 - 0.02, gaps   # 0.2 s, then 0.4 s
        assert gaps[0] < 1.5 and gaps[1] < 1.5, gaps


def test_delayed_job_waits_its_delay_on_every_shard_and_others_run_meanwhile(client, workers, three):
    runs = Runs()
    workers.start({"rec": runs.add}, {n: rediq.QueueConfig() for n in three})
    delayed = [client.queue(n).enqueue("rec", None, delay=0.6) for n in three]
    for n in three:
        assert client.queue(n).counts()["delayed"] == 1
    now = [client.queue(n).enqueue("rec", None) for n in three]
    for job in now:
        job.result(timeout=5)
    for job in delayed:
        assert job.info().state == "delayed"
    for job in delayed:
        job.result(timeout=5)
        info = job.info()
        assert info.started_at - info.created_at >= 0.6 - 0.005   # the shard's own clock
        assert info.started_at - info.created_at < 2.0


def test_rate_limit_holds_on_its_shard_and_does_not_slow_another_shard(client, workers, three):
    limited, free = three[0], three[1]
    rate = rediq.RateLimit(3, 0.3)
    workers.start({"noop": lambda job: None},
                  {limited: rediq.QueueConfig(concurrency=4, rate_limit=rate),
                   free: rediq.QueueConfig(concurrency=4)})
    lq, fq = client.queue(limited), client.queue(free)
    ljobs = lq.enqueue_many([("noop", i) for i in range(15)])
    t0 = time.monotonic()
    fq.enqueue_many([("noop", i) for i in range(40)])
    wait_until(lambda: fq.counts()["completed"] == 40, 10, "the free queue drained")
    assert time.monotonic() - t0 < 1.2, "the free queue waited on the limited one"
    assert lq.counts()["completed"] < 15
    wait_until(lambda: lq.counts()["completed"] == 15, 10, "the limited queue drained")
    starts = sorted(round(j.info().started_at * 1000) for j in ljobs)
    for a, b in zip(starts, starts[rate.max:]):
        assert b - a >= 300, f"{rate.max + 1} starts within {b - a} ms"


def test_killed_worker_process_jobs_on_three_shards_are_recovered_by_another(client, procs, rec, three):
    cfg = {"concurrency": 2, "lease": 1.0}
    jobs = [client.queue(n).enqueue("record", {"block": [1]}) for n in three]
    victim = procs.worker({n: cfg for n in three}, name="victim")
    wait_until(lambda: len(events(rec, "start")) == 3, 15, "the victim started a job on each shard")
    victim.signal(signal.SIGKILL)
    victim.wait(5)
    procs.worker({n: cfg for n in three}, name="rescuer")
    for job in jobs:
        assert job.result(timeout=15) == {"id": job.id, "attempt": 2, "worker": "rescuer"}
        info = job.info()
        assert (info.state, info.stalls, info.attempts_made, info.failures) == ("completed", 1, 2, 0)
    for n in three:
        assert client.queue(n).counts()["stalled"] == 1


def test_pause_on_one_shard_holds_its_jobs_and_resume_wakes_the_worker_there(client, workers, three):
    runs = Runs()
    paused, other = client.queue(three[1]), client.queue(three[2])
    workers.start({"rec": runs.add}, {three[1]: rediq.QueueConfig(), three[2]: rediq.QueueConfig()})
    paused.pause()
    held = paused.enqueue("rec", None)
    # a job enqueued later on another shard runs; by then the worker has looked at both queues
    other.enqueue("rec", None).result(timeout=5)
    other.enqueue("rec", None).result(timeout=5)
    assert paused.counts()["paused"] == 1
    assert held.info().state == "waiting" and not runs.of(held.id)
    t0 = time.monotonic()
    paused.resume()
    held.result(timeout=5)
    assert time.monotonic() - t0 < 1.0, "resume did not wake the worker waiting on that shard"
    assert paused.counts()["paused"] == 0


def test_counts_of_every_state_on_every_shard(client, workers, three):
    gate = threading.Event()

    def work(job: rediq.JobContext) -> None:
        if job.data == "fail":
            raise ValueError("planned")
        if job.data == "hold":
            gate.wait(20)

    try:
        workers.start({"work": work}, {n: rediq.QueueConfig(concurrency=1) for n in three})
        for n in three:
            q = client.queue(n)
            q.enqueue("work", "ok").result(timeout=5)
            with pytest.raises(rediq.JobFailed):
                q.enqueue("work", "fail").result(timeout=5)
            q.enqueue("work", "later", delay=60)
            hold = q.enqueue("work", "hold")
            wait_until(lambda hold=hold: hold.info().state == "active", 5, "the held job runs")
            q.enqueue_many([("work", "ok"), ("work", "ok")])   # concurrency 1: these wait
            assert q.counts() == {"waiting": 2, "delayed": 1, "active": 1, "completed": 1,
                                  "failed": 1, "paused": 0, "stalled": 0}
    finally:
        gate.set()
    for n in three:
        q = client.queue(n)
        wait_until(lambda q=q: q.counts()["completed"] == 4, 5, "held and waiting jobs done")
        assert q.counts() == {"waiting": 0, "delayed": 1, "active": 0, "completed": 4,
                              "failed": 1, "paused": 0, "stalled": 0}


def test_idempotent_enqueue_on_every_shard_returns_the_stored_job_unchanged(client, three):
    for n in three:
        q = client.queue(n)
        first = q.enqueue("work", {"v": 1}, job_id="order-42", priority=3)
        again = q.enqueue("work", {"v": 2}, job_id="order-42", priority=9, delay=30)
        assert (first.existed, again.existed, again.id) == (False, True, "order-42")
        info = q.get("order-42")
        assert (info.data, info.priority, info.state) == ({"v": 1}, 3, "waiting")
        many = q.enqueue_many([("work", 1, {"job_id": "order-42"}), ("work", 2, {"job_id": "order-43"})])
        assert [j.existed for j in many] == [True, False]
        assert q.counts()["waiting"] == 2
    # the same id in queues on other shards is another job
    assert [client.queue(n).get("order-42").queue for n in three] == three
