"""Workers frozen with SIGSTOP past their lease, then resumed with SIGCONT."""

from __future__ import annotations

import random
import signal
import time

import pytest

import rediq
from rediq import commands as C

from helpers import wait_until

from .harness import QUEUE, Fleet, check_outcomes, drain, enqueue_workload, fault_jobs, queue_config


def _started(fleet: Fleet, job_id: str, attempt: int) -> dict | None:
    for e in fleet.executions():
        if e["ev"] == "start" and e["id"] == job_id and e["attempt"] == attempt:
            return e
    return None


def _ended(fleet: Fleet, job_id: str, attempt: int) -> bool:
    return any(e["ev"] == "end" and e["id"] == job_id and e["attempt"] == attempt
               for e in fleet.executions())


def test_stopped_worker_late_completion_is_refused(fleet: Fleet, fclient: rediq.Client) -> None:
    """Worker A is frozen mid-job past its lease; B recovers the job (one stall) and
    completes it. When A resumes, its run finishes but its completion is refused: the
    stored result stays B's."""
    cfg = {QUEUE: queue_config(concurrency=1, lease=1.0)}
    q = fclient.queue(QUEUE)
    q.enqueue("rec", {"sleep_on": {"1": 1.0}}, job_id="J")
    a = fleet.start(cfg, name="A")
    wait_until(lambda: _started(fleet, "J", 1), 20, "A to start J")
    a.signal(signal.SIGSTOP)
    b = fleet.start(cfg, name="B")
    wait_until(lambda: q.get("J").state == "completed", 20, "B to complete J")
    a.signal(signal.SIGCONT)
    wait_until(lambda: _ended(fleet, "J", 1), 10, "A's late run to end")
    wait_until(lambda: "refused" in a.log() or "outcome is dropped" in a.log(), 10,
               "A to report its completion refused or dropped")
    info = q.get("J")
    assert info.state == "completed" and info.stalls == 1 and info.attempts_made == 2
    assert info.result["worker"] == "B" and info.result["pid"] == b.pid
    assert info.result["attempt"] == 2


def test_sigstop_sigcont_storm_during_a_drain(fleet: Fleet, fclient: rediq.Client) -> None:
    """Freeze a random worker for 2.5 leases every second or so during a drain: all
    jobs finish, every duplicate run is explained by a stall, and every stored result
    is the job's last lease."""
    n = max(fault_jobs() // 3, 100)
    cfg = {QUEUE: queue_config(concurrency=4, lease=1.0, max_stalls=5)}
    ids = enqueue_workload(fclient, n, {"sleep": 0.05})
    procs = [fleet.start(cfg) for _ in range(3)]
    rng = random.Random(7)
    frozen: list[tuple[float, object]] = []
    stops = 0

    def step() -> None:
        nonlocal stops
        now = time.monotonic()
        for until, p in list(frozen):
            if now >= until:
                p.signal(signal.SIGCONT)  # type: ignore[attr-defined]
                frozen.remove((until, p))
        if not frozen and rng.random() < 0.05:
            p = rng.choice(procs)
            p.signal(signal.SIGSTOP)
            frozen.append((now + 2.5, p))
            stops += 1

    drain(fclient, n, timeout=120, step=step, fleet=fleet)
    for _, p in frozen:
        p.signal(signal.SIGCONT)  # type: ignore[attr-defined]
    time.sleep(1.5)  # let resumed workers try their late completions
    fleet.stop()
    out = check_outcomes(fclient, ids, fleet.executions())
    print(f"\nSIGSTOP storm: {stops} freezes; {out.summary()}")
    assert not out.problems, out.problems[:20]
    assert out.states["completed"] == n


def test_stale_worker_cannot_finish_a_lease_of_a_same_named_worker(fleet: Fleet,
                                                                   fclient: rediq.Client) -> None:
    """Worker "w" (A) is frozen mid-job; the job is recovered; a new process also named
    "w" (B: a replica, or a restart with a fixed name) claims it. A's late completion
    must be refused: the stored result is B's run."""
    cfg = {QUEUE: queue_config(concurrency=1, lease=1.0)}
    q = fclient.queue(QUEUE)
    q.enqueue("rec", {"sleep_on": {"1": 1.0, "2": 3.0}}, job_id="J")
    a = fleet.start(cfg, name="w")
    wait_until(lambda: _started(fleet, "J", 1), 20, "A to start J")
    a.signal(signal.SIGSTOP)
    time.sleep(1.2)  # past A's lease
    back, _ = C.parse_recover_stalled(fclient.run(C.build_recover_stalled(q.keys, 10, 5)))
    assert back == ["J"]
    fleet.start(cfg, name="w")
    wait_until(lambda: _started(fleet, "J", 2), 20, "B to start J")
    a.signal(signal.SIGCONT)
    wait_until(lambda: q.get("J").state == "completed", 20, "J to complete")
    info = q.get("J")
    assert info.result["attempt"] == 2, f"the stale run's result was stored: {info.result}"
