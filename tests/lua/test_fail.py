"""fail-7: record a failed run; retry (waiting or delayed by backoff) or fail for good."""

from __future__ import annotations

import pytest
import redis

from .conftest import Lua, claimed_ids, key

T0 = 1_000_000


def started(lua: Lua, job_id: str = "a", token: str = "t1", now: int = T0, **opts) -> None:
    lua.add(now, job_id, **opts)
    assert claimed_ids(lua.claim(now, 1, token)) == [job_id]


def fail(lua: Lua, now: int, job_id: str = "a", token: str = "t1", error: str = "boom",
         rand: float = 0.0, final: str = "0") -> list:
    return lua("fail-7", now, job_id, token, error, repr(rand), final)


def test_fail_with_attempts_left_and_no_backoff_goes_to_the_end_of_waiting(lua: Lua) -> None:
    started(lua, attempts=3)
    lua.add(T0, "b")
    lua.r.delete(key("wake"))
    assert fail(lua, T0 + 5, error="ValueError: x") == [0, "waiting", 0]
    job = lua.job("a")
    assert (job["state"], job["failures"], job["error"]) == ("waiting", "1", "ValueError: x")
    assert "finished_ms" not in job
    assert lua.lst("wait") == ["b", "a"] and lua.zset("active") == []
    assert lua.lst("wake") == ["1"]


def test_fail_retry_keeps_priority_and_next_run_is_the_next_attempt(lua: Lua) -> None:
    started(lua, attempts=2, priority=7)
    fail(lua, T0)
    assert lua.zids("prio") == ["a"]
    reply = lua.claim(T0 + 1, 1, "t2")
    assert claimed_ids(reply) == ["a"] and reply[5] == 2
    assert lua.job("a")["attempts_made"] == "2"


def test_fail_with_fixed_backoff_delays_the_retry(lua: Lua) -> None:
    started(lua, attempts=5, backoff="fixed:250:0:0.0")
    assert fail(lua, T0 + 10) == [0, "delayed", 250]
    job = lua.job("a")
    assert (job["state"], job["run_at_ms"], job["failures"]) == ("delayed", str(T0 + 260), "1")
    assert lua.zset("delayed") == [("a", T0 + 260)]
    assert lua.lst("wait") == []


def test_fail_with_exponential_backoff_doubles_up_to_the_cap(lua: Lua) -> None:
    started(lua, attempts=10, backoff="exponential:100:700:0.0")
    delays, now = [], T0
    for run in range(5):
        reply = fail(lua, now, token=f"t{run + 1}")
        delays.append(reply[2])
        now = int(lua.job("a")["run_at_ms"])
        assert claimed_ids(lua.claim(now, 1, f"t{run + 2}")) == ["a"]
    assert delays == [100, 200, 400, 700, 700]


def test_fail_exponential_without_cap_keeps_doubling(lua: Lua) -> None:
    started(lua, attempts=60, backoff="exponential:1:0:0.0")
    lua.r.hset(key("job:a"), "failures", "50")
    assert fail(lua, T0)[2] == 2**40  # exponent capped at 40 to stay finite


@pytest.mark.parametrize("jitter, rand, expected", [
    ("0.5", 0.5, 750), ("0.5", 0.0, 1000), ("1.0", 0.999, 1), ("0.0", 0.9, 1000),
    ("1e-05", 0.5, 999), ("2", 0.25, 750),
])
def test_fail_backoff_jitter_takes_a_fraction_off_deterministically(lua: Lua, jitter, rand,
                                                                      expected) -> None:
    started(lua, attempts=2, backoff=f"fixed:1000:0:{jitter}")
    assert fail(lua, T0, rand=rand) == [0, "delayed", expected]
    assert lua.zset("delayed") == [("a", T0 + expected)]


@pytest.mark.parametrize("spec", ["garbage", "fixed:x:0:0", "fixed:100:0:", "fixed:-5:0:0"])
def test_fail_with_unreadable_backoff_retries_at_once(lua: Lua, spec) -> None:
    started(lua, attempts=2, backoff=spec)
    assert fail(lua, T0) == [0, "waiting", 0]


def test_fail_after_the_last_attempt_moves_the_job_to_failed(lua: Lua) -> None:
    started(lua, attempts=2, backoff="fixed:100:0:0")
    fail(lua, T0)
    lua.claim(T0 + 100, 1, "t2")
    assert fail(lua, T0 + 200, token="t2", error="final words") == [0, "failed", 0]
    job = lua.job("a")
    assert (job["state"], job["failures"], job["error"], job["finished_ms"]) == \
        ("failed", "2", "final words", str(T0 + 200))
    assert lua.zset("failed") == [("a", T0 + 200)]
    assert lua.zset("active") == [] and lua.zset("delayed") == [] and lua.lst("wait") == []


def test_fail_final_flag_fails_at_once_despite_attempts_left(lua: Lua) -> None:
    started(lua, attempts=5, backoff="fixed:100:0:0")
    assert fail(lua, T0, final="1", error="payload cannot be decoded") == [0, "failed", 0]
    assert lua.zids("failed") == ["a"]


def test_fail_with_stale_token_is_refused_and_changes_nothing(lua: Lua) -> None:
    started(lua, attempts=3)
    before = lua.job("a")
    assert fail(lua, T0, token="stale") == [-2, "active", 0]
    assert lua.job("a") == before and lua.zids("active") == ["a"]


def test_fail_of_unknown_job_answers_missing(lua: Lua) -> None:
    assert fail(lua, T0, job_id="ghost") == [-1, "", 0]
    assert lua.all_keys() == []


def test_fail_repeated_with_same_token_answers_already_finished(lua: Lua) -> None:
    started(lua, attempts=3)
    fail(lua, T0)
    before = lua.job("a")
    assert fail(lua, T0 + 1) == [2, "waiting", 0]
    assert lua.job("a") == before and lua.lst("wait") == ["a"]


def test_fail_keeps_only_keep_failed_count_jobs(lua: Lua) -> None:
    lua.configure(keep_failed_count=1)
    started(lua, "a")
    started(lua, "b", token="t2")
    fail(lua, T0, "a")
    fail(lua, T0 + 1, "b", token="t2")
    assert lua.zids("failed") == ["b"] and not lua.r.exists(key("job:a"))


def test_fail_drops_failed_jobs_older_than_keep_failed_age(lua: Lua) -> None:
    lua.configure(keep_failed_age_ms=100)
    started(lua, "a")
    started(lua, "b", token="t2")
    fail(lua, T0, "a")
    fail(lua, T0 + 100, "b", token="t2")
    assert lua.zids("failed") == ["b"] and not lua.r.exists(key("job:a"))


def test_fail_uses_seven_day_default_retention(lua: Lua) -> None:
    started(lua, "a")
    started(lua, "b", token="t2")
    fail(lua, T0, "a")
    fail(lua, T0 + 7 * 86_400_000 - 1, "b", token="t2")
    assert lua.zids("failed") == ["a", "b"]


@pytest.mark.parametrize("setting", [{"keep_failed_age_ms": 0}, {"keep_failed_count": 0}])
def test_fail_with_zero_retention_deletes_the_job_at_once(lua: Lua, setting) -> None:
    lua.configure(**setting)
    started(lua)
    assert fail(lua, T0) == [0, "failed", 0]
    assert not lua.r.exists(key("job:a"), key("failed"), key("active"))


def test_fail_final_under_global_concurrency_cap_wakes_a_waiting_worker(lua: Lua) -> None:
    lua.configure(global_concurrency=1)
    started(lua)
    lua.r.delete(key("wake"))
    fail(lua, T0)
    assert lua.lst("wake") == ["1"]


def test_fail_final_without_cap_leaves_no_wake_token(lua: Lua) -> None:
    started(lua)
    lua.r.delete(key("wake"))
    fail(lua, T0)
    assert lua.lst("wake") == []


def test_fail_of_record_with_non_numeric_fields_fails_it_cleanly(lua: Lua) -> None:
    lua.r.hset(key("job:m"), mapping={"state": "active", "token": "t1", "attempts": "three",
                                      "failures": "none", "priority": "hi"})
    lua.r.zadd(key("active"), {"m": T0})
    assert fail(lua, T0, "m") == [0, "failed", 0]  # unreadable attempts counts as 1
    assert lua.job("m")["failures"] == "1" and lua.zids("failed") == ["m"]


def test_fail_of_record_without_attempts_field_and_retry_left_uses_defaults(lua: Lua) -> None:
    lua.r.hset(key("job:m"), mapping={"state": "active", "token": "t1", "attempts": "4",
                                      "priority": "x"})
    lua.r.zadd(key("active"), {"m": T0})
    assert fail(lua, T0, "m") == [0, "waiting", 0]
    assert lua.lst("wait") == ["m"]  # unreadable priority counts as 0


@pytest.mark.parametrize("args", [[T0, "a", "t1"], [T0, "a", "t1", "err", "r", "0"],
                                  ["x", "a", "t1", "err", "0.1", "0"]])
def test_fail_malformed_arguments_error_naming_the_script(lua: Lua, args) -> None:
    started(lua, attempts=3)
    before = lua.job("a")
    with pytest.raises(redis.ResponseError, match=r"^fail: "):
        lua("fail-7", *args)
    assert lua.job("a") == before
