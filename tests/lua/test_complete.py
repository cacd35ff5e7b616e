"""complete-8: finish jobs with their lease token, keep them within retention, claim more."""

from __future__ import annotations

import pytest
import redis

from .conftest import Lua, claimed_ids, key

T0 = 1_000_000


def complete(lua: Lua, now: int, *done: tuple[str, str, bytes], max_jobs: int = 0,
             token: str = "t2", lease: int = 1000) -> list:
    args = [now, max_jobs, token, lease]
    for item in done:
        args += list(item)
    return lua("complete-8", *args)


def started(lua: Lua, *ids: str, token: str = "t1", now: int = T0) -> None:
    lua.add(now, *ids)
    assert claimed_ids(lua.claim(now, len(ids), token)) == list(ids)


def test_complete_records_result_and_moves_job_to_completed(lua: Lua) -> None:
    started(lua, "a")
    assert complete(lua, T0 + 50, ("a", "t1", b"\xa2ok")) == [[0], [0, -1]]
    job = lua.job("a")
    assert (job["state"], job["result"], job["finished_ms"]) == ("completed", b"\xa2ok", str(T0 + 50))
    assert lua.zset("active") == []
    assert lua.zset("completed") == [("a", T0 + 50)]


def test_complete_with_stale_token_is_refused_and_changes_nothing(lua: Lua) -> None:
    started(lua, "a")
    before, active = lua.job("a"), lua.zset("active")
    assert complete(lua, T0 + 50, ("a", "old-worker", b"r")) == [[-2], [0, -1]]
    assert lua.job("a") == before and lua.zset("active") == active
    assert lua.zset("completed") == []


def test_complete_of_unknown_job_answers_missing(lua: Lua) -> None:
    assert complete(lua, T0, ("nope", "t1", b"r")) == [[-1], [0, -1]]
    assert lua.all_keys() == []


def test_complete_repeated_with_same_token_answers_already_finished(lua: Lua) -> None:
    started(lua, "a")
    complete(lua, T0 + 1, ("a", "t1", b"first"))
    before = lua.job("a")
    assert complete(lua, T0 + 2, ("a", "t1", b"second")) == [[2], [0, -1]]
    assert lua.job("a") == before
    assert lua.zset("completed") == [("a", T0 + 1)]


def test_complete_and_claim_next_in_one_call(lua: Lua) -> None:
    started(lua, "a")
    lua.add(T0, "b", "c")
    codes, claim = complete(lua, T0 + 5, ("a", "t1", b"r"), max_jobs=1, token="t2", lease=300)
    assert codes == [0]
    assert claim[:2] == [0, -1] and claimed_ids(claim) == ["b"]
    assert lua.job("b")["token"] == "t2"
    assert lua.zset("active") == [("b", T0 + 5 + 300)]
    assert lua.lst("wait") == ["c"]


def test_complete_batch_answers_per_job_and_finishes_only_valid_ones(lua: Lua) -> None:
    started(lua, "a", "b")
    codes, _ = complete(lua, T0 + 1, ("a", "t1", b"ra"), ("b", "bad", b"rb"), ("x", "t1", b"rx"))
    assert codes == [0, -2, -1]
    assert lua.zids("completed") == ["a"] and lua.zids("active") == ["b"]


def test_complete_on_paused_queue_finishes_but_claims_nothing(lua: Lua) -> None:
    started(lua, "a")
    lua.add(T0, "b")
    lua("pause-2", "1")
    assert complete(lua, T0 + 1, ("a", "t1", b"r"), max_jobs=3) == [[0], [-3, -1]]
    assert lua.lst("wait") == ["b"]


def test_complete_keeps_only_the_newest_keep_completed_count_jobs(lua: Lua) -> None:
    lua.configure(keep_completed_count=2)
    started(lua, "a", "b", "c")
    for i, jid in enumerate("abc"):
        complete(lua, T0 + i, (jid, "t1", b"r"))
    assert lua.zids("completed") == ["b", "c"]
    assert not lua.r.exists(key("job:a"))


def test_complete_drops_jobs_older_than_keep_completed_age(lua: Lua) -> None:
    lua.configure(keep_completed_age_ms=1000)
    started(lua, "a", "b")
    complete(lua, T0, ("a", "t1", b"r"))
    complete(lua, T0 + 999, ("b", "t1", b"r"))
    assert lua.zids("completed") == ["a", "b"]
    lua.add(T0, "c")
    lua.claim(T0, 1, "t3")
    complete(lua, T0 + 1000, ("c", "t3", b"r"))  # a is now exactly 1000 ms old: gone
    assert lua.zids("completed") == ["b", "c"]
    assert not lua.r.exists(key("job:a"))


@pytest.mark.parametrize("setting", [{"keep_completed_age_ms": 0}, {"keep_completed_count": 0}])
def test_complete_with_zero_retention_deletes_the_job_at_once(lua: Lua, setting) -> None:
    lua.configure(**setting)
    started(lua, "a")
    assert complete(lua, T0, ("a", "t1", b"r"))[0] == [0]
    assert not lua.r.exists(key("job:a"))
    assert not lua.r.exists(key("completed"))
    assert complete(lua, T0, ("a", "t1", b"r"))[0] == [-1]  # a repeat cannot tell: missing


def test_complete_uses_default_retention_without_settings(lua: Lua) -> None:
    started(lua, "a", "b")
    complete(lua, T0, ("a", "t1", b"r"))
    complete(lua, T0 + 600_000, ("b", "t1", b"r"))  # default age 600000 ms: a expires
    assert lua.zids("completed") == ["b"]


def test_complete_unlimited_retention_keeps_everything(lua: Lua) -> None:
    lua.configure(keep_completed_age_ms=-1, keep_completed_count=-1)
    started(lua, "a", "b")
    complete(lua, T0, ("a", "t1", b"r"))
    complete(lua, T0 + 10**10, ("b", "t1", b"r"))
    assert lua.zids("completed") == ["a", "b"]


def test_complete_retention_bounds_memory_even_for_large_batches(lua: Lua) -> None:
    lua.configure(keep_completed_count=10)
    ids = [f"j{i}" for i in range(250)]
    lua.add(T0, *ids)
    for batch in range(2):
        lua.claim(T0, 125, f"b{batch}")
        done = [(i, f"b{batch}", b"r") for i in ids[batch * 125:(batch + 1) * 125]]
        complete(lua, T0 + batch, *done)
        assert lua.r.zcard(key("completed")) == 10
    assert len(lua.r.keys(key("job:*"))) == 10


def test_complete_under_global_concurrency_cap_wakes_a_waiting_worker(lua: Lua) -> None:
    lua.configure(global_concurrency=1)
    started(lua, "a")
    lua.r.delete(key("wake"))
    complete(lua, T0, ("a", "t1", b"r"))
    assert lua.lst("wake") == ["1"]


def test_complete_of_record_with_missing_and_non_numeric_fields_works(lua: Lua) -> None:
    lua.r.hset(key("job:m"), mapping={"state": "active", "token": "t1", "attempts": "lots"})
    lua.r.zadd(key("active"), {"m": T0})
    assert complete(lua, T0, ("m", "t1", b"r"))[0] == [0]
    assert lua.job("m")["state"] == "completed" and lua.zids("completed") == ["m"]


def test_complete_refuses_a_queue_of_another_protocol_version_before_any_change(lua: Lua) -> None:
    started(lua, "a")
    lua.r.hset(key("meta"), "version", "0")
    before = lua.job("a")
    with pytest.raises(redis.ResponseError, match="protocol version mismatch"):
        complete(lua, T0, ("a", "t1", b"r"))
    assert lua.job("a") == before and lua.zids("active") == ["a"]


@pytest.mark.parametrize("args", [
    [T0, "x", "t", 10], [T0, 0, "t", 10, "a", "t1"], ["noon", 0, "t", 10],
])
def test_complete_malformed_arguments_error_naming_the_script(lua: Lua, args) -> None:
    with pytest.raises(redis.ResponseError, match=r"^complete: "):
        lua("complete-8", *args)
