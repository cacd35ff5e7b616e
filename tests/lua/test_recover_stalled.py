"""recover_stalled-6: expired leases go back to waiting (stall counted) or fail."""

from __future__ import annotations

import pytest
import redis

from .conftest import Lua, claimed_ids, key

T0 = 1_000_000
LEASE = 1000


def started(lua: Lua, *ids: str, token: str = "t1", now: int = T0, **opts) -> None:
    lua.add(now, *ids, **opts)
    assert claimed_ids(lua.claim(now, len(ids), token, LEASE)) == list(ids)


def recover(lua: Lua, now: int, limit: int = 100, max_stalls: int = 1) -> list:
    return lua("recover_stalled-6", now, limit, max_stalls)


def test_recover_stalled_returns_an_expired_job_to_the_end_of_waiting(lua: Lua) -> None:
    started(lua, "a")
    lua.add(T0, "b")
    lua.r.delete(key("wake"))
    assert recover(lua, T0 + LEASE) == [["a"], []]  # the deadline itself is expired
    job = lua.job("a")
    assert (job["state"], job["stalls"], job["attempts_made"]) == ("waiting", "1", "1")
    assert "token" not in job
    assert lua.lst("wait") == ["b", "a"] and lua.zset("active") == []
    assert lua.meta()["stalled_total"] == "1"
    assert lua.lst("wake") == ["1"]


def test_recover_stalled_leaves_unexpired_leases_alone(lua: Lua) -> None:
    started(lua, "a")
    before = lua.job("a")
    assert recover(lua, T0 + LEASE - 1) == [[], []]
    assert lua.job("a") == before and lua.zset("active") == [("a", T0 + LEASE)]
    assert "stalled_total" not in lua.meta()


def test_recover_stalled_makes_the_lost_worker_unable_to_finish(lua: Lua) -> None:
    started(lua, "a")
    recover(lua, T0 + LEASE)
    assert lua("complete-8", T0 + LEASE, 0, "x", 10, "a", "t1", b"late")[0] == [-2]
    assert lua("fail-7", T0 + LEASE, "a", "t1", "late", "0", "0")[0] == -2
    assert lua.job("a")["state"] == "waiting"


def test_recover_stalled_rerun_is_the_next_attempt(lua: Lua) -> None:
    started(lua, "a")
    recover(lua, T0 + LEASE)
    reply = lua.claim(T0 + LEASE, 1, "t2")
    assert claimed_ids(reply) == ["a"] and reply[5] == 2


def test_recover_stalled_fails_a_job_stalled_more_than_max_stalls(lua: Lua) -> None:
    started(lua, "a")
    assert recover(lua, T0 + LEASE, max_stalls=1) == [["a"], []]
    lua.claim(T0 + LEASE, 1, "t2", LEASE)
    assert recover(lua, T0 + 2 * LEASE, max_stalls=1) == [[], ["a"]]
    job = lua.job("a")
    assert (job["state"], job["stalls"], job["finished_ms"]) == ("failed", "2", str(T0 + 2 * LEASE))
    assert "stalled 2 times" in job["error"] and "max_stalls is 1" in job["error"]
    assert lua.zset("failed") == [("a", T0 + 2 * LEASE)]
    assert lua.lst("wait") == [] and lua.zset("active") == []
    assert lua.meta()["stalled_total"] == "2"


def test_recover_stalled_with_zero_max_stalls_fails_at_the_first_stall(lua: Lua) -> None:
    started(lua, "a")
    assert recover(lua, T0 + LEASE, max_stalls=0) == [[], ["a"]]


def test_recover_stalled_prefers_max_stalls_stored_in_meta(lua: Lua) -> None:
    lua.configure(max_stalls=0)
    started(lua, "a")
    assert recover(lua, T0 + LEASE, max_stalls=5) == [[], ["a"]]


def test_recover_stalled_twice_recovers_each_lease_once(lua: Lua) -> None:
    started(lua, "a", "b")
    assert recover(lua, T0 + LEASE) == [["a", "b"], []]
    state = (lua.job("a"), lua.job("b"), lua.lst("wait"), lua.meta())
    assert recover(lua, T0 + LEASE) == [[], []]
    assert (lua.job("a"), lua.job("b"), lua.lst("wait"), lua.meta()) == state


def test_recover_stalled_handles_at_most_limit_jobs_per_call(lua: Lua) -> None:
    started(lua, "a", "b", "c")
    assert recover(lua, T0 + LEASE, limit=2) == [["a", "b"], []]
    assert lua.zids("active") == ["c"]
    assert recover(lua, T0 + LEASE, limit=2) == [["c"], []]


def test_recover_stalled_puts_a_prioritised_job_back_by_priority(lua: Lua) -> None:
    started(lua, "a", priority=3)
    lua.add(T0, "z")
    lua.add(T0, "p", priority=3)
    recover(lua, T0 + LEASE)
    assert claimed_ids(lua.claim(T0 + LEASE, 3, "t2")) == ["p", "a", "z"]


def test_recover_stalled_drops_a_lease_whose_job_was_deleted(lua: Lua) -> None:
    started(lua, "a")
    lua.r.delete(key("job:a"))
    assert recover(lua, T0 + LEASE) == [[], []]
    assert lua.zset("active") == [] and not lua.r.exists(key("job:a"))


def test_recover_stalled_failure_honours_zero_failed_retention(lua: Lua) -> None:
    lua.configure(keep_failed_count=0)
    started(lua, "a")
    assert recover(lua, T0 + LEASE, max_stalls=0) == [[], ["a"]]
    assert not lua.r.exists(key("job:a"), key("failed"))


def test_recover_stalled_failure_trims_the_failed_set_to_its_count(lua: Lua) -> None:
    lua.configure(keep_failed_count=1)
    started(lua, "a", "b")
    assert recover(lua, T0 + LEASE, max_stalls=0) == [[], ["a", "b"]]
    assert lua.zids("failed") == ["b"] and not lua.r.exists(key("job:a"))


def test_recover_stalled_failure_under_concurrency_cap_wakes_a_worker(lua: Lua) -> None:
    lua.configure(global_concurrency=1)
    started(lua, "a")
    lua.r.delete(key("wake"))
    recover(lua, T0 + LEASE, max_stalls=0)
    assert lua.lst("wake") == ["1"]


@pytest.mark.parametrize("args", [[T0, 0, 1], [T0, "all", 1], [T0, 10, "x"], ["t", 10, 1]])
def test_recover_stalled_malformed_arguments_error_naming_the_script(lua: Lua, args) -> None:
    with pytest.raises(redis.ResponseError, match=r"^recover_stalled: "):
        lua("recover_stalled-6", *args)
