"""enqueue-5: store new jobs (waiting, delayed or prioritised), idempotent by id."""

from __future__ import annotations

import pytest
import redis

from .conftest import Lua, key

T0 = 1_000_000


def job_args(job_id: str, runs: str = "task", data: bytes = b"\x91\x01", priority: int = 0,
             attempts: int = 1, backoff: str = "", timeout: int = 0, delay: int = 0) -> list:
    return [job_id, runs, data, priority, attempts, backoff, timeout, delay]


def test_enqueue_stores_a_waiting_record_with_only_the_fields_given(lua: Lua) -> None:
    assert lua("enqueue-5", T0, 1, *job_args("a", data=b"\x81\xa1k\x01")) == [0]
    assert lua.r.hgetall(key("job:a")) == {
        b"runs": b"task", b"data": b"\x81\xa1k\x01", b"attempts": b"1",
        b"created_ms": str(T0).encode(), b"state": b"waiting",
    }
    assert lua.lst("wait") == ["a"]
    assert lua.meta() == {"version": "1"}
    assert lua.lst("wake") == ["1"]


def test_enqueue_stores_priority_backoff_and_timeout_when_not_default(lua: Lua) -> None:
    lua("enqueue-5", T0, 1, *job_args("a", priority=5, attempts=3, backoff="fixed:100:0:0.0",
                                       timeout=2500))
    assert lua.job("a") == {"runs": "task", "data": lua.job("a")["data"], "attempts": "3",
                            "created_ms": str(T0), "priority": "5", "backoff": "fixed:100:0:0.0",
                            "timeout_ms": "2500", "state": "waiting"}
    assert lua.lst("wait") == []
    assert lua.zset("prio") == [("a", -5 * 2**32 + 1)]
    assert lua.meta()["prio_seq"] == "1"


def test_enqueue_same_id_twice_keeps_one_unchanged_job_and_answers_exists(lua: Lua) -> None:
    assert lua("enqueue-5", T0, 1, *job_args("a", data=b"first")) == [0]
    before = lua.job("a")
    lua.r.delete(key("wake"))
    assert lua("enqueue-5", T0 + 5, 1, *job_args("a", runs="other", data=b"second", priority=9,
                                                  delay=100)) == [1]
    assert lua.job("a") == before
    assert lua.lst("wait") == ["a"]
    assert lua.zset("prio") == [] and lua.zset("delayed") == []
    assert lua.lst("wake") == []  # nothing new: no wake-up


def test_enqueue_batch_reports_one_code_per_job_including_duplicates_in_the_batch(lua: Lua) -> None:
    lua.add(T0, "old")
    assert lua("enqueue-5", T0, 3, *job_args("x"), *job_args("old"), *job_args("x")) == [0, 1, 1]
    assert lua.lst("wait") == ["old", "x"]


def test_enqueue_with_delay_stores_a_delayed_job_due_at_now_plus_delay(lua: Lua) -> None:
    assert lua("enqueue-5", T0, 1, *job_args("a", delay=1500)) == [0]
    assert lua.job("a")["state"] == "delayed"
    assert lua.job("a")["run_at_ms"] == str(T0 + 1500)
    assert lua.zset("delayed") == [("a", T0 + 1500)]
    assert lua.lst("wait") == []
    assert lua.lst("wake") == ["1"]  # idle workers re-claim to learn when it is due


def test_enqueue_leaves_at_most_one_wake_token(lua: Lua) -> None:
    for i in range(5):
        lua.add(T0, f"j{i}")
    assert lua.lst("wake") == ["1"]


def test_enqueue_without_clock_override_uses_server_time(lua: Lua) -> None:
    sec, usec = lua.r.time()
    lua("enqueue-5", "", 1, *job_args("a"))
    created = int(lua.job("a")["created_ms"])
    assert sec * 1000 + usec // 1000 <= created < sec * 1000 + 60_000


def test_enqueue_refuses_a_queue_of_another_protocol_version(lua: Lua) -> None:
    lua.r.hset(key("meta"), "version", "99")
    with pytest.raises(redis.ResponseError, match="protocol version mismatch.*speaks 99"):
        lua("enqueue-5", T0, 1, *job_args("a"))
    assert lua.all_keys() == [key("meta")]
    assert lua.meta() == {"version": "99"}


@pytest.mark.parametrize("bad, field", [
    ({"priority": "high"}, "priority"), ({"priority": "1.5"}, "priority"),
    ({"attempts": 0}, "attempts"), ({"attempts": "x"}, "attempts"),
    ({"timeout": ""}, "timeout"), ({"delay": "soon"}, "delay"), ({"job_id": ""}, "id"),
])
def test_enqueue_malformed_job_errors_naming_script_and_stores_nothing(lua: Lua, bad, field) -> None:
    good = job_args("ok")
    args = dict(job_id="bad", runs="task", data=b"d", priority=0, attempts=1, backoff="",
                timeout=0, delay=0)
    args.update(bad)
    with pytest.raises(redis.ResponseError, match=rf"^enqueue: job 1: .*{field}"):
        lua("enqueue-5", T0, 2, *good, *args.values())
    assert lua.all_keys() == []  # the valid first job was not stored either


def test_enqueue_count_not_matching_arguments_is_an_error(lua: Lua) -> None:
    with pytest.raises(redis.ResponseError, match=r"^enqueue: ARGV\[2\] count"):
        lua("enqueue-5", T0, 2, *job_args("a"))
    with pytest.raises(redis.ResponseError, match=r"^enqueue: ARGV\[2\] count"):
        lua("enqueue-5", T0, "one", *job_args("a"))
    assert lua.all_keys() == []


def test_enqueue_malformed_clock_override_errors_naming_script_and_argument(lua: Lua) -> None:
    with pytest.raises(redis.ResponseError, match=r"^enqueue: ARGV\[1\] now"):
        lua("enqueue-5", "yesterday", 1, *job_args("a"))
    assert lua.all_keys() == []
