"""heartbeat-1: extend the leases a worker still holds; report the lost ones."""

from __future__ import annotations

import pytest
import redis

from .conftest import Lua, claimed_ids, key

T0 = 1_000_000


def test_heartbeat_extends_leases_of_matching_tokens_from_now(lua: Lua) -> None:
    lua.add(T0, "a", "b")
    lua.claim(T0, 2, "t1", 1000)
    assert lua("heartbeat-1", T0 + 900, 5000, "a", "t1", "b", "t1") == []
    assert lua.zset("active") == [("a", T0 + 5900), ("b", T0 + 5900)]


def test_heartbeat_reports_stale_tokens_lost_and_leaves_their_lease(lua: Lua) -> None:
    lua.add(T0, "a", "b")
    lua.claim(T0, 1, "t1", 1000)
    lua.claim(T0, 1, "t2", 1000)
    assert lua("heartbeat-1", T0 + 10, 9000, "a", "t1", "b", "t1") == ["b"]
    assert lua.zset("active") == [("b", T0 + 1000), ("a", T0 + 9010)]


def test_heartbeat_reports_finished_removed_and_unknown_jobs_lost(lua: Lua) -> None:
    lua.add(T0, "done", "gone")
    lua.claim(T0, 2, "t1", 1000)
    lua("complete-8", T0, 0, "t", 10, "done", "t1", b"r")
    lua("remove-6", "gone", "1")
    assert lua("heartbeat-1", T0, 1000, "done", "t1", "gone", "t1", "never", "t1") == \
        ["done", "gone", "never"]
    assert lua.zset("active") == []  # nothing was added back


def test_heartbeat_after_recovery_does_not_revive_the_old_lease(lua: Lua) -> None:
    lua.add(T0, "a")
    lua.claim(T0, 1, "t1", 100)
    lua("recover_stalled-6", T0 + 100, 10, 5)
    assert lua("heartbeat-1", T0 + 101, 1000, "a", "t1") == ["a"]
    assert lua.zset("active") == [] and lua.lst("wait") == ["a"]


def test_heartbeat_keeps_a_lease_whose_record_is_absent_but_still_active(lua: Lua) -> None:
    """What a half-migrated cluster slot looks like (active set moved, record not yet):
    the live lease is extended, not reported lost; a lease no longer active still is."""
    lua.add(T0, "a", "b")
    lua.claim(T0, 2, "t1", 1000)
    lua.r.delete(key("job:a"))
    lua("remove-6", "b", "1")
    assert lua("heartbeat-1", T0 + 10, 5000, "a", "t1", "b", "t1") == ["b"]
    assert lua.zset("active") == [("a", T0 + 5010)]


def test_heartbeat_with_no_jobs_is_a_no_op(lua: Lua) -> None:
    assert lua("heartbeat-1", T0, 1000) == []
    assert lua.all_keys() == []


@pytest.mark.parametrize("args", [[T0, "long"], [T0, 1000, "a"], ["now", 1000]])
def test_heartbeat_malformed_arguments_error_naming_the_script(lua: Lua, args) -> None:
    with pytest.raises(redis.ResponseError, match=r"^heartbeat: "):
        lua("heartbeat-1", *args)
