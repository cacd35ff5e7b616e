"""Failover under load: worker processes drain and a producer process enqueues steadily
through a ``redis+sentinel://`` URL while the master is SIGKILLed; the sentinels promote
the replica, and workers and producer go on against the new master without a restart.
Then count what was lost:

* acknowledged enqueues missing from the new master (asynchronous replication can lose
  a write acknowledged just before the master died), and whether they had run;
* completions lost: jobs that ran to completion before the kill yet ran again (their
  completion was not replicated): at-least-once, counted, never lost.

With ``wait_replicas=1`` an enqueue that returned normally is on the replica, so none is
lost; while the new master has no replica, enqueues raise ReplicationTimeout instead.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections import Counter
from typing import Any

import pytest
import redis
from helpers import wait_until
from scale_procs import STOP, acked, errors, events

import rediq

QUEUES = ["fo-a", "fo-b"]
# lease longer than the outage (kill -> promotion -> reconnect: about 3-6 s), so that a
# re-run measures a lost write, not a lease that ran out while nobody could renew it
WORKER = {"concurrency": 4, "lease": 8.0, "max_stalls": 50}
# acknowledged writes the replica may not have had when the master died: the last ones
WINDOW = 1.0
# seconds between two enqueues of the producer (REDIQ_FAILOVER_INTERVAL=0: as fast as it can)
# how far before a stall of the link a write may still be on its way (and lost with it)
IN_FLIGHT = 0.05
INTERVAL = float(os.environ.get("REDIQ_FAILOVER_INTERVAL", "0.004"))


def _stall_replica_link(setup, rec, wait_replicas: int) -> float:
    """Stall the replication link (the relay drops what the master sends) and wait until
    the master has acknowledged writes the replica will never get: acks when replication
    is asynchronous, a ReplicationTimeout when the producer waits for a replica.
    Returns ``time.time()`` of the stall."""
    t_cut = time.time()
    setup.relay.hold()
    if wait_replicas:
        wait_until(lambda: [e for e in errors(rec) if e["t"] > t_cut and e["type"] == "ReplicationTimeout"],
                   10, "a ReplicationTimeout", interval=0.01)
    else:
        wait_until(lambda: len([a for a in acked(rec) if a["t"] > t_cut]) >= 20, 10,
                   "acks the replica did not get", interval=0.01)
    return t_cut


def _drain_through_failover(setup, procs, rec, *, wait_replicas: int, cut_link: bool = False) -> dict[str, Any]:
    w1 = procs.worker({q: WORKER for q in QUEUES}, name="w1")
    w2 = procs.worker({q: WORKER for q in QUEUES}, name="w2")
    producer = procs.producer(QUEUES, interval=INTERVAL, wait_replicas=wait_replicas,
                              wait_timeout=0.2 if cut_link else 0.5)
    wait_until(lambda: len(acked(rec)) >= 300 and len(events(rec, "end")) >= 200, 30,
               "the drain under way", interval=0.05)
    old_master = setup.master.port

    t_cut = _stall_replica_link(setup, rec, wait_replicas) if cut_link else None
    t_kill = setup.kill_master()
    t_promoted = setup.wait_promoted()
    probe = None
    if wait_replicas:
        # the new master has no replica yet: an enqueue that waits for one says so
        with rediq.Client.from_url(setup.url, wait_replicas=1, wait_timeout=0.3) as c:
            with pytest.raises(rediq.ReplicationTimeout) as err:
                c.queue("probe").enqueue("record", {}, job_id="probe")
            probe = str(err.value)
            assert c.queue("probe").get("probe").state == "waiting"   # stored on the master all the same
        setup.rejoin_replica()
    t_rejoined = time.time()

    def after(t: float, what: str, n: int) -> None:
        wait_until(lambda: len([a for a in acked(rec) if a["t"] > t]) >= n, 30, what, interval=0.05)

    after(t_rejoined, "the producer goes on against the new master", 200)
    wait_until(lambda: {e["worker"] for e in events(rec, "start") if e["t"] > t_promoted} == {"w1", "w2"},
               30, "both workers run jobs from the new master", interval=0.05)
    rec.set(STOP, 1)
    assert producer.wait(30) == 0, producer.log()[-3000:]
    assert w1.alive() and w2.alive(), "a worker died (it was to ride the failover out)"

    client = rediq.Client.from_url(setup.url)
    assert client.redis.connection_pool.get_master_address()[1] != old_master

    def drained() -> bool:
        return all((c := client.queue(q).counts())["waiting"] + c["active"] + c["delayed"] == 0 for q in QUEUES)

    wait_until(drained, 60, "the new master's jobs all finished", interval=0.2)

    # --- count
    acks = acked(rec)
    ack_t = {a["id"]: a["t"] for a in acks}
    pipe = client.redis.pipeline(transaction=False)
    for a in acks:
        pipe.hget(client.queue(a["queue"]).keys.job(a["id"]), "state")
    state = dict(zip([a["id"] for a in acks], pipe.execute()))
    starts = Counter(e["id"] for e in events(rec, "start"))
    first_end: dict[str, float] = {}
    for e in events(rec, "end"):
        first_end.setdefault(e["id"], e["t"])
    lost = [i for i in ack_t if state[i] is None]
    reruns = [i for i, n in starts.items() if n > 1]
    completion_lost = [i for i in reruns if first_end.get(i, float("inf")) < t_kill]
    errs = Counter(e["type"] for e in errors(rec))
    out = {
        "acked": len(acks), "acked_before_kill": sum(1 for t in ack_t.values() if t < t_kill),
        "lost_acked_enqueues": lost,
        "lost_ages_ms": sorted(round((t_kill - ack_t[i]) * 1000, 1) for i in lost),
        "lost_that_had_run": [i for i in lost if starts[i]],
        "not_completed": [i for i in ack_t if state[i] not in (None, b"completed")],
        "completion_lost": completion_lost,
        "completion_lost_ages_ms": sorted(round((t_kill - first_end[i]) * 1000, 1) for i in completion_lost),
        "other_reruns": [i for i in reruns if i not in completion_lost],
        "producer_errors": dict(errs),
        "link_cut_ms_before_kill": None if t_cut is None else round((t_kill - t_cut) * 1000, 1),
        # IN_FLIGHT: bytes the master sent just before the stall, not yet through the relay
        "lost_acked_after_cut": [i for i in lost if t_cut is not None and ack_t[i] > t_cut - IN_FLIGHT],
        "acked_after_cut": None if t_cut is None else sum(1 for t in ack_t.values() if t_cut < t < t_kill),
        # a run ends, then the worker sends its completion a few ms later
        "completion_lost_after_cut": [i for i in completion_lost
                                      if t_cut is not None and first_end[i] > t_cut - IN_FLIGHT - 0.2],
        "failover_s": round(t_promoted - t_kill, 2),
        # the producer's longest wait between two acknowledgements
        "producer_outage_s": round(max(b - a for a, b in zip(sorted(ack_t.values()), sorted(ack_t.values())[1:])), 2),
        "completed": sum(client.queue(q).counts()["completed"] for q in QUEUES),
        "failed": sum(client.queue(q).counts()["failed"] for q in QUEUES),
        "probe": probe,
    }
    client.close()
    summary = {k: (len(v) if isinstance(v, list) and not k.endswith("ms") else v) for k, v in out.items()}
    print(f"\nfailover with wait_replicas={wait_replicas}: {json.dumps(summary)}")
    return out


def _common_checks(out: dict[str, Any]) -> None:
    assert out["not_completed"] == [], "a job on the new master never finished"
    assert out["failed"] == 0
    # every acknowledged enqueue is either completed on the new master, or was lost
    assert out["completed"] == out["acked"] - len(out["lost_acked_enqueues"])
    # a lost completion is one that landed just before the kill, never an old one
    assert all(age < WINDOW * 1000 for age in out["completion_lost_ages_ms"]), out["completion_lost_ages_ms"]
    assert all(age < WINDOW * 1000 for age in out["lost_ages_ms"]), out["lost_ages_ms"]


def test_master_killed_during_a_drain_loses_only_just_acknowledged_writes(failover_setup, procs, rec):
    out = _drain_through_failover(failover_setup, procs, rec, wait_replicas=0)
    _common_checks(out)   # asynchronous replication: only writes acknowledged just before the kill
    assert out["acked_before_kill"] >= 300


@pytest.mark.parametrize("failover_setup", ["relay"], indirect=True)
def test_master_killed_while_the_replica_lags_loses_exactly_the_writes_it_had_not_received(
        failover_setup, procs, rec):
    """The worst case of asynchronous replication, made to happen: the replication link
    stalls (as in a network blip) just before the master dies."""
    out = _drain_through_failover(failover_setup, procs, rec, wait_replicas=0, cut_link=True)
    _common_checks(out)
    assert out["lost_acked_enqueues"], "the replica had everything: the lag was not reproduced"
    # lost: the writes acknowledged while the link stalled (or just on their way), never older
    assert sorted(out["lost_acked_enqueues"]) == sorted(out["lost_acked_after_cut"])
    # and every one acknowledged after the stall: the replica got nothing from then on
    assert len(out["lost_acked_enqueues"]) >= out["acked_after_cut"]
    # completions lost: jobs that finished after the stall (give or take the worker's
    # completion call a few ms after the run's end), never before
    assert set(out["completion_lost"]) == set(out["completion_lost_after_cut"])


@pytest.mark.parametrize("failover_setup", ["relay"], indirect=True)
def test_with_wait_replicas_an_acknowledged_enqueue_is_never_lost(failover_setup, procs, rec):
    """The same failover with the link stalled just before it, but the producer enqueues with
    wait_replicas=1: the calls the replica did not confirm raised ReplicationTimeout (and
    were repeated with the same id); every call that returned normally survives."""
    out = _drain_through_failover(failover_setup, procs, rec, wait_replicas=1, cut_link=True)
    _common_checks(out)
    assert out["lost_acked_enqueues"] == [], out["lost_ages_ms"]
    assert out["producer_errors"].get("ReplicationTimeout", 0) >= 1, out["producer_errors"]
    assert "only 0 of 1 replica(s) confirmed it" in out["probe"]


class _Go:
    """A start signal set from one thread and awaited on another thread's event loop."""

    def __init__(self) -> None:
        self._flag = threading.Event()

    def set(self) -> None:
        self._flag.set()

    async def wait(self) -> None:
        while not self._flag.is_set():
            await asyncio.sleep(0.001)


def test_calls_in_flight_when_the_master_dies_land_on_the_new_master_soon_after_promotion(failover_setup):
    """Sync and async enqueues sent right after the kill retry until the sentinels name the
    new master, then go there (not on to the dead address until their retries run out)."""
    setup = failover_setup
    sync_client = rediq.Client.from_url(setup.url)
    sync_client.queue("inflight").enqueue("work", "warm")   # its pool holds a live connection
    done: dict[str, Any] = {}
    ready, go = threading.Event(), _Go()

    async def async_enqueue() -> None:
        async with rediq.AsyncClient.from_url(setup.url) as c:
            await c.queue("inflight").enqueue("work", "warm")
            ready.set()
            await go.wait()
            try:
                await c.queue("inflight").enqueue("work", "async", job_id="async")
                done["async"] = time.time()
            except Exception as exc:  # noqa: BLE001 - asserted below
                done["async"] = exc

    def sync_enqueue() -> None:
        try:
            sync_client.queue("inflight").enqueue("work", "sync", job_id="sync")
            done["sync"] = time.time()
        except Exception as exc:  # noqa: BLE001 - asserted below
            done["sync"] = exc

    t_async = threading.Thread(target=lambda: asyncio.run(async_enqueue()))
    t_async.start()
    assert ready.wait(10)
    t_kill = setup.kill_master()
    go.set()
    t_sync = threading.Thread(target=sync_enqueue)
    t_sync.start()
    t_promoted = setup.wait_promoted()
    t_sync.join(40)
    t_async.join(40)
    sync_client.close()
    print(f"promoted {t_promoted - t_kill:.2f} s after the kill; enqueues returned "
          + ", ".join(f"{k} {v - t_kill:.2f} s" if isinstance(v, float) else f"{k} {v!r}"
                      for k, v in done.items()))
    for kind in ("sync", "async"):
        assert isinstance(done.get(kind), float), f"{kind} enqueue failed: {done.get(kind)!r}"
        # redis-py alone retried the dead address until its retries ran out (about 20 s)
        assert done[kind] - t_promoted < 4.0, f"{kind} enqueue came {done[kind] - t_promoted:.1f} s after promotion"
    with rediq.Client.from_url(setup.url) as c:
        assert {c.queue("inflight").get(i).state for i in ("sync", "async")} == {"waiting"}
