"""The same queue scenarios through the sync ``Client`` and the ``AsyncClient``.

Every test takes ``api`` (see ``aio_helpers.Api``), once per client kind; the async
client is driven through an adapter that insists every I/O method returns an awaitable.
Where a scenario needs a consumer, a fake worker claims and fails jobs with the raw
scripts (``aio_helpers.claim``/``fail``) through the sync client, so what is under test
is only the client that enqueued and reads.
"""

from __future__ import annotations

import inspect
import time

import pytest
import rediq
import redis
import redis.asyncio as aredis
from aio_helpers import Api, claim, fail, serving
from helpers import wait_until

ZERO = {"waiting": 0, "delayed": 0, "active": 0, "completed": 0, "failed": 0, "paused": 0,
        "stalled": 0}


def test_async_twins_have_the_same_public_methods_and_do_io_by_coroutine():
    pairs = [(rediq.Client, rediq.AsyncClient), (rediq.Queue, rediq.AsyncQueue),
             (rediq.Job, rediq.AsyncJob)]
    for sync_cls, async_cls in pairs:
        public = {n for n in dir(sync_cls) if not n.startswith("_")} - {"close"}
        apublic = {n for n in dir(async_cls) if not n.startswith("_")} - {"aclose"}
        assert public == apublic, f"{sync_cls.__name__} vs {async_cls.__name__}"
        for name in apublic:
            fn = getattr(async_cls, name)
            if callable(fn) and not isinstance(inspect.getattr_static(async_cls, name), classmethod) \
                    and name not in ("queue", "job"):
                assert inspect.iscoroutinefunction(fn), f"{async_cls.__name__}.{name} is not async"


def test_enqueue_then_get_and_counts_show_the_waiting_job(api: Api):
    q = api.queue("emails")
    job = q.enqueue("send", {"to": ["a@b.c"], "n": 1}, attempts=3, timeout=2.5)
    assert (job.queue, job.existed, len(job.id)) == ("emails", False, 32)
    info = q.get(job.id)
    assert (info.state, info.runs, info.data, info.attempts, info.attempts_made, info.priority) == \
        ("waiting", "send", {"to": ["a@b.c"], "n": 1}, 3, 0, 0)
    assert info.created_at and abs(info.created_at - time.time()) < 60
    assert job.info().id == job.id
    assert q.counts() == ZERO | {"waiting": 1}
    assert api.queue("other").counts() == ZERO
    with pytest.raises(rediq.JobNotFound, match="no job nope in queue 'emails'"):
        q.get("nope")


def test_enqueue_with_a_known_job_id_returns_the_stored_job_unchanged(api: Api):
    q = api.queue("q")
    first = q.enqueue("h", {"v": 1}, job_id="order-7")
    again = q.enqueue("h", {"v": 2}, job_id="order-7", priority=5, delay=60)
    assert (first.id, first.existed) == ("order-7", False)
    assert (again.id, again.existed) == ("order-7", True)
    info = q.get("order-7")
    assert (info.state, info.data, info.priority) == ("waiting", {"v": 1}, 0)
    assert q.counts() == ZERO | {"waiting": 1}
    many = q.enqueue_many([("h", 3, {"job_id": "order-7"}), ("h", 4, {"job_id": "order-8"})])
    assert [(j.id, j.existed) for j in many] == [("order-7", True), ("order-8", False)]
    assert q.get("order-7").data == {"v": 1}


def test_enqueue_many_stores_every_job_across_chunks_with_per_item_options(api: Api, client):
    q = api.queue("bulk")
    items = [("h", i) for i in range(2500)]
    items[1234] = ("h", 1234, {"priority": 9})
    jobs = q.enqueue_many(items, attempts=2)
    assert len({j.id for j in jobs}) == 2500 and not any(j.existed for j in jobs)
    assert q.counts() == ZERO | {"waiting": 2500}
    assert (q.get(jobs[1234].id).priority, q.get(jobs[1234].id).attempts) == (9, 2)
    assert (q.get(jobs[2499].id).data, q.get(jobs[2499].id).attempts) == (2499, 2)
    assert claim(client, "bulk").jobs[0].id == jobs[1234].id   # the priority was stored


def test_enqueue_many_with_one_bad_item_stores_nothing(api: Api):
    q = api.queue("bulk")
    items: list = [("h", i) for i in range(1500)] + [("h", {"x": {1, 2}})] + [("h", 1)]
    with pytest.raises(rediq.EncodeError, match=r"cannot encode set at data\['x'\]"):
        q.enqueue_many(items)
    with pytest.raises(TypeError, match="items must be"):
        q.enqueue_many([("h", 1), "h"])
    with pytest.raises(TypeError, match="priority must be an int"):
        q.enqueue_many([("h", 1), ("h", 2, {"priority": "high"})])
    assert q.counts() == ZERO


def test_higher_priority_is_claimed_first_and_equal_priorities_in_fifo_order(api: Api, client):
    q = api.queue("prio")
    order = [("a", 0), ("b", 0), ("c", 5), ("d", -1), ("e", 5), ("f", 1), ("g", 0)]
    ids = {q.enqueue("h", name, priority=p).id: name for name, p in order}
    got = [ids[claim(client, "prio").jobs[0].id] for _ in order]
    assert got == ["c", "e", "f", "a", "b", "g", "d"]
    assert not claim(client, "prio").jobs


def test_delayed_job_is_claimable_only_after_its_delay(api: Api, client):
    q = api.queue("later")
    job = q.enqueue("h", None, delay=0.4)
    info = q.get(job.id)
    assert info.state == "delayed"
    assert info.run_at - info.created_at == pytest.approx(0.4, abs=0.002)
    assert q.counts() == ZERO | {"delayed": 1}
    early = claim(client, "later")
    assert early.jobs == [] and 0 < early.next_ms <= 400
    got = wait_until(lambda: claim(client, "later").jobs, 5, "the delayed job to be claimable")
    started = q.get(job.id)
    assert got[0].id == job.id and started.state == "active"
    assert started.started_at >= info.run_at


def test_paused_queue_is_not_claimed_until_resumed(api: Api, client):
    q = api.queue("p")
    job = q.enqueue("h", 1)
    q.pause()
    assert q.counts() == ZERO | {"waiting": 1, "paused": 1}
    assert claim(client, "p").jobs == []
    q.enqueue("h", 2)   # enqueue still works while paused
    q.resume()
    assert q.counts() == ZERO | {"waiting": 2}
    assert [j.id for j in claim(client, "p", 1).jobs] == [job.id]


def test_retry_failed_moves_failed_jobs_back_to_waiting(api: Api, client):
    q = api.queue("r")
    jobs = q.enqueue_many([("h", i) for i in range(1205)])
    claimed = claim(client, "r", 1000).jobs + claim(client, "r", 205).jobs   # 1000 a call at most
    assert [j.id for j in claimed] == [j.id for j in jobs]
    for j in claimed[:1204]:
        assert fail(client, "r", j.id).state == "failed"
    assert q.counts() == ZERO | {"failed": 1204, "active": 1}
    assert q.retry_failed([jobs[0].id, jobs[1204].id, "missing"]) == 1   # active, missing: not moved
    info = q.get(jobs[0].id)
    assert (info.state, info.error) == ("waiting", "RuntimeError: planned")
    assert q.retry_failed() == 1203   # more than one script call's worth
    assert q.retry_failed() == 0
    assert q.counts() == ZERO | {"waiting": 1204, "active": 1}


def test_remove_refuses_an_active_job_unless_forced(api: Api, client):
    q = api.queue("rm")
    running, waiting = q.enqueue("h", 1), q.enqueue("h", 2)
    assert claim(client, "rm").jobs[0].id == running.id
    with pytest.raises(ValueError, match=f"job {running.id} is active"):
        q.remove(running.id)
    assert q.get(running.id).state == "active"
    assert q.remove(running.id, force=True) is True
    assert q.remove(waiting.id) is True
    assert q.remove(waiting.id) is False
    assert q.remove("never-was") is False
    with pytest.raises(rediq.JobNotFound):
        q.get(running.id)
    assert q.counts() == ZERO


def test_obliterate_deletes_every_key_and_refuses_active_jobs_unless_forced(api: Api, client, r):
    q = api.queue("gone")
    q.enqueue_many([("h", i) for i in range(2100)])
    api.queue("kept").enqueue("h", 1)
    claim(client, "gone", 1)
    with pytest.raises(ValueError, match="queue 'gone' has 1 active jobs"):
        q.obliterate()
    assert q.counts()["waiting"] == 2099
    q.obliterate(force=True)
    assert r.keys("{rediq:gone}*") == []
    assert q.counts() == ZERO
    assert api.queue("kept").counts()["waiting"] == 1


def test_result_returns_the_handler_value_or_raises_job_failed(api: Api, server):
    def double(job: rediq.JobContext) -> list:
        return [job.data, job.data * 2]

    def boom(job: rediq.JobContext) -> None:
        raise ValueError(f"bad {job.data}")

    q = api.queue("work")
    with serving(server.url, {"double": double, "boom": boom}, {"work": rediq.QueueConfig(concurrency=2)}):
        ok, bad = q.enqueue("double", 21), q.enqueue("boom", 7, attempts=2)
        assert ok.result(timeout=10) == [21, 42]
        with pytest.raises(rediq.JobFailed, match="ValueError: bad 7") as err:
            bad.result(timeout=10)
    assert err.value.job_id == bad.id and err.value.error.startswith("ValueError: bad 7")
    assert (q.get(bad.id).failures, q.get(bad.id).attempts_made) == (2, 2)
    with pytest.raises(rediq.JobNotFound):
        q.job("nope").result(timeout=1)


def test_result_raises_job_timeout_when_no_worker_finishes_it_in_time(api: Api):
    job = api.queue("idle").enqueue("h", 1)
    t0 = time.monotonic()
    with pytest.raises(rediq.JobTimeout, match=f"job {job.id} did not finish within 0.3 s"):
        job.result(timeout=0.3)
    assert 0.3 <= time.monotonic() - t0 < 2


def test_unencodable_payload_raises_encode_error_naming_type_and_path(api: Api):
    q = api.queue("q")
    with pytest.raises(rediq.EncodeError) as err:
        q.enqueue("h", {"user": {"tags": ["a", object()]}}, job_id="j1")
    msg = str(err.value)
    assert "payload of job j1 (h) cannot be encoded" in msg
    assert "object at data['user']['tags'][1]" in msg
    with pytest.raises(rediq.EncodeError, match="is 1048586 bytes encoded; the limit is 1048576"):
        q.enqueue("h", b"x" * ((1 << 20) + 5))   # 5 bytes of header
    assert q.counts() == ZERO


@pytest.mark.parametrize("name", ["", "has space", "a{b}", "x" * 201, 7, None])
def test_invalid_queue_name_is_refused_before_any_round_trip(api: Api, name):
    with pytest.raises(rediq.InvalidQueueName):
        api.queue(name)


@pytest.mark.parametrize("options, error, text", [
    ({"priority": "high"}, TypeError, "priority must be an int, not str"),
    ({"priority": 2**21}, ValueError, "priority must be from"),
    ({"attempts": 0}, ValueError, "attempts must be at least 1"),
    ({"attempts": 1.5}, TypeError, "attempts must be an int"),
    ({"delay": "soon"}, TypeError, "delay must be a number of seconds"),
    ({"delay": -1}, ValueError, "delay must be a non-negative"),
    ({"timeout": 0}, ValueError, "timeout must be a positive"),
    ({"backoff": "fast"}, TypeError, "backoff must be a rediq.Backoff"),
    ({"job_id": 5}, TypeError, "job_id must be a str"),
    ({"job_id": ""}, ValueError, "job_id must be 1 to 256 characters"),
    ({"prioritty": 1}, TypeError, "unexpected keyword argument 'prioritty'"),
])
def test_wrong_enqueue_option_raises_naming_the_option_and_stores_nothing(api: Api, options, error, text):
    q = api.queue("q")
    with pytest.raises(error, match=text):
        q.enqueue("h", 1, **options)
    with pytest.raises(error, match=text):
        q.enqueue_many([("h", 1)], **options)
    assert q.counts() == ZERO


def test_handler_name_must_be_a_nonempty_str(api: Api):
    q = api.queue("q")
    with pytest.raises(TypeError, match=r"handler name \(runs\) must be a str"):
        q.enqueue(len, 1)
    with pytest.raises(ValueError, match=r"handler name \(runs\) must be 1 to 200"):
        q.enqueue("", 1)


def test_redis_client_that_decodes_replies_is_refused(api: Api):
    with pytest.raises(ValueError, match="decode_responses=False"):
        api.wrap_redis(decode_responses=True)


def test_unreachable_server_raises_redis_unavailable(api: Api):
    from rediq._server import free_port

    dead = api.from_url(f"redis://127.0.0.1:{free_port()}/0", retry=api.no_retry(),
                        socket_connect_timeout=1)
    with pytest.raises(rediq.RedisUnavailable, match="Redis unreachable"):
        dead.queue("q").counts()


def test_script_flush_is_survived_by_reloading_the_script(api: Api, r):
    q = api.queue("q")
    q.enqueue("h", 1)
    r.script_flush()
    assert q.enqueue("h", 2).existed is False
    r.script_flush()
    assert q.counts() == ZERO | {"waiting": 2}


class _FlushAfterLoad(redis.Redis):
    """A server whose script cache is flushed right after every SCRIPT LOAD (a failover
    or a SCRIPT FLUSH racing the reload)."""

    def script_load(self, script):  # type: ignore[no-untyped-def,override]
        sha = super().script_load(script)
        self.script_flush()
        return sha


class _AsyncFlushAfterLoad(aredis.Redis):
    async def script_load(self, script):  # type: ignore[no-untyped-def,override]
        sha = await super().script_load(script)
        await self.script_flush()
        return sha


def test_script_flush_between_reload_and_retry_does_not_fail_the_call(api: Api, r):
    c = api.wrap_redis(_FlushAfterLoad, _AsyncFlushAfterLoad)
    try:
        r.script_flush()
        assert c.queue("q").enqueue("h", 1).existed is False
        assert c.queue("q").counts()["waiting"] == 1
    finally:
        c.close() if api.kind == "sync" else c.aclose()


def test_queue_of_another_protocol_version_raises_protocol_mismatch(api: Api, r):
    r.hset("{rediq:old}:meta", "version", "0")
    with pytest.raises(rediq.ProtocolMismatch, match="speaks 0"):
        api.queue("old").enqueue("h", 1)
    assert r.llen("{rediq:old}:wait") == 0
