"""Handlers that overrun their timeout, raise on every attempt, or crash their worker."""

from __future__ import annotations

import time

import rediq

from helpers import wait_until

from .harness import QUEUE, Fleet, check_outcomes, drain, enqueue_workload, queue_config


def _runs(fleet: Fleet, job_id: str, ev: str = "start") -> list[dict]:
    return [e for e in fleet.executions() if e["id"] == job_id and e["ev"] == ev]


def test_sync_handler_past_its_timeout_fails_the_run_and_the_retry_is_recorded(
        fleet: Fleet, fclient: rediq.Client) -> None:
    """A sync run that blocks past its timeout counts as a failed attempt at the
    deadline; the retry runs (on another worker) and its result is the one stored. The
    blocked thread is not interrupted: it finishes later, its outcome is dropped, and
    its slot stays taken until then."""
    q = fclient.queue(QUEUE)
    q.enqueue("rec", {"sleep_on": {"1": 2.5}}, job_id="slow", timeout=0.3, attempts=2)
    cfg = {QUEUE: queue_config(concurrency=1, lease=1.0)}
    a = fleet.start(cfg, name="A")
    wait_until(lambda: _runs(fleet, "slow"), 20, "the first run")
    fleet.start(cfg, name="B")
    wait_until(lambda: q.get("slow").state == "completed", 20, "the retry to complete")
    info = q.get("slow")
    assert info.failures == 1 and info.attempts_made == 2 and info.result["attempt"] == 2
    assert "TimeoutError" in (info.error or "")
    assert info.result["worker"] == "B", "A's slot was still taken by its blocked run"
    wait_until(lambda: len(_runs(fleet, "slow", "end")) == 2, 10, "the blocked run to end")
    wait_until(lambda: "outcome is dropped" in a.log(), 5, "A to drop the late outcome")
    assert q.get("slow").result["attempt"] == 2


def test_async_handler_past_its_timeout_is_cancelled(fleet: Fleet, fclient: rediq.Client) -> None:
    """An async run past its timeout is cancelled at the deadline (the coroutine sees
    CancelledError); the failure is recorded and the retry's result is stored."""
    q = fclient.queue(QUEUE)
    q.enqueue("arec", {"sleep_first": 5.0}, job_id="aslow", timeout=0.3, attempts=2)
    fleet.start({QUEUE: queue_config(concurrency=1, lease=1.0)})
    wait_until(lambda: q.get("aslow").state == "completed", 20, "the retry to complete")
    cancelled = _runs(fleet, "aslow", "cancelled")
    started = _runs(fleet, "aslow")
    assert [e["attempt"] for e in cancelled] == [1]
    assert cancelled[0]["t"] - started[0]["t"] < 1.5, "cancelled long after its timeout"
    info = q.get("aslow")
    assert info.failures == 1 and info.result["attempt"] == 2


def test_poison_job_fails_after_its_attempts_and_never_loops(fleet: Fleet, fclient: rediq.Client) -> None:
    """A job that raises on every run, and one that times out on every run, each end
    failed after exactly ``attempts`` runs; the other jobs all complete."""
    q = fclient.queue(QUEUE)
    q.enqueue("rec", {"fail": "all"}, job_id="poison", attempts=3, backoff=0.05)
    q.enqueue("rec", {"sleep": 0.6}, job_id="too-slow", attempts=2, timeout=0.2)
    ids = enqueue_workload(fclient, 50, {"sleep": 0.01})
    for _ in range(2):
        fleet.start({QUEUE: queue_config(concurrency=2, lease=1.0)})
    drain(fclient, 52, timeout=60, fleet=fleet)
    time.sleep(1.0)  # a looping job would run again meanwhile
    fleet.stop()
    for jid, attempts, cause in (("poison", 3, "RuntimeError"), ("too-slow", 2, "TimeoutError")):
        info = q.get(jid)
        assert info.state == "failed" and info.failures == attempts, info
        assert cause in (info.error or "")
        assert len(_runs(fleet, jid)) == attempts
    out = check_outcomes(fclient, ids, fleet.executions())
    assert not out.problems and out.states["completed"] == 50, out.problems[:10]
