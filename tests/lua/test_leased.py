"""leased-1: the live leases held under one token (a claim whose reply was lost)."""

from __future__ import annotations

import pytest
import redis

from .conftest import Lua

T0 = 1_000_000


def test_leased_lists_the_active_jobs_of_one_token_only(lua: Lua) -> None:
    lua.add(T0, "a", "b", "c")
    lua.claim(T0, 2, "t1", 1000)
    lua.claim(T0, 1, "t2", 1000)
    assert sorted(lua("leased-1", T0 + 10, "t1", 100)) == ["a", "b"]
    assert lua("leased-1", T0 + 10, "t2", 100) == ["c"]
    assert lua("leased-1", T0 + 10, "t3", 100) == []


def test_leased_skips_expired_finished_and_recovered_leases(lua: Lua) -> None:
    lua.add(T0, "done", "late", "back", "live")
    lua.claim(T0, 1, "t", 1000)          # done
    lua.claim(T0, 1, "t", 100)           # late: its lease ends at T0 + 100
    lua.claim(T0, 2, "t", 1000)          # back, live
    lua("complete-8", T0, 0, "x", 10, "done", "t", b"r")
    lua("release-5", "", "back", "t", "0")
    assert lua("leased-1", T0 + 500, "t", 100) == ["live"]


def test_leased_writes_nothing(lua: Lua) -> None:
    lua.add(T0, "a")
    lua.claim(T0, 1, "t", 1000)
    before = {k: lua.r.dump(k) for k in lua.r.keys("*")}
    lua("leased-1", T0, "t", 100)
    assert {k: lua.r.dump(k) for k in lua.r.keys("*")} == before


def test_leased_looks_at_no_more_than_limit_leases(lua: Lua) -> None:
    lua.add(T0, *[f"j{i}" for i in range(10)])
    lua.claim(T0, 10, "t", 1000)
    assert len(lua("leased-1", T0, "t", 3)) == 3


@pytest.mark.parametrize("args", [("", 10), ("t", 0), ("t", "x")])
def test_leased_malformed_arguments_error_naming_the_script(lua: Lua, args) -> None:
    with pytest.raises(redis.ResponseError, match="^leased: "):
        lua("leased-1", T0, *args)
