"""Retention: finished jobs are kept by count and age, and Redis stays bounded."""

from __future__ import annotations

import pytest

import rediq
from helpers import wait_until


def _server_ms(r):
    sec, usec = r.time()
    return sec * 1000 + usec // 1000


def _one_by_one(q, r, n, data=lambda i: i):
    """Run n jobs one after another, each finishing in a later server millisecond."""
    jobs = []
    for i in range(n):
        job = q.enqueue("work", data(i))
        wait_until(lambda: _state(q, job.id) in ("completed", "failed", "gone"), 5, f"job {i} finished")
        sec, usec = r.time()
        now_ms = sec * 1000 + usec // 1000
        wait_until(lambda: _server_ms(r) > now_ms, 1, "the server clock moved on")
        jobs.append(job)
    return jobs


def _state(q, job_id):
    try:
        return q.get(job_id).state
    except rediq.JobNotFound:
        return "gone"


def _exists(q, job_id):
    return _state(q, job_id) != "gone"


def test_completed_jobs_are_kept_up_to_keep_completed_count(client, workers, r):
    q = client.queue("q")
    workers.start({"work": lambda job: job.data}, {"q": rediq.QueueConfig(keep_completed_count=5)})
    jobs = _one_by_one(q, r, 12)
    assert q.counts()["completed"] == 5
    assert [_exists(q, j.id) for j in jobs] == [False] * 7 + [True] * 5, "the newest five are kept"
    assert jobs[-1].result(timeout=1) == 11
    with pytest.raises(rediq.JobNotFound):
        jobs[0].result(timeout=1)


def test_completed_jobs_older_than_keep_completed_go_at_the_next_completion(client, workers, r):
    q = client.queue("q")
    workers.start({"work": lambda job: job.data}, {"q": rediq.QueueConfig(keep_completed=0.5)})
    old = q.enqueue_many([("work", i) for i in range(3)])
    assert [j.result(timeout=5) for j in old] == [0, 1, 2]
    last_done = max(q.get(j.id).finished_at for j in old)
    newer = q.enqueue("work", "newer")
    assert newer.result(timeout=5) == "newer"
    assert all(_exists(q, j.id) for j in old), "younger than keep_completed: still readable"

    wait_until(lambda: _server_ms(r) > last_done * 1000 + 500, 5, "the old jobs age past 0.5 s")
    assert q.enqueue("work", "trigger").result(timeout=5) == "trigger"
    assert not any(_exists(q, j.id) for j in old)
    assert q.counts()["completed"] in (1, 2)  # 'trigger', and 'newer' unless it too is old


def test_completed_job_is_gone_after_keep_completed_even_when_the_queue_goes_idle(client, workers, r):
    q = client.queue("q")
    workers.start({"work": lambda job: job.data}, {"q": rediq.QueueConfig(keep_completed=0.3)})
    job = q.enqueue("work", 1)
    assert job.result(timeout=5) == 1
    wait_until(lambda: not _exists(q, job.id), 1.5, "the completed job expired")


def test_keep_completed_zero_deletes_at_once_and_keeps_failed(client, workers, rec, r):
    q = client.queue("q")

    def work(job):
        rec(job)
        if job.data == "bad":
            raise RuntimeError("bad input")
        return "ok"

    workers.start({"work": work}, {"q": rediq.QueueConfig(keep_completed=0)})
    ok = q.enqueue("work", "good")
    bad = q.enqueue("work", "bad")
    with pytest.raises(rediq.JobFailed, match="bad input"):
        bad.result(timeout=5)
    wait_until(lambda: rec.of(ok.id) and not _exists(q, ok.id), 5, "completed job deleted")
    assert not r.exists(q.keys.job(ok.id)) and r.zcard(q.keys.completed) == 0
    assert q.counts()["completed"] == 0 and q.counts()["failed"] == 1
    assert q.get(bad.id).error.startswith("RuntimeError: bad input")


def test_keep_completed_count_zero_also_deletes_at_once(client, workers, rec):
    q = client.queue("q")
    workers.start({"work": lambda job: rec(job) and None},
                  {"q": rediq.QueueConfig(keep_completed_count=0)})
    job = q.enqueue("work")
    wait_until(lambda: rec.of(job.id) and not _exists(q, job.id), 5, "completed job deleted")
    assert q.counts()["completed"] == 0


def test_failed_jobs_are_kept_up_to_keep_failed_count(client, workers, r):
    q = client.queue("q")

    def work(job):
        raise ValueError(f"job {job.data}")

    workers.start({"work": work}, {"q": rediq.QueueConfig(keep_failed_count=2)})
    jobs = _one_by_one(q, r, 6)
    assert q.counts()["failed"] == 2
    assert [_exists(q, j.id) for j in jobs] == [False] * 4 + [True] * 2
    assert q.get(jobs[-1].id).error.startswith("ValueError: job 5")


def test_key_count_stays_bounded_under_steady_load(client, workers, r):
    q = client.queue("q")
    keep = 100
    workers.start({"work": lambda job: job.data}, {"q": rediq.QueueConfig(concurrency=8, keep_completed_count=keep)})
    base = r.dbsize()
    sizes = []
    for batch in range(30):
        jobs = q.enqueue_many([("work", i) for i in range(100)])
        sizes.append(r.dbsize())
        jobs[-1].result(timeout=10)
        wait_until(lambda: q.counts()["completed"] >= min(keep, 100 * (batch + 1))
                   and q.counts()["waiting"] + q.counts()["active"] == 0, 10, "batch drained")
        sizes.append(r.dbsize())
    # queue keys (meta, completed, limit, ...) + kept jobs + at most one batch in flight
    assert max(sizes) <= base + 10 + keep + 100, sizes
    assert sizes[-1] <= base + 10 + keep, sizes
    assert q.counts()["completed"] == keep
