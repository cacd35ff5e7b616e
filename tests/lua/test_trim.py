"""trim-3: apply completed/failed retention on a queue that went quiet."""

from __future__ import annotations

import pytest
import redis

from .conftest import Lua, key

T0 = 1_000_000


def _finish(lua: Lua, now: int, ids: list[str]) -> None:
    for i in ids:
        lua.add(now, i)
    lua.claim(now, len(ids), "t")
    lua("complete-8", now, 0, "x", 10, *[v for i in ids for v in (i, "t", b"r")])


def test_trim_removes_completed_jobs_past_their_age_without_new_completions(lua: Lua) -> None:
    lua("configure-1", "keep_completed_age_ms", "500", "keep_completed_count", "100")
    _finish(lua, T0, ["a", "b"])
    _finish(lua, T0 + 400, ["c"])
    assert lua("trim-3", T0 + 499) == [0, 0]
    assert lua("trim-3", T0 + 500) == [2, 0]
    assert lua.r.zrange(key("completed"), 0, -1) == [b"c"]
    assert not lua.r.exists(key("job:a")) and not lua.r.exists(key("job:b"))
    assert lua.r.hget(key("job:c"), "state") == b"completed"


def test_trim_applies_failed_retention_by_age(lua: Lua) -> None:
    lua("configure-1", "keep_failed_age_ms", "1000")
    lua.add(T0, "f")
    lua.claim(T0, 1, "t")
    lua("fail-7", T0, "f", "t", "boom", "0", "1")
    assert lua("trim-3", T0 + 999) == [0, 0]
    assert lua("trim-3", T0 + 1000) == [0, 1]
    assert lua.r.zcard(key("failed")) == 0 and not lua.r.exists(key("job:f"))


def test_trim_on_an_unknown_queue_touches_nothing(lua: Lua) -> None:
    assert lua("trim-3", T0) == [0, 0]
    assert lua.all_keys() == []


def test_trim_with_malformed_clock_errors_naming_the_script(lua: Lua) -> None:
    with pytest.raises(redis.ResponseError, match="^trim: ARGV\\[1\\]"):
        lua("trim-3", "soon")
