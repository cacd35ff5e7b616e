"""Idempotent enqueue, pause/resume, remove, obliterate and counts with a live worker."""

from __future__ import annotations

import pytest

import rediq
from helpers import wait_until


def test_enqueue_with_known_id_returns_existing_job_and_changes_nothing(client, r):
    q = client.queue("q")
    first = q.enqueue("work", {"v": 1}, job_id="order-1", priority=3, attempts=2)
    assert first.existed is False and first.id == "order-1"
    before = r.hgetall(q.keys.job("order-1"))

    again = q.enqueue("work2", {"v": 2}, job_id="order-1", priority=9, attempts=5, delay=30)
    assert again.existed is True and again.id == "order-1"
    many = q.enqueue_many([("work", {"v": 3}, {"job_id": "order-1"}), ("work", {"v": 4}, {"job_id": "order-2"})])
    assert [j.existed for j in many] == [True, False]

    assert r.hgetall(q.keys.job("order-1")) == before
    info = q.get("order-1")
    assert (info.runs, info.data, info.priority, info.attempts) == ("work", {"v": 1}, 3, 2)
    assert q.counts()["waiting"] == 2 and q.counts()["delayed"] == 0


def test_enqueue_of_finished_job_id_does_not_run_it_again(client, workers, rec):
    q = client.queue("q")
    workers.start({"work": lambda job: rec(job)}, {"q": rediq.QueueConfig()})
    q.enqueue("work", "x", job_id="once").result(timeout=5)
    assert q.enqueue("work", "x", job_id="once").existed
    q.enqueue("work", "barrier").result(timeout=5)
    assert len(rec.of("once")) == 1


def test_paused_queue_claims_nothing_until_resumed_while_running_job_finishes(client, workers, rec, gate):
    q, other = client.queue("q"), client.queue("other")

    def work(job):
        rec(job)
        if job.data == "long":
            gate.wait("finish")
        return job.data

    workers.start({"work": work}, {"q": rediq.QueueConfig(concurrency=2), "other": rediq.QueueConfig()})
    long = q.enqueue("work", "long")
    wait_until(lambda: rec.of(long.id), 5, "long job started")
    q.pause()
    assert q.counts()["paused"] == 1
    held = q.enqueue("work", "held")
    gate["finish"].set()
    assert long.result(timeout=5) == "long"  # pause does not interrupt a running job
    # the worker is live and has seen the wake-up of `held`; it still does not claim it
    other.enqueue("work", "barrier").result(timeout=5)
    q.enqueue("work", "held-2")
    other.enqueue("work", "barrier-2").result(timeout=5)
    assert q.get(held.id).state == "waiting"
    assert q.counts()["waiting"] == 2 and q.counts()["active"] == 0

    q.resume()
    assert q.counts()["paused"] == 0
    assert held.result(timeout=5) == "held"
    wait_until(lambda: q.counts()["completed"] == 3, 5, "every job of q completed")


def test_remove_deletes_waiting_job_so_it_never_runs(client, workers, rec, r):
    q = client.queue("q")
    gone = q.enqueue("work", "gone", priority=5)
    kept = q.enqueue("work", "kept")
    assert q.remove(gone.id) is True
    assert q.remove(gone.id) is False
    assert q.remove("never-was") is False
    with pytest.raises(rediq.JobNotFound):
        q.get(gone.id)
    assert not r.exists(q.keys.job(gone.id)) and not r.zscore(q.keys.prio, gone.id)

    workers.start({"work": lambda job: rec(job)}, {"q": rediq.QueueConfig()})
    kept.result(timeout=5)
    assert rec.of(gone.id) == []
    with pytest.raises(rediq.JobNotFound):
        gone.result(timeout=1)


def test_remove_of_active_job_needs_force_and_worker_survives_it(client, workers, rec, gate):
    q = client.queue("q")

    def work(job):
        rec(job)
        if job.data == "slow":
            gate.wait("go")
        return job.data

    workers.start({"work": work}, {"q": rediq.QueueConfig()})
    slow = q.enqueue("work", "slow")
    wait_until(lambda: rec.of(slow.id), 5, "slow job started")
    with pytest.raises(ValueError, match="active"):
        q.remove(slow.id)
    assert q.get(slow.id).state == "active"
    assert q.remove(slow.id, force=True) is True
    gate["go"].set()
    assert q.enqueue("work", "next").result(timeout=5) == "next"  # completion was refused, worker went on
    with pytest.raises(rediq.JobNotFound):
        q.get(slow.id)
    assert q.counts()["active"] == 0


def test_obliterate_deletes_every_key_of_the_queue_and_nothing_else(client, workers, rec, gate, r):
    q, other = client.queue("q"), client.queue("other")
    other.enqueue("work", "survivor")

    def work(job):
        rec(job)
        if job.data == "fail":
            raise RuntimeError("no")
        if job.data == "hold":
            gate.wait("go")

    workers.start({"work": work}, {"q": rediq.QueueConfig(keep_completed_count=5000)})
    done = q.enqueue_many([("work", i) for i in range(1200)] + [("work", "fail")])
    wait_until(lambda: q.counts()["completed"] + q.counts()["failed"] == len(done), 30, "all finished")
    hold = q.enqueue("work", "hold")
    wait_until(lambda: rec.of(hold.id), 5, "hold started")
    q.enqueue("work", "later", delay=60)
    q.enqueue_many([("work", "w")] * 3)
    assert len(r.keys("{rediq:q}*")) > 1200

    with pytest.raises(ValueError, match="1 active"):
        q.obliterate()
    assert q.counts()["waiting"] == 3
    q.obliterate(force=True)
    assert r.keys("{rediq:q}*") == []
    assert other.get(other.enqueue("work", "x").id).state == "waiting"
    assert other.counts()["waiting"] == 2
    gate["go"].set()


def test_counts_reflect_every_state(client, workers, rec, gate):
    q = client.queue("q")

    def work(job):
        rec(job)
        if job.data == "bad":
            raise RuntimeError("bad")
        if job.data == "block":
            gate.wait("go")

    assert q.counts() == {"waiting": 0, "delayed": 0, "active": 0, "completed": 0,
                          "failed": 0, "paused": 0, "stalled": 0}
    workers.start({"work": work}, {"q": rediq.QueueConfig(concurrency=1)})
    q.enqueue_many([("work", "ok"), ("work", "ok"), ("work", "bad")])
    wait_until(lambda: q.counts()["completed"] == 2 and q.counts()["failed"] == 1, 5, "3 finished")
    block = q.enqueue("work", "block")
    wait_until(lambda: rec.of(block.id), 5, "block started")
    q.enqueue_many([("work", "ok"), ("work", "ok", {"priority": 2})])
    q.enqueue("work", "ok", delay=60)
    q.pause()
    assert q.counts() == {"waiting": 2, "delayed": 1, "active": 1, "completed": 2,
                          "failed": 1, "paused": 1, "stalled": 0}
    q.resume()
    gate["go"].set()
    wait_until(lambda: q.counts()["completed"] == 5, 5, "the rest completed")
    assert q.counts() == {"waiting": 0, "delayed": 1, "active": 0, "completed": 5,
                          "failed": 1, "paused": 0, "stalled": 0}


def test_worker_with_other_queue_settings_updates_them_for_every_worker_and_logs_it(client, workers, caplog):
    q = client.queue("q")
    workers.start({"work": lambda job: None}, {"q": rediq.QueueConfig(rate_limit=rediq.RateLimit(5, 1.0))})
    wait_until(lambda: client.redis.hget(q.keys.meta, "rate_max") == b"5", 5, "first worker's settings")
    caplog.clear()
    with caplog.at_level("INFO", logger="rediq.worker"):
        workers.start({"work": lambda job: None},
                      {"q": rediq.QueueConfig(rate_limit=rediq.RateLimit(20, 2.0), global_concurrency=4)})
        wait_until(lambda: client.redis.hget(q.keys.meta, "rate_max") == b"20", 5, "settings updated")
    meta = client.redis.hgetall(q.keys.meta)
    assert (meta[b"rate_period_ms"], meta[b"global_concurrency"]) == (b"2000", b"4")
    assert any("settings updated by this worker" in m and "rate_max 5 -> 20" in m
               and "global_concurrency unset -> 4" in m for m in caplog.messages), caplog.messages
