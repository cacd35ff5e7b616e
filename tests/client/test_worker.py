"""Worker behaviour in-process: timeouts, stopping from anywhere, running off the main thread."""

from __future__ import annotations

import signal
import threading
import time

import pytest

import rediq
from helpers import wait_until


def test_overrunning_handler_fails_with_timed_out_error_and_is_retried(client, workers, rec, gate):
    q = client.queue("q")

    def work(job):
        rec(job)
        if job.data == "slow" and job.attempt == 1:
            gate.wait("late")
        return f"{job.data} attempt {job.attempt}"

    workers.start({"work": work}, {"q": rediq.QueueConfig(concurrency=3)})
    slow = q.enqueue("work", "slow", timeout=0.3, attempts=2)
    assert slow.result(timeout=5) == "slow attempt 2"
    info = q.get(slow.id)
    assert (info.state, info.attempts_made, info.failures, info.stalls) == ("completed", 2, 1, 0)
    assert info.error == "TimeoutError: job timed out after 0.3 s"
    # the worker keeps serving other jobs while the overrunning run is still stuck
    assert [j.result(timeout=5) for j in q.enqueue_many([("work", "fast")] * 5)] == ["fast attempt 1"] * 5
    gate["late"].set()  # the timed-out run returns late: its outcome is dropped
    assert q.enqueue("work", "after").result(timeout=5) == "after attempt 1"
    assert q.get(slow.id).result == "slow attempt 2"


def test_handler_overrunning_its_last_attempt_fails_the_job(client, workers, rec, gate):
    q = client.queue("q")

    def work(job):
        rec(job)
        gate.wait("never")

    workers.start({"work": work, "ok": lambda job: "ok"}, {"q": rediq.QueueConfig(concurrency=2)})
    job = q.enqueue("work", timeout=0.2)
    with pytest.raises(rediq.JobFailed, match="timed out after 0.2 s"):
        job.result(timeout=5)
    info = q.get(job.id)
    assert (info.state, info.failures, info.attempts_made) == ("failed", 1, 1)
    assert round(info.finished_at * 1000) - round(info.started_at * 1000) >= 200
    assert q.enqueue("ok").result(timeout=5) == "ok"


def test_timed_out_run_returning_late_does_not_drop_its_retrys_lease(client, workers, rec, gate, r):
    """The retry of a timed-out job may run on the same worker while the first run's
    thread is still busy; when that first run returns, the retry must stay leased."""
    q = client.queue("q")
    lease = 0.6

    def work(job):
        rec(job, phase="start")
        gate.wait(f"attempt{job.attempt}")
        rec(job, phase="returned")
        return job.attempt

    workers.start({"work": work}, {"q": rediq.QueueConfig(concurrency=2, lease=lease)})
    job = q.enqueue("work", timeout=3.0, attempts=2)
    wait_until(lambda: len(rec.of(job.id)) == 2, 6, "the retry started on the same worker")
    gate["attempt1"].set()
    wait_until(lambda: [x for x in rec.of(job.id) if x["phase"] == "returned"], 5, "first run returned")
    sec, usec = r.time()
    returned_ms = sec * 1000 + usec // 1000
    # the retry's lease is still renewed after the late return (heartbeats every lease/3)
    key = q.keys.job(job.id)
    wait_until(lambda: (r.zscore(q.keys.active, job.id) or 0) > returned_ms + lease * 1000 + 50
               and r.hmget(key, "stalls", "attempts_made") == [None, b"2"],
               2.5 * lease, "a heartbeat of the retry's lease after the first run returned")
    gate["attempt2"].set()
    assert job.result(timeout=5) == 2
    info = q.get(job.id)
    assert (info.stalls, info.attempts_made) == (0, 2)
    assert [x["attempt"] for x in rec.of(job.id) if x["phase"] == "start"] == [1, 2]


def test_timed_out_run_still_occupies_its_slot(client, workers, rec, gate):
    q = client.queue("q")

    def work(job):
        rec(job)
        if job.data == "stuck":
            gate.wait("stuck")
        return job.data

    workers.start({"work": work}, {"q": rediq.QueueConfig(concurrency=2)})
    stuck = q.enqueue("work", "stuck", timeout=0.2)
    with pytest.raises(rediq.JobFailed, match="timed out"):
        stuck.result(timeout=5)
    # one slot is held by the stuck thread, so the worker runs one job at a time
    jobs = q.enqueue_many([("work", i) for i in range(4)])
    assert [j.result(timeout=5) for j in jobs] == [0, 1, 2, 3]
    spans = sorted((q.get(j.id).started_at, q.get(j.id).finished_at) for j in jobs)
    assert all(b[0] >= a[1] for a, b in zip(spans, spans[1:])), "ran more jobs at once than free slots"
    gate["stuck"].set()


def test_stop_from_a_handler_finishes_that_job_and_claims_no_more(client, workers, rec):
    q = client.queue("q")
    holder = {}

    def work(job):
        rec(job)
        holder["w"].stop()
        return "stopped myself"

    q.enqueue_many([("work", 1), ("work", 2)])
    holder["w"] = w = workers.start({"work": work}, {"q": rediq.QueueConfig(concurrency=1)})
    thread = workers.thread_of(w)
    thread.join(5)
    assert not thread.is_alive()
    assert len(rec) == 1
    assert q.get(rec.runs[0]["id"]).result == "stopped myself"
    assert q.counts()["waiting"] == 1 and q.counts()["active"] == 0


def test_stop_from_another_thread_waits_for_the_running_job(client, workers, rec, gate):
    q = client.queue("q")

    def work(job):
        rec(job)
        gate.wait("go")
        return "done"

    w = workers.start({"work": work}, {"q": rediq.QueueConfig()}, grace=10)
    job = q.enqueue("work")
    wait_until(lambda: len(rec) == 1, 5, "job started")
    stopper = threading.Thread(target=w.stop)
    stopper.start()
    stopper.join(5)
    thread = workers.thread_of(w)
    assert thread.is_alive() and q.get(job.id).state == "active"
    gate["go"].set()
    thread.join(5)
    assert not thread.is_alive()
    assert q.get(job.id).state == "completed"


def test_stop_of_an_idle_worker_returns_promptly_and_closes_its_wait_connection(client, workers, r):
    w = workers.start({"work": lambda job: None}, {"q": rediq.QueueConfig()})
    blocked = wait_until(lambda: [c["id"] for c in r.client_list() if "b" in c["flags"]], 5,
                         "the worker blocked")
    w.stop()
    thread = workers.thread_of(w)
    thread.join(2)
    assert not thread.is_alive()
    assert not [c for c in r.client_list() if c["id"] in blocked], "the wait connection is left open"


def test_worker_stopped_right_after_start_leaves_no_blocked_wait_behind(client, workers, r):
    """A stop racing the first BLPOP must still cut it short: a left-over BLPOP would
    hold a connection and swallow the next wake-up token of the queue."""
    for i in range(15):
        w = workers.start({"work": lambda job: None}, {"q": rediq.QueueConfig()}, client_name=f"w{i}")
        if i % 3:
            wait_until(lambda: any(c["name"] == f"w{i}" for c in r.client_list()), 5, "worker connected")
        started = time.monotonic()
        w.stop()
        workers.thread_of(w).join(5)
        assert time.monotonic() - started < 1.0
        assert not [c for c in r.client_list() if c["name"] == f"w{i}" and "b" in c["flags"]]


def test_second_stop_hands_running_jobs_back_at_once(client, workers, rec, gate):
    q = client.queue("q")

    def work(job):
        rec(job)
        gate.wait("never")

    w = workers.start({"work": work}, {"q": rediq.QueueConfig(lease=30.0)}, grace=60)
    job = q.enqueue("work")
    wait_until(lambda: len(rec) == 1, 5, "job started")
    w.stop()
    w.stop()
    thread = workers.thread_of(w)
    thread.join(5)
    assert not thread.is_alive()
    info = q.get(job.id)
    assert (info.state, info.stalls, info.attempts_made) == ("waiting", 0, 1)


def test_run_in_a_non_main_thread_installs_no_signal_handlers(client, workers):
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    workers.start({"work": lambda job: job.data * 2}, {"q": rediq.QueueConfig()})
    assert client.queue("q").enqueue("work", 21).result(timeout=5) == 42
    assert {s: signal.getsignal(s) for s in before} == before


def test_handler_context_carries_identity_and_reports_progress(client, workers, gate):
    q = client.queue("q")
    seen = {}

    def work(job):
        seen.update(id=job.id, queue=job.queue, runs=job.runs, attempt=job.attempt,
                    timeout=job.timeout, data=job.data)
        assert job.progress({"done": 50}) is True
        gate.wait("go")

    workers.start({"work": work}, {"q": rediq.QueueConfig()})
    job = q.enqueue("work", {"x": 1}, timeout=30)
    wait_until(lambda: q.get(job.id).progress == {"done": 50}, 5, "progress stored")
    assert seen == {"id": job.id, "queue": "q", "runs": "work", "attempt": 1, "timeout": 30.0,
                    "data": {"x": 1}}
    gate["go"].set()
    job.result(timeout=5)


def test_stopping_worker_renews_leases_at_its_usual_pace_during_grace(client, workers, rec, gate, r):
    q = client.queue("q")

    def work(job):
        rec(job)
        gate.wait("go")
        return "done"

    w = workers.start({"work": work}, {"q": rediq.QueueConfig(lease=3.0)}, grace=30)
    job = q.enqueue("work")
    wait_until(lambda: len(rec) == 1, 5, "job started")
    w.stop()
    before = r.info("commandstats")
    time.sleep(1.0)  # the grace window being measured
    after = r.info("commandstats")
    calls = {k: v["calls"] - before.get(k, {"calls": 0})["calls"] for k, v in after.items()}
    scripts = calls.get("cmdstat_evalsha", 0) + calls.get("cmdstat_eval", 0)
    assert scripts <= 6, f"{scripts} script calls in 1 s of grace (lease 3 s: a heartbeat each second)"
    gate["go"].set()
    workers.thread_of(w).join(5)
    assert q.get(job.id).state == "completed"
