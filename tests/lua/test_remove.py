"""remove-6: delete one job and every reference to it (active only when forced)."""

from __future__ import annotations

import pytest
import redis

from .conftest import Lua, key

T0 = 1_000_000


def where(lua: Lua, job_id: str) -> list[str]:
    return [n for n in ("prio", "delayed", "active", "completed", "failed") if job_id in lua.zids(n)] \
        + (["wait"] if job_id in lua.lst("wait") else [])


@pytest.mark.parametrize("make", ["waiting", "prio", "delayed", "completed", "failed"])
def test_remove_deletes_the_record_and_its_reference(lua: Lua, make) -> None:
    lua.add(T0, "keep")
    lua.enqueue(T0, {"id": "a", "priority": 2 if make == "prio" else 0,
                     "delay": 100 if make == "delayed" else 0})
    if make in ("completed", "failed"):
        lua.r.lrem(key("wait"), 0, "keep")
        lua.claim(T0, 1, "t1")
        if make == "completed":
            lua("complete-8", T0, 0, "x", 10, "a", "t1", b"r")
        else:
            lua("fail-7", T0, "a", "t1", "e", "0", "1")
        lua.r.rpush(key("wait"), "keep")
    assert where(lua, "a")
    assert lua("remove-6", "a", "0") == 0
    assert where(lua, "a") == [] and not lua.r.exists(key("job:a"))
    assert lua.lst("wait") == ["keep"] and lua.r.exists(key("job:keep"))


def test_remove_refuses_an_active_job_unless_forced(lua: Lua) -> None:
    lua.add(T0, "a")
    lua.claim(T0, 1, "t1")
    before = lua.job("a")
    assert lua("remove-6", "a", "0") == -6
    assert lua.job("a") == before and lua.zids("active") == ["a"]
    assert lua("remove-6", "a", "1") == 0
    assert lua.zset("active") == [] and not lua.r.exists(key("job:a"))
    assert lua("complete-8", T0, 0, "x", 10, "a", "t1", b"r")[0] == [-1]


def test_remove_of_unknown_job_answers_missing(lua: Lua) -> None:
    assert lua("remove-6", "ghost", "1") == -1


@pytest.mark.parametrize("args", [[""], []])
def test_remove_without_id_errors_naming_the_script(lua: Lua, args) -> None:
    with pytest.raises(redis.ResponseError, match="^remove: id is required"):
        lua("remove-6", *args)
