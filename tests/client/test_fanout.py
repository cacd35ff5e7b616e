"""The upload fan-out end to end: one job splits a stored upload into one job per item."""

from __future__ import annotations

import pytest

import rediq
from helpers import wait_until

RATE = rediq.RateLimit(10, 0.5)


def split_upload(job: rediq.JobContext) -> list[str]:
    raw = job.client.redis.lrange(job.data["upload_key"], 0, -1)
    if not raw:
        raise LookupError(f"upload {job.data['upload_key']!r} not found")
    items = job.client.queue("items").enqueue_many(
        ("update_user", rediq.codec.decode(x), {"attempts": 2}) for x in raw)
    return [j.id for j in items]


def update_user(job: rediq.JobContext) -> dict[str, str]:
    if job.data["name"] == "broken":
        raise ValueError(f"cannot update {job.data['name']}")
    job.client.redis.hset(f"users:{job.data['name']}", mapping=job.data["settings"])
    return {"name": job.data["name"], "status": "updated"}


def test_upload_fan_out_runs_every_item_once_within_rate_limit(client, workers, r):
    names = [f"user{i}" for i in range(24)]
    r.rpush("upload:1", *(rediq.codec.encode({"name": n, "settings": {"lang": "en"}}) for n in names))
    r.rpush("upload:1", rediq.codec.encode({"name": "broken", "settings": {}}))
    workers.start({"split_upload": split_upload, "update_user": update_user},
                  {"uploads": rediq.QueueConfig(concurrency=1),
                   "items": rediq.QueueConfig(concurrency=8, rate_limit=RATE)})

    job = client.queue("uploads").enqueue("split_upload", {"upload_key": "upload:1"})
    ids = job.result(timeout=10)

    assert len(ids) == len(names) + 1
    items = client.queue("items")
    results = {}
    for job_id in ids[:-1]:
        results[job_id] = items.job(job_id).result(timeout=15)
    assert sorted(v["name"] for v in results.values()) == sorted(names)
    assert all(v["status"] == "updated" for v in results.values())
    with pytest.raises(rediq.JobFailed, match="cannot update broken"):
        items.job(ids[-1]).result(timeout=10)
    broken = items.get(ids[-1])
    assert (broken.state, broken.attempts_made, broken.failures) == ("failed", 2, 2)
    assert all(r.hget(f"users:{n}", "lang") == b"en" for n in names)
    assert items.counts() | {"paused": 0} == {"waiting": 0, "delayed": 0, "active": 0,
                                              "completed": len(names), "failed": 1,
                                              "paused": 0, "stalled": 0}
    # the rate limit held for starts: no window of `period` saw more than `max` starts
    starts = sorted(round(items.get(i).started_at * 1000) for i in ids)
    period_ms = int(RATE.period * 1000)
    for a, b in zip(starts, starts[RATE.max:]):
        assert b - a >= period_ms, f"{RATE.max + 1} starts within {b - a} ms"


def test_fan_out_job_fails_alone_when_upload_is_missing(client, workers):
    workers.start({"split_upload": split_upload, "update_user": update_user},
                  {"uploads": rediq.QueueConfig(), "items": rediq.QueueConfig()})
    job = client.queue("uploads").enqueue("split_upload", {"upload_key": "upload:none"})
    with pytest.raises(rediq.JobFailed, match="LookupError: upload 'upload:none' not found") as err:
        job.result(timeout=10)
    assert err.value.job_id == job.id
    wait_until(lambda: client.queue("items").counts()["waiting"] == 0, 5, "no item jobs")
    assert client.queue("items").counts()["completed"] == 0
