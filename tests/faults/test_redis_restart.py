"""Redis killed (SIGKILL) and restarted mid-drain, with AOF and ``appendfsync always``."""

from __future__ import annotations

import threading
import time

import redis

import rediq
from rediq._server import EmbeddedServer

from helpers import wait_until

from .harness import QUEUE, Fleet, check_outcomes, drain, enqueue_workload, fault_jobs, queue_config


def test_redis_restart_mid_drain_loses_no_acknowledged_enqueue(
        fleet: Fleet, fault_server: EmbeddedServer, fclient: rediq.Client) -> None:
    """Kill Redis twice while workers drain and a producer keeps enqueueing: the workers
    reconnect by themselves (same processes, scripts reloaded on NOSCRIPT), every enqueue
    that returned is stored and runs, and the drain accounts for every job."""
    n = max(fault_jobs() // 2, 200)
    cfg = {QUEUE: queue_config(concurrency=4, max_stalls=5)}
    ids = enqueue_workload(fclient, n // 2, {"sleep": 0.02})
    procs = [fleet.start(cfg) for _ in range(3)]
    acked: list[str] = []
    errors: list[BaseException] = []

    def produce() -> None:
        producer = rediq.Client.from_url(fault_server.url)
        q = producer.queue(QUEUE)
        try:
            for i in range(n // 2):
                jid = f"p{i}"
                q.enqueue("rec", {"sleep": 0.02}, job_id=jid)
                acked.append(jid)  # only once the call returned: acknowledged
                time.sleep(0.004)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            producer.close()

    t = threading.Thread(target=produce, daemon=True)
    t.start()
    for _ in range(2):
        wait_until(lambda: fclient.queue(QUEUE).counts()["completed"] > 0, 30, "progress")
        time.sleep(0.7)
        fault_server.kill()
        time.sleep(1.0)
        fault_server.start()
        r = redis.Redis.from_url(fault_server.url)
        assert r.script_exists(*[s.sha for s in rediq._scripts.SCRIPTS.values()]) == \
            [False] * len(rediq._scripts.SCRIPTS), "a restarted server has no scripts loaded"
        r.close()
    t.join(120)
    assert not errors, errors
    total = len(ids) + len(acked)
    drain(fclient, total, timeout=120, fleet=fleet)
    assert all(p.alive() for p in procs), "a worker died instead of reconnecting:\n" + fleet.logs()
    fleet.stop()
    out = check_outcomes(fclient, ids + acked, fleet.executions())
    print(f"\nredis restarts: {len(acked)} enqueues acknowledged during the restarts; {out.summary()}")
    assert not out.problems, out.problems[:20]
    assert out.states["completed"] == total
