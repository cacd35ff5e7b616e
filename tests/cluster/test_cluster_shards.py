"""Work spread over shards: one worker waits on each shard at once (an idle shard never
delays another), handlers fan out into queues on other shards (sync and async), and
scripts are (re)loaded on every node that needs them."""

from __future__ import annotations

import threading
import time

import rediq
import redis
from cluster_helpers import masters, node_of, queues_on_shards
from helpers import wait_until
from rediq._scripts import SCRIPTS


def _blocked_on(port: int, name: str) -> bool:
    with redis.Redis(port=port) as node:
        return any(c["name"] == name and "b" in c["flags"] for c in node.client_list())


def test_idle_shard_never_delays_a_job_on_another_shard(client, workers):
    names = queues_on_shards(client, [1, 1, 1])
    started: dict[str, float] = {}
    lock = threading.Lock()

    def note(job: rediq.JobContext) -> None:
        with lock:
            started[job.id] = time.monotonic()

    workers.start({"note": note}, {n: rediq.QueueConfig(concurrency=2) for n in names},
                  client_name="idle")
    latencies = []
    # every shard in turn, each while the other two shards' queues are idle
    for name in names[1:] + names + names[:1]:
        wait_until(lambda: all(_blocked_on(p, "idle") for p in masters(client)), 10,
                   "the worker waits on all three shards")
        t0 = time.monotonic()
        job = client.queue(name).enqueue("note", None)
        wait_until(lambda job=job: job.id in started, 5, f"job on {name} started")
        latencies.append(started[job.id] - t0)
    print("start latencies (s):", [round(x, 4) for x in latencies])
    # a wait stuck on another shard would cost up to 5 s (the longest blocking wait)
    assert max(latencies) < 0.5, latencies


def test_busy_shard_keeps_running_while_another_shard_is_idle_then_both_run(client, workers):
    a, b = queues_on_shards(client, [1, 1])
    seen: list[tuple[str, float]] = []

    def note(job: rediq.JobContext) -> None:
        seen.append((job.queue, time.monotonic()))

    workers.start({"note": note}, {a: rediq.QueueConfig(), b: rediq.QueueConfig()})
    for i in range(20):   # a steady trickle on b, nothing on a
        client.queue(b).enqueue("note", i).result(timeout=2)
    t0 = time.monotonic()
    client.queue(a).enqueue("note", "a").result(timeout=2)
    assert time.monotonic() - t0 < 0.5
    assert [q for q, _ in seen].count(b) == 20


def split(job: rediq.JobContext) -> list[str]:
    items = job.client.queue(job.data["to"]).enqueue_many(("double", i) for i in range(job.data["n"]))
    return [j.id for j in items]


async def asplit(job: rediq.AsyncJobContext) -> list[str]:
    assert isinstance(job.client, rediq.AsyncClient)
    items = await job.client.queue(job.data["to"]).enqueue_many(("double", i) for i in range(job.data["n"]))
    return [j.id for j in items]


def test_fan_out_from_sync_and_async_handlers_into_queues_on_other_shards(client, workers):
    parents, kids = queues_on_shards(client, [1, 1])
    other_kids = queues_on_shards(client, [0, 0, 1], stem="kids")[0]
    assert len({node_of(client, n) for n in (parents, kids, other_kids)}) == 3
    workers.start({"split": split, "asplit": asplit, "double": lambda job: job.data * 2},
                  {parents: rediq.QueueConfig(concurrency=2), kids: rediq.QueueConfig(concurrency=4),
                   other_kids: rediq.QueueConfig(concurrency=4)})
    pq = client.queue(parents)
    sync_parent = pq.enqueue("split", {"to": kids, "n": 30})
    async_parent = pq.enqueue("asplit", {"to": other_kids, "n": 30})
    for parent, target in ((sync_parent, kids), (async_parent, other_kids)):
        ids = parent.result(timeout=10)
        assert len(ids) == 30
        results = [client.queue(target).job(i).result(timeout=10) for i in ids]
        assert results == [2 * i for i in range(30)]
    assert client.queue(kids).counts()["completed"] == client.queue(other_kids).counts()["completed"] == 30


def test_script_flush_on_every_node_during_a_drain_breaks_nothing(client, procs):
    names = queues_on_shards(client, [1, 1, 1])
    n_per = 800
    jobs = {n: client.queue(n).enqueue_many([("noop", i) for i in range(n_per)]) for n in names}
    procs.worker({n: {"concurrency": 4} for n in names})
    # scripts only the worker runs (the test's counts() loads counts-7 itself)
    shas = [SCRIPTS["claim-7"].sha, SCRIPTS["complete-8"].sha]
    nodes = {p: redis.Redis(port=p) for p in masters(client)}
    reloaded = {p: 0 for p in nodes}

    def total() -> int:
        return sum(client.queue(n).counts()["completed"] for n in names)

    flushes = 0
    try:
        while total() < 3 * n_per and flushes < 300:
            # wait until some node ran a script again (it was reloaded there), then flush all
            def loaded() -> list[int]:
                return [p for p, node in nodes.items() if any(node.script_exists(*shas))]
            back = wait_until(lambda: loaded() or total() == 3 * n_per, 15, "scripts reloaded")
            if back is True:
                break
            for p in back:
                reloaded[p] += 1
            for node in nodes.values():
                node.script_flush()
            flushes += 1
        wait_until(lambda: total() == 3 * n_per, 60, "every job completed")
    finally:
        for node in nodes.values():
            node.close()
    print("flushes:", flushes, "reloads seen per node:", reloaded)
    assert all(count >= 2 for count in reloaded.values()), reloaded
    for n in names:
        c = client.queue(n).counts()
        assert (c["completed"], c["failed"], c["waiting"], c["active"]) == (n_per, 0, 0, 0)
        assert [j.result(timeout=1) for j in jobs[n][::100]] == list(range(0, n_per, 100))
