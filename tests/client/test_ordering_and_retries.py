"""Priorities, delays and retries as a running worker sees them (server clock)."""

from __future__ import annotations

import pytest

import rediq
from helpers import wait_until


def test_higher_priority_runs_first_and_equal_priorities_run_fifo(client, workers, rec):
    q = client.queue("q")
    plan = [0, 5, 0, -3, 5, 10, 0, -3, 5, 1]
    jobs = [q.enqueue("work", {"i": i}, priority=p) for i, p in enumerate(plan)]
    workers.start({"work": lambda job: rec(job)}, {"q": rediq.QueueConfig(concurrency=1)})

    wait_until(lambda: len(rec) == len(plan), 10, "every job ran")
    ran = [x["data"]["i"] for x in rec.runs]
    assert ran == sorted(range(len(plan)), key=lambda i: (-plan[i], i))
    assert all(j.result(timeout=5)["data"]["i"] == i for i, j in enumerate(jobs))


def test_priority_job_enqueued_later_overtakes_waiting_jobs(client, workers, rec, gate):
    q = client.queue("q")

    def work(job):
        rec(job)
        if job.data == "first":
            gate.wait("go")

    workers.start({"work": work}, {"q": rediq.QueueConfig(concurrency=1)})
    q.enqueue("work", "first")
    wait_until(lambda: len(rec) == 1, 5, "first job started")
    q.enqueue_many([("work", "low-a"), ("work", "low-b")])
    q.enqueue("work", "urgent", priority=100)
    gate["go"].set()
    wait_until(lambda: len(rec) == 4, 5, "all jobs ran")
    assert [x["data"] for x in rec.runs] == ["first", "urgent", "low-a", "low-b"]


def test_delayed_job_does_not_start_before_due_on_server_clock(client, workers, rec):
    q = client.queue("q")
    workers.start({"work": lambda job: rec(job)}, {"q": rediq.QueueConfig(concurrency=2)})
    late = q.enqueue("work", "late", delay=0.6)
    assert q.get(late.id).state == "delayed"
    now = q.enqueue("work", "now")
    assert now.result(timeout=5)["data"] == "now"
    assert q.get(late.id).state == "delayed"  # the worker is live, the delayed job is not due

    late.result(timeout=5)
    info = q.get(late.id)
    waited_ms = round(info.started_at * 1000) - round(info.created_at * 1000)
    assert 600 <= waited_ms < 600 + 500, f"started {waited_ms} ms after enqueue; due after 600"
    assert round(info.run_at * 1000) == round(info.created_at * 1000) + 600


def _failing(rec):
    def work(job):
        rec(job)
        raise RuntimeError(f"boom on attempt {job.attempt}")
    return work


def _gaps(runs):
    t = [x["t_ms"] / 1000 for x in runs]
    return [b - a for a, b in zip(t, t[1:])]


def test_fixed_backoff_spaces_retries_by_its_delay(client, workers, rec):
    q = client.queue("q")
    workers.start({"work": _failing(rec)}, {"q": rediq.QueueConfig(concurrency=2)})
    job = q.enqueue("work", attempts=3, backoff=rediq.Backoff.fixed(0.25))
    with pytest.raises(rediq.JobFailed):
        job.result(timeout=10)

    runs = rec.of(job.id)
    assert [x["attempt"] for x in runs] == [1, 2, 3]
    for gap in _gaps(runs):
        assert 0.25 <= gap < 0.25 + 0.5
    info = q.get(job.id)
    assert (info.state, info.attempts_made, info.failures, info.stalls) == ("failed", 3, 3, 0)
    assert "RuntimeError: boom on attempt 3" in info.error


def test_exponential_backoff_doubles_up_to_its_cap(client, workers, rec):
    q = client.queue("q")
    workers.start({"work": _failing(rec)}, {"q": rediq.QueueConfig()})
    job = q.enqueue("work", attempts=4, backoff=rediq.Backoff.exponential(0.2, cap=0.4))
    with pytest.raises(rediq.JobFailed, match="boom on attempt 4"):
        job.result(timeout=10)

    gaps = _gaps(rec.of(job.id))
    assert len(gaps) == 3
    for gap, due in zip(gaps, [0.2, 0.4, 0.4]):
        assert due <= gap < 0.8, f"retry gaps {gaps}: expected 0.2, 0.4, 0.4 (capped)"


def test_retry_without_backoff_is_immediate_and_success_ends_retries(client, workers, rec):
    q = client.queue("q")

    def work(job):
        rec(job)
        if job.attempt < 3:
            raise ValueError("not yet")
        return "third time"

    workers.start({"work": work}, {"q": rediq.QueueConfig()})
    job = q.enqueue("work", attempts=5)
    assert job.result(timeout=5) == "third time"
    info = q.get(job.id)
    assert (info.state, info.attempts_made, info.failures) == ("completed", 3, 2)
    assert [x["attempt"] for x in rec.of(job.id)] == [1, 2, 3]


def test_failed_job_keeps_error_text_and_retry_failed_runs_it_again(client, workers, rec, gate):
    q = client.queue("q")

    def work(job):
        rec(job)
        if not gate["fixed"].is_set():
            raise KeyError("customer 42 missing")
        return "ok now"

    workers.start({"work": work}, {"q": rediq.QueueConfig()})
    bad = q.enqueue("work", attempts=2)
    with pytest.raises(rediq.JobFailed) as err:
        bad.result(timeout=5)
    assert err.value.job_id == bad.id
    assert "KeyError: 'customer 42 missing'" in err.value.error
    assert "Traceback" in err.value.error and "in work" in err.value.error
    info = q.get(bad.id)
    assert (info.state, info.failures, info.attempts_made) == ("failed", 2, 2)
    assert info.finished_at is not None
    assert q.counts()["failed"] == 1

    gate["fixed"].set()
    assert q.retry_failed() == 1
    assert bad.result(timeout=5) == "ok now"
    info = q.get(bad.id)
    assert (info.state, info.failures, info.attempts_made) == ("completed", 0, 3)
    assert q.counts()["failed"] == 0
    assert q.retry_failed() == 0


def test_retry_failed_with_ids_moves_only_those(client, workers, rec, gate):
    q = client.queue("q")

    def work(job):
        rec(job)
        if not gate["fixed"].is_set():
            raise RuntimeError("down")
        return job.data

    workers.start({"work": work}, {"q": rediq.QueueConfig()})
    jobs = q.enqueue_many([("work", i) for i in range(3)])
    wait_until(lambda: q.counts()["failed"] == 3, 5, "three failed jobs")
    gate["fixed"].set()
    assert q.retry_failed([jobs[1].id]) == 1
    assert jobs[1].result(timeout=5) == 1
    assert [q.get(j.id).state for j in jobs] == ["failed", "completed", "failed"]
