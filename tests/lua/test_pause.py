"""pause-2: pause or resume a queue for every worker."""

from __future__ import annotations

import pytest
import redis

from .conftest import Lua, claimed_ids, key

T0 = 1_000_000


def test_pause_sets_the_flag_once_and_stops_claims(lua: Lua) -> None:
    lua.add(T0, "a")
    assert lua("pause-2", "1") == 1
    assert lua("pause-2", "1") == 0
    assert lua.meta()["paused"] == "1"
    assert lua.claim(T0, 1) == [-3, -1]
    assert lua("counts-7")[5] == 1


def test_pause_still_accepts_enqueues(lua: Lua) -> None:
    lua("pause-2", "1")
    assert lua.enqueue(T0, {"id": "a"}) == [0]
    assert lua.lst("wait") == ["a"]


def test_pause_lets_running_jobs_finish(lua: Lua) -> None:
    lua.add(T0, "a")
    lua.claim(T0, 1, "t1")
    lua("pause-2", "1")
    assert lua("complete-8", T0, 0, "x", 10, "a", "t1", b"r")[0] == [0]
    assert lua("heartbeat-1", T0, 100) == []


def test_resume_clears_the_flag_and_wakes_workers_once(lua: Lua) -> None:
    lua.add(T0, "a")
    lua("pause-2", "1")
    lua.r.delete(key("wake"))
    assert lua("pause-2", "0") == 1
    assert "paused" not in lua.meta()
    assert lua.lst("wake") == ["1"]
    lua.r.delete(key("wake"))
    assert lua("pause-2", "0") == 0
    assert lua.lst("wake") == []
    assert claimed_ids(lua.claim(T0, 1)) == ["a"]


@pytest.mark.parametrize("args", [["yes"], ["2"], []])
def test_pause_malformed_argument_errors_naming_the_script(lua: Lua, args) -> None:
    with pytest.raises(redis.ResponseError, match=r"^pause: ARGV\[1\]"):
        lua("pause-2", *args)
    assert lua.all_keys() == []
