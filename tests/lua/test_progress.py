"""progress-1: store a running job's progress under its lease token."""

from __future__ import annotations

import pytest
import redis

from .conftest import Lua, key

T0 = 1_000_000


def test_progress_stores_the_value_for_the_lease_holder(lua: Lua) -> None:
    lua.add(T0, "a")
    lua.claim(T0, 1, "t1")
    assert lua("progress-1", "a", "t1", b"\x32") == 0
    assert lua("progress-1", "a", "t1", b"\x33") == 0
    assert lua.r.hget(key("job:a"), "progress") == b"\x33"


def test_progress_with_stale_token_or_after_finish_changes_nothing(lua: Lua) -> None:
    lua.add(T0, "a")
    lua.claim(T0, 1, "t1")
    assert lua("progress-1", "a", "old", b"1") == -2
    lua("complete-8", T0, 0, "x", 10, "a", "t1", b"r")
    assert lua("progress-1", "a", "t1", b"1") == -2
    assert "progress" not in lua.job("a")


def test_progress_of_unknown_job_answers_missing(lua: Lua) -> None:
    assert lua("progress-1", "ghost", "t1", b"1") == -1
    assert lua.all_keys() == []


def test_progress_without_value_errors_naming_the_script(lua: Lua) -> None:
    with pytest.raises(redis.ResponseError, match="^progress: "):
        lua("progress-1", "a", "t1")
