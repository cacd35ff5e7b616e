"""counts-7: an atomic snapshot of the per-state counts."""

from __future__ import annotations

from .conftest import Lua

T0 = 1_000_000


def test_counts_of_an_unknown_queue_are_zero(lua: Lua) -> None:
    assert lua("counts-7") == [0, 0, 0, 0, 0, 0, 0]


def test_counts_report_every_state_pause_and_stalls(lua: Lua) -> None:
    lua.add(T0, "w1", "w2")
    lua.add(T0, "p", priority=2)
    lua.add(T0, "d", delay=10_000)
    lua.add(T0, "c", "f", "s", "act")
    lua.claim(T0, 5, "t1", 100)  # p, w1, w2, c, f
    lua("complete-8", T0, 0, "x", 10, "c", "t1", b"r")
    lua("fail-7", T0, "f", "t1", "err", "0", "1")
    lua("release-5", "", "w1", "t1", "0", "w2", "t1", "0")
    lua("recover_stalled-6", T0 + 100, 10, 0)  # p stalls and fails (max_stalls 0)
    lua.claim(T0 + 100, 1, "t2", 100)  # w1
    lua("pause-2", "1")
    # waiting: w2, s, act; delayed: d; active: w1; completed: c; failed: f, p
    assert lua("counts-7") == [3, 1, 1, 1, 2, 1, 1]
