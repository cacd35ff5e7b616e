"""Bad input gets a clear error at the edge, and nothing already stored is lost."""

from __future__ import annotations

import pytest

import rediq
from helpers import wait_until


def _queue_keys(r, name="q"):
    return sorted(r.keys("{rediq:%s}*" % name))


def test_unencodable_payload_names_type_and_path_and_stores_nothing(client, r):
    q = client.queue("q")
    with pytest.raises(rediq.EncodeError) as err:
        q.enqueue("work", {"user": {"tags": ["a", {1, 2}]}})
    assert "set" in str(err.value) and "data['user']['tags'][1]" in str(err.value)
    assert isinstance(err.value, TypeError)
    assert _queue_keys(r) == []


def test_enqueue_many_with_one_bad_item_stores_none_of_them(client, r):
    q = client.queue("q")
    q.enqueue("work", "already here")
    before = {k: r.dump(k) for k in _queue_keys(r)}
    items = [("work", i) for i in range(1500)] + [("work", object())]
    with pytest.raises(rediq.EncodeError, match="object"):
        q.enqueue_many(items)
    with pytest.raises(TypeError, match="priority must be an int"):
        q.enqueue_many([("work", 1), ("work", 2, {"priority": "high"})])
    assert {k: r.dump(k) for k in _queue_keys(r)} == before
    assert q.counts()["waiting"] == 1


def test_oversized_payload_is_refused_with_size_and_limit(server, r):
    small = rediq.Client(rediq.Client.from_url(server.url).redis, max_payload=1000)
    q = small.queue("q")
    with pytest.raises(rediq.EncodeError, match=r"is 1003 bytes encoded; the limit is 1000"):
        q.enqueue("work", b"x" * 1000)
    q.enqueue("work", b"x" * 990)
    default = rediq.Client.from_url(server.url).queue("q")
    with pytest.raises(rediq.EncodeError, match="the limit is 1048576"):
        default.enqueue("work", "y" * (1 << 20))
    assert default.counts()["waiting"] == 1


@pytest.mark.parametrize("kwargs, error, text", [
    ({"foo": 1}, TypeError, "unexpected keyword argument 'foo'"),
    ({"concurrency": "4"}, TypeError, "QueueConfig.concurrency must be an int, not str"),
    ({"concurrency": 0}, ValueError, "QueueConfig.concurrency must be from 1"),
    ({"concurrency": True}, TypeError, "must be an int, not bool"),
    ({"lease": "30"}, TypeError, "QueueConfig.lease must be a number of seconds, not str"),
    ({"lease": 0.01}, ValueError, "at least 0.1 seconds"),
    ({"lease": float("nan")}, ValueError, "finite"),
    ({"rate_limit": 5}, TypeError, "rate_limit must be a RateLimit or None, not int"),
    ({"global_concurrency": -1}, ValueError, "global_concurrency must be >= 0"),
    ({"keep_completed": -1}, ValueError, "keep_completed must be a non-negative"),
    ({"max_stalls": 1.5}, TypeError, "max_stalls must be an int"),
])
def test_queue_config_refuses_unknown_or_mistyped_options(kwargs, error, text):
    with pytest.raises(error, match=text):
        rediq.QueueConfig(**kwargs)


@pytest.mark.parametrize("make, error, text", [
    (lambda: rediq.RateLimit(0), ValueError, "RateLimit.max must be >= 1"),
    (lambda: rediq.RateLimit(5, 0), ValueError, "RateLimit.period must be a positive"),
    (lambda: rediq.Backoff("linear"), ValueError, "'fixed' or 'exponential'"),
    (lambda: rediq.Backoff.fixed(-1), ValueError, "Backoff.base must be a non-negative"),
    (lambda: rediq.Backoff.exponential(1, jitter=2), ValueError, "jitter must be a number from 0 to 1"),
])
def test_option_objects_refuse_bad_values(make, error, text):
    with pytest.raises(error, match=text):
        make()


@pytest.mark.parametrize("kwargs, error, text", [
    ({"priority": "high"}, TypeError, "priority must be an int, not str"),
    ({"priority": 2**40}, ValueError, "priority must be from"),
    ({"attempts": 0}, ValueError, "attempts must be at least 1"),
    ({"attempts": 2.0}, TypeError, "attempts must be an int"),
    ({"delay": -1}, ValueError, "delay must be a non-negative"),
    ({"delay": "soon"}, TypeError, "delay must be a number of seconds, not str"),
    ({"timeout": 0}, ValueError, "timeout must be a positive"),
    ({"backoff": "exp"}, TypeError, "backoff must be a rediq.Backoff"),
    ({"job_id": ""}, ValueError, "job_id must be 1 to 256 characters"),
    ({"job_id": 7}, TypeError, "job_id must be a str"),
    ({"job_id": "x" * 257}, ValueError, "job_id must be 1 to 256"),
])
def test_enqueue_refuses_mistyped_options_and_stores_nothing(client, r, kwargs, error, text):
    with pytest.raises(error, match=text):
        client.queue("q").enqueue("work", {"ok": 1}, **kwargs)
    assert _queue_keys(r) == []


@pytest.mark.parametrize("runs", ["", None, 5, "x" * 201])
def test_enqueue_refuses_a_bad_handler_name(client, r, runs):
    with pytest.raises((TypeError, ValueError), match="handler name"):
        client.queue("q").enqueue(runs, 1)
    assert _queue_keys(r) == []


@pytest.mark.parametrize("name", ["", "a b", "{q}", "q:x", "é", "x" * 201, None, b"q"])
def test_invalid_queue_name_is_refused_everywhere(client, name):
    with pytest.raises(rediq.InvalidQueueName):
        client.queue(name)
    with pytest.raises(rediq.InvalidQueueName):
        rediq.Worker(client, {"work": print}, [name])


def test_invalid_key_prefix_is_refused(server):
    with pytest.raises(rediq.InvalidQueueName, match="key prefix"):
        rediq.Client.from_url(server.url, prefix="a{b}")


def test_worker_refuses_bad_construction(client):
    with pytest.raises(TypeError, match="non-empty dict"):
        rediq.Worker(client, {}, ["q"])
    with pytest.raises(TypeError, match="must be a callable"):
        rediq.Worker(client, {"work": "not callable"}, ["q"])
    with pytest.raises(TypeError, match="config must be a rediq.QueueConfig, not dict"):
        rediq.Worker(client, {"work": print}, {"q": {"concurrency": 2}})
    with pytest.raises(ValueError, match="at least one queue"):
        rediq.Worker(client, {"work": print}, [])
    with pytest.raises(TypeError, match="rediq.Client"):
        rediq.Worker(client.redis, {"work": print}, ["q"])


def test_client_refuses_a_decoding_redis_client(server):
    import redis

    with pytest.raises(ValueError, match="decode_responses=False"):
        rediq.Client(redis.Redis.from_url(server.url, decode_responses=True))


def test_unknown_handler_fails_that_job_naming_it_and_worker_goes_on(client, workers):
    q = client.queue("q")
    workers.start({"work": lambda job: job.data, "other": lambda job: None}, {"q": rediq.QueueConfig()})
    lost = q.enqueue("sned_email", {"to": "x"})
    good = q.enqueue("work", "fine")
    with pytest.raises(rediq.JobFailed) as err:
        lost.result(timeout=5)
    assert "no handler registered for 'sned_email'" in err.value.error
    assert "registered: other, work" in err.value.error
    assert good.result(timeout=5) == "fine"


def test_unencodable_result_fails_the_job_with_a_clear_error(client, workers):
    q = client.queue("q")
    workers.start({"work": lambda job: {"when": object()}}, {"q": rediq.QueueConfig()})
    with pytest.raises(rediq.JobFailed, match=r"result of handler 'work' cannot be encoded: .*object"):
        q.enqueue("work").result(timeout=5)


def test_malformed_records_from_another_client_fail_alone(client, workers, r):
    q = client.queue("q")
    q.enqueue("work", "first")  # creates the queue (meta, protocol version)
    records = {
        "garbage": {b"runs": b"work", b"data": b"\xc1\xff\x00", b"attempts": b"3"},
        "no-runs": {b"data": rediq.codec.encode("x")},
        "no-data": {b"runs": b"work", b"attempts": b"2"},
        "bad-numbers": {b"runs": b"work", b"data": rediq.codec.encode("n"), b"attempts": b"many",
                        b"timeout_ms": b"soon", b"priority": b"high"},
    }
    for job_id, fields in records.items():
        r.hset(q.keys.job(job_id), mapping={**fields, b"state": b"waiting"})
        r.rpush(q.keys.wait, job_id)
    r.rpush(q.keys.wait, "dangling")  # an id without a record
    workers.start({"work": lambda job: f"did {job.data}"}, {"q": rediq.QueueConfig(concurrency=2)})
    good = q.enqueue_many([("work", i) for i in range(20)])

    assert [j.result(timeout=5) for j in good] == [f"did {i}" for i in range(20)]
    wait_until(lambda: q.counts()["failed"] == 3 and q.counts()["waiting"] == 0, 5, "bad records failed")

    garbage = q.get("garbage")
    assert (garbage.state, garbage.attempts_made) == ("failed", 1)  # not retried: retrying cannot help
    assert "payload cannot be decoded" in garbage.error and "0xc1" in garbage.error
    with pytest.raises(rediq.DecodeError, match="job garbage in queue 'q': payload cannot be decoded"):
        garbage.data
    no_runs = q.get("no-runs")
    assert no_runs.state == "failed" and "no handler registered for ''" in no_runs.error
    no_data = q.get("no-data")
    assert no_data.state == "failed" and "payload cannot be decoded" in no_data.error
    assert q.job("bad-numbers").result(timeout=5) == "did n"
    with pytest.raises(rediq.JobNotFound):
        q.get("dangling")
    assert q.counts() | {"failed": 0} == {"waiting": 0, "delayed": 0, "active": 0, "completed": 22,
                                          "failed": 0, "paused": 0, "stalled": 0}


def _wrong_type_record(client, r):
    q = client.queue("q")
    q.enqueue("work", "before")
    r.set(q.keys.job("not-a-hash"), "another client wrote a string here")
    r.rpush(q.keys.wait, "not-a-hash")
    return q, q.enqueue_many([("work", i) for i in range(5)])


def test_job_key_of_the_wrong_type_does_not_stop_the_worker(client, workers, r):
    q, _ = _wrong_type_record(client, r)
    workers.start({"work": lambda job: job.data}, {"q": rediq.QueueConfig(concurrency=4)})
    wait_until(lambda: q.counts()["waiting"] == 0, 5, "the worker took every id off the list")
    assert q.enqueue("work", "after").result(timeout=5) == "after"


def test_job_key_of_the_wrong_type_loses_no_other_job(client, workers, r):
    q, jobs = _wrong_type_record(client, r)
    workers.start({"work": lambda job: job.data}, {"q": rediq.QueueConfig(concurrency=4)})
    assert [j.result(timeout=2) for j in jobs] == list(range(5))
