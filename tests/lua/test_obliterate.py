"""obliterate-9: delete a whole queue in chunks (active jobs only when forced)."""

from __future__ import annotations

import pytest
import redis

from .conftest import Lua, key

T0 = 1_000_000


def fill(lua: Lua) -> None:
    """A queue with jobs in every structure, plus a rate-limit log and a wake token."""
    lua.configure(rate_max="100", rate_period_ms="1000")
    lua.add(T0, *(f"w{i}" for i in range(5)), "c", "f", "a")
    lua.add(T0, "p1", "p2", priority=3)
    lua.add(T0, "d", delay=1000)
    lua.claim(T0, 3, "t1")  # p1, p2, w0
    lua("complete-8", T0, 0, "x", 10, "p1", "t1", b"r")
    lua("fail-7", T0, "p2", "t1", "e", "0", "1")
    lua.add(T0, "p3", priority=-1)


def test_obliterate_deletes_everything_in_chunks_and_leaves_no_key(lua: Lua) -> None:
    fill(lua)
    lua.r.set("{rediq:other}:meta", "untouched")
    calls = []
    while True:
        reply = lua("obliterate-9", "1", 3)
        calls.append(reply)
        assert lua.meta().get("paused", "1") == "1"  # paused while in progress
        if reply == [0, 0]:
            break
        assert reply == [0, 1] and len(calls) < 20
    assert len(calls) >= 4  # 12 jobs, 3 per call
    assert lua.all_keys() == ["{rediq:other}:meta"]


def test_obliterate_partial_chunk_pauses_the_queue(lua: Lua) -> None:
    lua.add(T0, "a", "b", "c")
    assert lua("obliterate-9", "0", 1) == [0, 1]
    assert lua.claim(T0, 5) == [-3, -1]
    assert lua.lst("wait") == ["b", "c"] and not lua.r.exists(key("job:a"))


def test_obliterate_refuses_active_jobs_unless_forced_and_changes_nothing(lua: Lua) -> None:
    lua.add(T0, "a", "b")
    lua.claim(T0, 1, "t1")
    before = (lua.all_keys(), lua.meta(), lua.lst("wait"))
    assert lua("obliterate-9", "0", 100) == [-6, 1]
    assert (lua.all_keys(), lua.meta(), lua.lst("wait")) == before
    assert lua("obliterate-9", "1", 100) == [0, 0]
    assert lua.all_keys() == []


def test_obliterate_of_an_unknown_queue_is_done_at_once(lua: Lua) -> None:
    assert lua("obliterate-9", "0", 10) == [0, 0]
    assert lua.all_keys() == []


@pytest.mark.parametrize("chunk", [0, -5, "many"])
def test_obliterate_with_bad_chunk_errors_naming_the_script(lua: Lua, chunk) -> None:
    lua.add(T0, "a")
    with pytest.raises(redis.ResponseError, match="^obliterate: chunk"):
        lua("obliterate-9", "1", chunk)
    assert lua.lst("wait") == ["a"]
