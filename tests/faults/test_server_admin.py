"""Server-side disruptions: SCRIPT FLUSH and CLIENT KILL under load; maxmemory reached."""

from __future__ import annotations

import threading
import time

import pytest
import redis

import rediq
from rediq._server import EmbeddedServer

from helpers import wait_until

from .harness import (
    QUEUE, Fleet, check_outcomes, configure, drain, enqueue_workload, fault_jobs, queue_config,
    used_memory,
)


def test_script_flush_and_client_kill_during_load(fleet: Fleet, fault_server: EmbeddedServer,
                                                  fclient: rediq.Client) -> None:
    """Every ~0.3 s, alternately SCRIPT FLUSH and CLIENT KILL TYPE normal (every client
    connection but the test's own) while 3 workers drain and the test keeps enqueueing:
    scripts are reloaded, connections re-made, the workers survive, no job is lost."""
    n = max(fault_jobs() // 3, 100)
    cfg = {QUEUE: queue_config(concurrency=4, max_stalls=5)}
    ids = enqueue_workload(fclient, n, {"sleep": 0.03})
    procs = [fleet.start(cfg) for _ in range(3)]
    admin = redis.Redis.from_url(fault_server.url)
    stop = threading.Event()
    hits = {"flush": 0, "kill": 0, "killed_clients": 0}

    def disrupt() -> None:
        while not stop.wait(0.3):
            admin.script_flush()
            hits["flush"] += 1
            if stop.wait(0.3):
                return
            hits["killed_clients"] += int(admin.execute_command("CLIENT", "KILL", "TYPE", "normal"))
            hits["kill"] += 1

    t = threading.Thread(target=disrupt, daemon=True)
    t.start()
    try:
        extra = enqueue_workload(fclient, n // 2, {"sleep": 0.03}, prefix="late")
        drain(fclient, n + len(extra), timeout=120, fleet=fleet)
    finally:
        stop.set()
        t.join(5)
        admin.close()
    assert all(p.alive() for p in procs), "a worker died:\n" + fleet.logs()
    fleet.stop()
    out = check_outcomes(fclient, ids + extra, fleet.executions())
    print(f"\nSCRIPT FLUSH x{hits['flush']}, CLIENT KILL x{hits['kill']} "
          f"({hits['killed_clients']} connections); {out.summary()}; "
          f"jobs charged a stall without a second run: {out.stalled_jobs_never_rerun}")
    assert hits["flush"] >= 2 and hits["killed_clients"] > 0
    assert not out.problems, out.problems[:20]
    assert out.states["completed"] == n + len(extra)


@pytest.fixture
def full_redis(fault_server: EmbeddedServer) -> redis.Redis:
    """The server with maxmemory set just above what it uses now (noeviction)."""
    r = redis.Redis.from_url(fault_server.url)
    r.config_set("maxmemory-policy", "noeviction")
    return r


def _fill(q: rediq.Queue, r: redis.Redis, room: int) -> tuple[list[str], list[str], Exception]:
    """Enqueue 5-job batches of 4 KB payloads until Redis refuses; return (attempted
    ids, acknowledged ids, the error)."""
    r.config_set("maxmemory", used_memory(r) + room)
    attempted: list[str] = []
    acked: list[str] = []
    for i in range(100_000):
        batch = [f"m{i}-{k}" for k in range(5)]
        attempted += batch
        try:
            q.enqueue_many([("rec", {"pad": "x" * 4000}, {"job_id": j}) for j in batch])
        except Exception as exc:  # noqa: BLE001 - the error under test
            return attempted, acked, exc
        acked += batch
    raise AssertionError("maxmemory was never reached")


def test_enqueue_past_maxmemory_fails_clearly_and_stores_whole_jobs_only(
        full_redis: redis.Redis, fclient: rediq.Client) -> None:
    """Past maxmemory an enqueue raises an error that names the cause, and every job is
    either stored whole (record with all fields, in the wait list once) or absent."""
    q = fclient.queue(QUEUE)
    attempted, acked, err = _fill(q, full_redis, 1_000_000)
    assert isinstance(err, redis.exceptions.OutOfMemoryError), repr(err)
    assert "maxmemory" in str(err), str(err)
    waiting = [x.decode() for x in full_redis.lrange(q.keys.wait, 0, -1)]
    assert len(waiting) == len(set(waiting))
    for jid in attempted:
        rec = full_redis.hgetall(q.keys.job(jid))
        if jid in acked:
            assert rec, f"acknowledged job {jid} is missing"
        if rec:
            assert {b"runs", b"data", b"attempts", b"created_ms", b"state"} <= set(rec), (jid, rec)
            assert rec[b"state"] == b"waiting" and jid in waiting, jid
        else:
            assert jid not in waiting, f"{jid} is in the wait list without a record"
    assert set(waiting) == set(acked), "stored jobs are exactly the acknowledged ones"


def test_workers_drain_a_full_redis_and_enqueue_works_again(
        full_redis: redis.Redis, fleet: Fleet, fclient: rediq.Client) -> None:
    """A queue that filled Redis to maxmemory is still drained (claim, complete and fail
    free memory first), and once drained an enqueue succeeds again."""
    cfg = queue_config(concurrency=4, keep_completed=0.0)
    configure(fclient, **cfg)  # a worker that changes nothing writes nothing at start
    q = fclient.queue(QUEUE)
    _, acked, _ = _fill(q, full_redis, 1_000_000)
    fleet.start({QUEUE: cfg})
    wait_until(lambda: q.counts()["waiting"] == 0 and q.counts()["active"] == 0, 60,
               "the full queue to drain")
    q.enqueue("rec", {}, job_id="after")
    ran = {e["id"] for e in fleet.executions() if e["ev"] == "end"}
    assert set(acked) <= ran


def test_leases_are_renewed_when_redis_is_at_maxmemory(full_redis: redis.Redis, fleet: Fleet,
                                                       fclient: rediq.Client) -> None:
    """A job running three leases long on a healthy worker while Redis is full: its lease
    is renewed, so it is never recovered as stalled."""
    cfg = queue_config(concurrency=1, lease=1.0, max_stalls=5)
    configure(fclient, **cfg)
    q = fclient.queue(QUEUE)
    q.enqueue("rec", {"sleep_on": {"1": 3.5}}, job_id="long")
    w = fleet.start({QUEUE: cfg})
    wait_until(lambda: any(e["id"] == "long" for e in fleet.executions()), 20, "the long job to start")
    _fill(q, full_redis, 200_000)
    # a second worker that would run the job again if its lease lapsed
    fleet.start({QUEUE: cfg})
    time.sleep(4.0)
    info = q.get("long")
    assert w.alive()
    assert info.stalls == 0, f"the running job was recovered as stalled: {info}"
