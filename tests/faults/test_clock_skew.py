"""Clock skew: workers whose local clocks are hours apart (``REDIQ_FAULT_CLOCK_SKEW``
shifts time.time and time.monotonic in the worker process; see runner.py). All queue
time comes from the Redis server, so leases, delays and rate limits stay exact."""

from __future__ import annotations

import rediq

from .harness import Fleet, check_outcomes, drain, enqueue_workload, queue_config

HOURS = 3600.0


def test_workers_hours_apart_keep_leases_delays_and_rate_limits(fleet: Fleet, fclient: rediq.Client) -> None:
    queues = {
        "leases": queue_config(concurrency=2, lease=1.0, max_stalls=5),
        "delays": queue_config(concurrency=4, lease=1.0),
        "rated": queue_config(concurrency=4, lease=1.0, rate_limit=[5, 0.5]),
    }
    long_ids = enqueue_workload(fclient, 4, {"sleep": 2.5}, queue="leases")
    delayed_ids = enqueue_workload(fclient, 20, {}, queue="delays", delay=1.0)
    rated_ids = enqueue_workload(fclient, 20, {}, queue="rated")
    for skew in (+3 * HOURS, -5 * HOURS):
        fleet.start(queues, env={"REDIQ_FAULT_CLOCK_SKEW": str(skew)})
    for name, ids in (("leases", long_ids), ("delays", delayed_ids), ("rated", rated_ids)):
        drain(fclient, len(ids), timeout=60, queue=name, fleet=fleet)
    fleet.stop()
    execs = fleet.executions()
    assert {e["pid"] for e in execs} == {p.pid for p in fleet.procs}, "both skewed workers ran jobs"

    # leases: jobs 2.5 leases long, renewed by skewed workers, never recovered
    out = check_outcomes(fclient, long_ids, execs, queue="leases")
    assert not out.problems and out.stalls == 0 and out.runs == 4, out.summary()
    assert fclient.queue("leases").counts()["stalled"] == 0

    # delays: no job started before its due time on the server clock, nor long after
    q = fclient.queue("delays")
    for jid in delayed_ids:
        info = q.get(jid)
        assert info.created_at is not None and info.started_at is not None
        waited = info.started_at - info.created_at
        assert 1.0 <= waited < 3.0, f"{jid} started {waited:.3f} s after enqueue (delay 1 s)"

    # rate limit: at most 5 starts in any 0.5 s window (server clock, window (t-0.5, t])
    q = fclient.queue("rated")
    starts = sorted(int(q.get(j).started_at * 1000) for j in rated_ids)  # type: ignore[operator]
    for t in starts:
        assert sum(1 for s in starts if t - 500 < s <= t) <= 5, f"window ending {t}: {starts}"
    assert starts[-1] - starts[0] >= 1500, "20 starts at 5 per 0.5 s need at least 1.5 s"
