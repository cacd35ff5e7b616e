"""retry_failed-5: failed jobs back to waiting with a fresh set of attempts."""

from __future__ import annotations

import pytest
import redis

from .conftest import Lua, claimed_ids, key

T0 = 1_000_000


def failed(lua: Lua, *ids: str, **opts) -> None:
    lua.add(T0, *ids, **opts)
    lua.claim(T0, len(ids), "t1")
    for n, i in enumerate(ids):
        assert lua("fail-7", T0 + n, i, "t1", f"err {i}", "0", "1") == [0, "failed", 0]


def test_retry_failed_given_ids_moves_them_to_waiting_with_counters_reset(lua: Lua) -> None:
    failed(lua, "a", "b")
    lua.r.hset(key("job:a"), "stalls", "1")
    lua.r.delete(key("wake"))
    assert lua("retry_failed-5", 10, "a") == [1, 1, [0]]
    job = lua.job("a")
    assert job["state"] == "waiting" and job["attempts_made"] == "1"
    assert not {"failures", "stalls", "finished_ms", "token"} & job.keys()
    assert lua.lst("wait") == ["a"] and lua.zids("failed") == ["b"]
    assert lua.lst("wake") == ["1"]


def test_retry_failed_job_gets_its_attempts_again(lua: Lua) -> None:
    failed(lua, "a", attempts=2)
    lua("retry_failed-5", 10, "a")
    reply = lua.claim(T0, 1, "t2")
    assert reply[5] == 2
    assert lua("fail-7", T0, "a", "t2", "again", "0", "0") == [0, "waiting", 0]


def test_retry_failed_without_ids_moves_the_oldest_limit_jobs(lua: Lua) -> None:
    failed(lua, "a", "b", "c")
    assert lua("retry_failed-5", 2) == [2, 1, []]
    assert lua.lst("wait") == ["a", "b"] and lua.zids("failed") == ["c"]


@pytest.mark.parametrize("limit", [0, -1])
def test_retry_failed_with_non_positive_limit_moves_nothing(lua: Lua, limit) -> None:
    failed(lua, "a", "b")
    assert lua("retry_failed-5", limit) == [0, 2, []]
    assert lua.zids("failed") == ["a", "b"]


def test_retry_failed_reports_missing_and_not_failed_ids(lua: Lua) -> None:
    failed(lua, "a")
    lua.add(T0, "w")
    lua.r.zadd(key("failed"), {"ghost": T0})
    before = lua.job("w")
    assert lua("retry_failed-5", 10, "w", "ghost", "a") == [1, 0, [-7, -1, 0]]
    assert lua.job("w") == before
    assert lua.zset("failed") == []  # the stray id is dropped
    assert lua.lst("wait") == ["w", "a"]


def test_retry_failed_keeps_the_job_priority(lua: Lua) -> None:
    failed(lua, "a", priority=4)
    lua.add(T0, "z")
    lua("retry_failed-5", 10, "a")
    assert claimed_ids(lua.claim(T0, 2, "t2")) == ["a", "z"]


def test_retry_failed_with_malformed_limit_errors_naming_the_script(lua: Lua) -> None:
    with pytest.raises(redis.ResponseError, match="^retry_failed: limit"):
        lua("retry_failed-5", "all")
