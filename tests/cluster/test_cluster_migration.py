"""Slot migration (resharding) of a queue's slot: MOVED/ASK/TRYAGAIN are retried, a drain
running through it loses no job, and the worker's blocking wait follows the queue to its
new node. Scripts that read job records they derive (not declared in KEYS) keep leases
and lose no job while a slot is half moved."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
import rediq
import redis
from cluster_helpers import masters, node_of, queues_on_shards, slot_of
from helpers import wait_until
from rediq import commands as C
from scale_procs import events


class Migration:
    """Move one slot between masters the way ``redis-cli --cluster reshard`` does:
    SETSLOT IMPORTING/MIGRATING, MIGRATE the keys, then SETSLOT NODE on every master."""

    def __init__(self, slot: int, src_port: int, dst_port: int) -> None:
        self.slot, self.src_port, self.dst_port = slot, src_port, dst_port
        self.src, self.dst = redis.Redis(port=src_port), redis.Redis(port=dst_port)
        self.src_id = self.src.execute_command("CLUSTER", "MYID").decode()
        self.dst_id = self.dst.execute_command("CLUSTER", "MYID").decode()
        self.moved = 0

    def begin(self) -> Migration:
        self.dst.execute_command("CLUSTER", "SETSLOT", self.slot, "IMPORTING", self.src_id)
        self.src.execute_command("CLUSTER", "SETSLOT", self.slot, "MIGRATING", self.dst_id)
        return self

    def move(self, *keys: str | bytes) -> None:
        self.src.execute_command("MIGRATE", "127.0.0.1", self.dst_port, "", 0, 5000, "KEYS", *keys)
        self.moved += len(keys)

    def move_all(self, batch: int = 10, pause: float = 0.0) -> None:
        while keys := self.src.execute_command("CLUSTER", "GETKEYSINSLOT", self.slot, batch):
            self.move(*keys)
            if pause:
                time.sleep(pause)   # the worker runs against a half-moved slot meanwhile

    def finish(self) -> None:
        """Move what is left and give the slot to the destination on every master."""
        self.move_all()
        for port in masters_of(self.src):
            with redis.Redis(port=port) as node:
                node.execute_command("CLUSTER", "SETSLOT", self.slot, "NODE", self.dst_id)
        self.src.close()
        self.dst.close()


def masters_of(node: redis.Redis) -> list[int]:
    out = []
    for line in node.execute_command("CLUSTER", "NODES").decode().splitlines():
        parts = line.split()
        if "master" in parts[2]:
            out.append(int(parts[1].split("@")[0].rsplit(":", 1)[1]))
    return out


def _redirections(port: int) -> dict[str, int]:
    with redis.Redis(port=port) as node:
        stats = node.info("errorstats")
    return {k.split("_", 1)[1]: v["count"] for k, v in stats.items()
            if k.split("_", 1)[1] in ("MOVED", "ASK", "TRYAGAIN")}


def _blocked_on(port: int, name: str) -> bool:
    with redis.Redis(port=port) as node:
        return any(c["name"] == name and "b" in c["flags"] for c in node.client_list())


def test_slot_migration_during_a_drain_loses_no_job_and_the_worker_follows(client, procs, rec):
    name, bystander = queues_on_shards(client, [1, 1], stem="mig")
    src = node_of(client, name)
    dst = next(p for p in masters(client) if p not in (src, node_of(client, bystander)))
    q = client.queue(name)
    n = 600
    jobs = q.enqueue_many([("record", {"sleep": 0.004, "result": i}) for i in range(n)])
    for port in masters(client):
        with redis.Redis(port=port) as node:
            node.config_resetstat()
    procs.worker({name: {"concurrency": 4, "lease": 5.0}, bystander: {"concurrency": 1}}, name="w")
    wait_until(lambda: q.counts()["completed"] >= 50, 15, "the drain is under way")

    # a producer enqueues all through the migration (ASK, TRYAGAIN on enqueue)
    late: list[rediq.Job] = []
    producer_errors: list[BaseException] = []
    producing = threading.Event()
    producer = rediq.Client.from_url(client.url)
    pq = producer.queue(name)

    bq = producer.queue(bystander)
    side: list[rediq.Job] = []   # jobs of a queue on another shard, served by the same worker

    def produce() -> None:
        while not producing.is_set():
            try:
                late.append(pq.enqueue("record", {"result": "late"}))
            except Exception as exc:  # noqa: BLE001 - asserted below
                producer_errors.append(exc)
                time.sleep(0.01)

    def produce_side() -> None:
        while not producing.is_set():
            side.append(bq.enqueue("record", {"result": "side"}))
            producing.wait(0.01)

    th = threading.Thread(target=produce)
    th.start()
    th_side = threading.Thread(target=produce_side)
    th_side.start()
    t0 = time.monotonic()
    migration = Migration(slot_of(client, name), src, dst).begin()
    try:
        # slower than redis-cli's pace, so the queue's keys stay split between the two
        # nodes (TRYAGAIN) for longer than redis-py's own retries last (about 0.4 s)
        migration.move_all(pause=0.01)
    finally:
        migration.finish()
        producing.set()
        th.join()
        th_side.join()
    took = time.monotonic() - t0
    total = n + len(late)
    done_then = q.counts()["completed"]
    print(f"moved {migration.moved} keys of slot {migration.slot} from :{src} to :{dst} in {took:.2f} s; "
          f"{done_then} of {total} jobs done then; {len(late)} enqueued during it")
    assert not producer_errors, f"enqueue during the migration raised: {producer_errors[:3]!r}"
    assert late and done_then < total, "the migration did not overlap the drain"
    with rediq.Client.from_url(client.url) as fresh:
        assert node_of(fresh, name) == dst

    wait_until(lambda: q.counts()["completed"] == total, 30, "every job completed")
    assert [j.result(timeout=1) for j in jobs] == list(range(n))
    assert all(j.result(timeout=1) == "late" for j in late)
    assert all(j.result(timeout=10) == "side" for j in side)
    waits = sorted(j.info().started_at - j.info().created_at for j in side)
    print(f"jobs on the other shard during the migration: {len(side)}, wait to start: "
          f"median {waits[len(waits) // 2] * 1000:.0f} ms, max {waits[-1] * 1000:.0f} ms")
    c = q.counts()
    assert (c["failed"], c["waiting"], c["active"], c["delayed"]) == (0, 0, 0, 0)
    runs = Counter(e["id"] for e in events(rec, "start") if e["queue"] == name)
    assert set(runs) == {j.id for j in jobs + late}
    print("jobs run more than once (at-least-once):", sum(1 for v in runs.values() if v > 1))
    with redis.Redis(port=src) as s:
        assert s.execute_command("CLUSTER", "COUNTKEYSINSLOT", migration.slot) == 0
    redirects = _redirections(src)
    print("redirections the source node answered:", redirects)
    assert redirects, "nothing hit the migration (no MOVED/ASK/TRYAGAIN)"
    producer.close()

    # the worker's blocking wait followed the queue: a new job starts promptly
    wait_until(lambda: _blocked_on(dst, "w"), 10, "the worker waits on the new node")
    t0 = time.monotonic()
    q.enqueue("record", {"result": "after"}).result(timeout=5)
    assert time.monotonic() - t0 < 1.0


@pytest.fixture
def half_moved(client):
    """A queue on one master and the migration of its slot to another, finished at teardown."""
    name = queues_on_shards(client, [1], stem="half")[0]
    src = node_of(client, name)
    dst = next(p for p in masters(client) if p != src)
    migration = Migration(slot_of(client, name), src, dst)
    yield client.queue(name), migration
    migration.finish()


def test_heartbeat_while_the_slot_is_half_moved_keeps_a_live_lease(client, half_moved):
    q, migration = half_moved
    job = q.enqueue("work", None)
    res = C.parse_claim(client.run(C.build_claim(q.keys, 1, "tok", 60_000)))
    assert [j.id for j in res.jobs] == [job.id]
    migration.begin()
    migration.move(q.keys.active)            # the active set moved, the record not yet
    lost = C.parse_ids(client.run(C.build_heartbeat(q.keys, 60_000, [(job.id, "tok")])))
    assert lost == [], "a live lease was reported lost during the migration"


def test_claim_while_the_slot_is_half_moved_loses_no_job(client, half_moved):
    q, migration = half_moved
    q.configure({"rate_max": "100", "rate_period_ms": "60000"})
    first = q.enqueue("work", "first")
    assert [j.id for j in C.parse_claim(client.run(C.build_claim(q.keys, 1, "t1", 60_000))).jobs] == [first.id]
    q.enqueue("work", "later", delay=600)
    q.enqueue("work", "plain")
    urgent = q.enqueue("work", "urgent", priority=5)
    client.redis.rpush(q.keys.wake, "1")
    k = q.keys
    declared = [k.meta, k.wait, k.prio, k.delayed, k.active, k.wake, k.limit]
    assert client.redis.exists(*declared) == len(declared)

    migration.begin()
    migration.move(k.job(urgent.id))         # one record moved ahead of the lists
    # the source cannot read the urgent job's record: the claim takes nothing, removes nothing
    res = C.parse_claim(client.run(C.build_claim(k, 1, "t2", 60_000)))
    assert res.jobs == [], "a job was claimed although its record had moved away"
    assert client.redis.zrange(k.prio, 0, -1) == [urgent.id.encode()]
    claimed: list[str] = []
    migration.finish()
    while batch := C.parse_claim(client.run(C.build_claim(k, 10, "t3", 60_000))).jobs:
        claimed += [j.id for j in batch]
    assert urgent.id in claimed, (f"job {urgent.id} was lost: record state "
                                  f"{q.get(urgent.id).state!r}, counts {q.counts()}")
