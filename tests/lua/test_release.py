"""release-5: hand held jobs back to the head of waiting (graceful stop), no stall."""

from __future__ import annotations

import pytest
import redis

from .conftest import Lua, claimed_ids, key

T0 = 1_000_000


def started(lua: Lua, *ids: str, token: str = "t1", **opts) -> None:
    lua.add(T0, *ids, **opts)
    assert claimed_ids(lua.claim(T0, len(ids), token)) == list(ids)


def test_release_puts_a_started_job_at_the_head_of_waiting_without_a_stall(lua: Lua) -> None:
    started(lua, "a")
    lua.add(T0, "b")
    lua.r.delete(key("wake"))
    assert lua("release-5", "", "a", "t1", "1") == [0]
    job = lua.job("a")
    assert (job["state"], job["attempts_made"]) == ("waiting", "1")
    assert "token" not in job and "stalls" not in job
    assert lua.lst("wait") == ["a", "b"] and lua.zset("active") == []
    assert lua.lst("wake") == ["1"]
    assert claimed_ids(lua.claim(T0, 1, "t2"))[0] == "a"
    assert lua.job("a")["attempts_made"] == "2"  # the interrupted run counted


def test_release_of_an_unstarted_job_gives_the_attempt_back(lua: Lua) -> None:
    started(lua, "a")
    assert lua("release-5", "", "a", "t1", "0") == [0]
    assert lua.job("a")["attempts_made"] == "0"
    reply = lua.claim(T0, 1, "t2")
    assert reply[5] == 1


def test_release_of_several_jobs_keeps_their_order_at_the_head(lua: Lua) -> None:
    started(lua, "a", "b", "c")
    lua.add(T0, "d")
    assert lua("release-5", "", "a", "t1", "0", "b", "t1", "0", "c", "t1", "1") == [0, 0, 0]
    assert lua.lst("wait") == ["a", "b", "c", "d"]


def test_release_of_prioritised_jobs_puts_them_first_within_their_priority(lua: Lua) -> None:
    started(lua, "p1", "p2", priority=2)
    lua.add(T0, "p3", priority=2)
    lua.add(T0, "top", priority=3)
    lua.add(T0, "z")
    assert lua("release-5", "", "p1", "t1", "0", "p2", "t1", "0") == [0, 0]
    assert claimed_ids(lua.claim(T0, 10, "t2")) == ["top", "p1", "p2", "p3", "z"]


def test_release_with_stale_token_or_unknown_job_changes_nothing(lua: Lua) -> None:
    started(lua, "a")
    before = lua.job("a")
    assert lua("release-5", "", "a", "other", "1", "ghost", "t1", "1") == [-2, -1]
    assert lua.job("a") == before and lua.zids("active") == ["a"] and lua.lst("wait") == []


def test_release_of_a_finished_job_answers_lease_lost(lua: Lua) -> None:
    started(lua, "a")
    lua("complete-8", T0, 0, "x", 10, "a", "t1", b"r")
    assert lua("release-5", "", "a", "t1", "1") == [-2]
    assert lua.job("a")["state"] == "completed"


@pytest.mark.parametrize("args", [["", "a", "t1"], ["", "a"], []])
def test_release_malformed_arguments_error_naming_the_script(lua: Lua, args) -> None:
    with pytest.raises(redis.ResponseError, match=r"^release: "):
        lua("release-5", *args)
