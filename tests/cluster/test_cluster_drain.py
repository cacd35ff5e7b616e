"""A drain over 8 queues on 3 shards by 2 worker processes: no job lost, and the per-node
command counts show that the load really spread over the shards.

Size: REDIQ_CLUSTER_DRAIN_JOBS jobs (default 4000; the issue's figure is 20000)."""

from __future__ import annotations

import os
import re
import signal
import time
from collections import Counter

import redis
from cluster_helpers import masters, node_of, queues_on_shards
from helpers import wait_until

N_JOBS = int(os.environ.get("REDIQ_CLUSTER_DRAIN_JOBS", "4000"))


def _script_calls(port: int) -> int:
    with redis.Redis(port=port) as node:
        stats = node.info("commandstats")
    return sum(stats.get(f"cmdstat_{c}", {}).get("calls", 0) for c in ("evalsha", "eval"))


def test_drain_over_eight_queues_on_three_shards_by_two_processes_loses_nothing_and_spreads(client, procs):
    names = queues_on_shards(client, [3, 3, 2], stem="drain")
    shard_of = {n: node_of(client, n) for n in names}
    assert len(set(shard_of.values())) == 3 and Counter(shard_of.values()).most_common(1)[0][1] == 3
    per_queue = N_JOBS // len(names)
    jobs = {n: client.queue(n).enqueue_many([("noop", i) for i in range(per_queue)]) for n in names}
    total = per_queue * len(names)
    for port in masters(client):
        with redis.Redis(port=port) as node:
            node.config_resetstat()

    cfg = {n: {"concurrency": 4} for n in names}
    t0 = time.monotonic()
    workers = [procs.worker(cfg, name="w1"), procs.worker(cfg, name="w2")]

    def completed() -> int:
        return sum(client.queue(n).counts()["completed"] for n in names)

    wait_until(lambda: completed() == total, 120, f"{total} jobs completed", interval=0.2)
    took = time.monotonic() - t0
    calls = {p: _script_calls(p) for p in masters(client)}

    # none lost: every queue fully completed, every record completed with its result
    for n in names:
        c = client.queue(n).counts()
        assert (c["completed"], c["failed"], c["waiting"], c["active"], c["delayed"]) == \
            (per_queue, 0, 0, 0, 0), (n, c)
    pipe = client.redis.pipeline()
    for n in names:
        for j in jobs[n]:
            pipe.hget(client.queue(n).keys.job(j.id), "state")
    states = Counter(pipe.execute())
    assert states == {b"completed": total}, states
    for n in names:
        assert [j.result(timeout=1) for j in jobs[n][::97]] == list(range(0, per_queue, 97))

    # both processes took part
    processed = {}
    for w in workers:
        w.signal(signal.SIGTERM)
    for w in workers:
        assert w.wait(20) == 0
        m = re.search(r"stopped \((\d+) jobs processed\)", w.log())
        assert m, w.log()[-2000:]
        processed[w.name] = int(m.group(1))
    assert sum(processed.values()) == total and min(processed.values()) > 0, processed

    # the load spread: each master ran script calls in proportion to the queues it holds
    share = {p: calls[p] / sum(calls.values()) for p in calls}
    queues_on = Counter(shard_of.values())
    print(f"drained {total} jobs over {len(names)} queues in {took:.2f} s "
          f"({total / took:.0f} jobs/s); per process {processed}; script calls per master "
          + ", ".join(f":{p} {calls[p]} ({share[p]:.0%}, {queues_on[p]} queues)" for p in calls))
    for p in calls:
        expected = queues_on[p] / len(names)
        assert share[p] >= 0.5 * expected, f"master :{p} got {share[p]:.0%} of the script calls"
