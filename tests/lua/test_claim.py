"""claim-7: lease ready jobs to a worker (order, delays, pause, caps, rate limit)."""

from __future__ import annotations

import random

import pytest
import redis

from .conftest import Lua, claimed_ids, key

T0 = 1_000_000


def test_claim_leases_a_job_and_replies_its_fields(lua: Lua) -> None:
    lua.enqueue(T0, {"id": "a", "runs": "send", "data": b"payload", "timeout": 700})
    reply = lua.claim(T0 + 10, 1, "tok", 5000)
    assert reply == [0, -1, "a", "send", "payload", 1, 700]
    job = lua.job("a")
    assert (job["state"], job["token"], job["attempts_made"], job["started_ms"]) == \
        ("active", "tok", "1", str(T0 + 10))
    assert lua.zset("active") == [("a", T0 + 10 + 5000)]
    assert lua.lst("wait") == []


def test_claim_takes_a_batch_in_fifo_order_with_one_lease_deadline(lua: Lua) -> None:
    lua.add(T0, "a", "b", "c", "d")
    reply = lua.claim(T0, 3, "tok", 1000)
    assert claimed_ids(reply) == ["a", "b", "c"]
    assert lua.zset("active") == [("a", T0 + 1000), ("b", T0 + 1000), ("c", T0 + 1000)]
    assert lua.lst("wait") == ["d"]
    assert {lua.job(i)["token"] for i in "abc"} == {"tok"}


def test_claim_orders_positive_priorities_then_the_list_then_negative_fifo_within(lua: Lua) -> None:
    lua.enqueue(T0, {"id": "n1", "priority": -1}, {"id": "z1"}, {"id": "p1a", "priority": 1},
                {"id": "p5", "priority": 5}, {"id": "z2"}, {"id": "n5", "priority": -5},
                {"id": "p1b", "priority": 1}, {"id": "n1b", "priority": -1},
                {"id": "max", "priority": 2**20})
    assert claimed_ids(lua.claim(T0, 20)) == ["max", "p5", "p1a", "p1b", "z1", "z2", "n1", "n1b", "n5"]


def test_claim_keeps_fifo_among_many_equal_high_priorities(lua: Lua) -> None:
    ids = [f"j{i:03}" for i in range(50)]
    lua.add(T0, *reversed(ids[:25]), priority=2**20)  # ids that sort opposite to FIFO
    lua.add(T0, *ids[25:], priority=2**20)
    assert claimed_ids(lua.claim(T0, 50)) == list(reversed(ids[:25])) + ids[25:]


def test_claim_in_small_batches_walks_priorities_in_order(lua: Lua) -> None:
    lua.enqueue(T0, {"id": "n", "priority": -2}, {"id": "z"}, {"id": "p", "priority": 2},
                {"id": "p2", "priority": 2})
    got = [claimed_ids(lua.claim(T0, 1))[0] for _ in range(4)]
    assert got == ["p", "p2", "z", "n"]
    assert lua.claim(T0, 1)[:2] == [0, -1]


def test_claim_promotes_delayed_jobs_exactly_when_due_in_due_order(lua: Lua) -> None:
    lua.enqueue(T0, {"id": "late", "delay": 300}, {"id": "soon", "delay": 100},
                {"id": "hi", "delay": 200, "priority": 3})
    assert lua.claim(T0 + 99, 5) == [0, 1]  # nothing due; next in 1 ms
    assert lua.job("soon")["state"] == "delayed"
    assert claimed_ids(lua.claim(T0 + 100, 5)) == ["soon"]
    reply = lua.claim(T0 + 300, 5)
    assert claimed_ids(reply) == ["hi", "late"]
    assert lua.zset("delayed") == []


def test_claim_promotes_due_delayed_jobs_into_waiting_structures_even_with_max_zero(lua: Lua) -> None:
    lua.enqueue(T0, {"id": "a", "delay": 10}, {"id": "b", "delay": 10, "priority": 4})
    assert lua.claim(T0 + 10, 0) == [0, -1]
    assert lua.lst("wait") == ["a"] and lua.zids("prio") == ["b"]
    assert lua.job("a")["state"] == lua.job("b")["state"] == "waiting"


def test_claim_next_ms_says_when_the_next_delayed_job_is_due(lua: Lua) -> None:
    lua.enqueue(T0, {"id": "a"}, {"id": "d", "delay": 5000})
    assert lua.claim(T0 + 1000, 5)[:2] == [0, 4000]
    assert lua.claim(T0 + 1000, 5)[:2] == [0, 4000]
    lua.r.delete(key("delayed"))
    assert lua.claim(T0 + 1000, 5) == [0, -1]


def test_claim_drops_a_delayed_id_whose_record_was_removed(lua: Lua) -> None:
    lua.r.zadd(key("delayed"), {"ghost": T0})
    assert lua.claim(T0, 1) == [0, -1]
    assert lua.zset("delayed") == [] and lua.lst("wait") == []
    assert lua.all_keys() == []


def test_claim_skips_an_id_whose_record_is_gone(lua: Lua) -> None:
    lua.add(T0, "a", "b")
    lua.r.delete(key("job:a"))
    assert claimed_ids(lua.claim(T0, 2)) == ["b"]
    assert lua.zids("active") == ["b"]


def test_claim_skips_paused_queue(lua: Lua) -> None:
    lua.add(T0, "a")
    lua.r.hset(key("meta"), "paused", "1")
    assert lua.claim(T0, 5) == [-3, -1]
    assert lua.lst("wait") == ["a"] and lua.job("a")["state"] == "waiting"
    assert lua.zset("active") == []


def test_claim_respects_global_concurrency_cap_across_workers(lua: Lua) -> None:
    lua.add(T0, *"abcde")
    lua.configure(global_concurrency=3)
    assert claimed_ids(lua.claim(T0, 2, "w1")) == ["a", "b"]
    assert claimed_ids(lua.claim(T0, 5, "w2")) == ["c"]
    assert lua.claim(T0, 5, "w3") == [-5, -1]
    assert len(lua.zset("active")) == 3
    assert lua.lst("wait") == ["d", "e"]


def test_claim_under_rate_limit_starts_at_most_max_and_says_when_a_slot_frees(lua: Lua) -> None:
    lua.add(T0, *"abcdef")
    lua.configure(rate_max=2, rate_period_ms=1000)
    reply = lua.claim(T0, 5)
    assert claimed_ids(reply) == ["a", "b"] and reply[:2] == [0, 1000]
    assert lua.lst("limit") == [str(T0), str(T0)]
    assert 0 < lua.r.pttl(key("limit")) <= 2000
    assert lua.claim(T0 + 400, 5) == [-4, 600]
    assert lua.claim(T0 + 999, 5) == [-4, 1]
    reply = lua.claim(T0 + 1000, 1)  # exactly one period later: both starts left the window
    assert claimed_ids(reply) == ["c"] and reply[1] == -1
    reply = lua.claim(T0 + 1500, 5)
    assert claimed_ids(reply) == ["d"] and reply[1] == 500
    assert lua.lst("limit") == [str(T0 + 1000), str(T0 + 1500)]


def test_claim_rate_limit_never_exceeds_max_starts_in_any_window(lua: Lua) -> None:
    rmax, period = 3, 100
    lua.configure(rate_max=rmax, rate_period_ms=period)
    lua.add(T0, *(f"j{i}" for i in range(60)))
    rng = random.Random(7)
    now, starts = T0, []
    for _ in range(150):
        now += rng.choice([0, 1, 7, 33, 50, 99, 100])
        reply = lua.claim(now, rng.randint(1, 4))
        starts += [now] * len(claimed_ids(reply))
        if reply[0] == -4:
            in_window = [s for s in starts if s > now - period]
            assert len(in_window) == rmax
            assert reply[1] == min(in_window) + period - now > 0
    assert len(starts) > 20
    for s in starts:  # every half-open window [s, s + period) holds at most rmax starts
        assert sum(1 for t in starts if s <= t < s + period) <= rmax


def test_claim_that_takes_max_leaves_a_wake_token_when_more_wait(lua: Lua) -> None:
    lua.add(T0, "a", "b", "c")
    lua.r.delete(key("wake"))
    lua.claim(T0, 2)
    assert lua.lst("wake") == ["1"]
    lua.r.delete(key("wake"))
    lua.claim(T0, 2)  # drained: no token
    assert lua.lst("wake") == []


def test_claim_caps_a_batch_at_1000_jobs(lua: Lua) -> None:
    lua.add(T0, *(f"j{i}" for i in range(1001)))
    lua.r.delete(key("wake"))
    assert len(claimed_ids(lua.claim(T0, 5000))) == 1000
    assert lua.lst("wait") == ["j1000"]
    assert lua.lst("wake") == ["1"]


def test_claim_of_malformed_record_still_leases_it_with_defaults(lua: Lua) -> None:
    lua.r.hset(key("job:m"), mapping={"state": "waiting", "attempts_made": "many",
                                      "timeout_ms": "soon"})
    lua.r.rpush(key("wait"), "m")
    assert lua.claim(T0, 1, "tok") == [0, -1, "m", "", "", 1, 0]
    assert lua.job("m")["attempts_made"] == "1" and lua.job("m")["state"] == "active"
    assert lua.zids("active") == ["m"]


def test_claim_refuses_a_queue_of_another_protocol_version(lua: Lua) -> None:
    lua.add(T0, "a")
    lua.r.hset(key("meta"), "version", "2")
    with pytest.raises(redis.ResponseError, match="protocol version mismatch"):
        lua.claim(T0, 1)
    assert lua.lst("wait") == ["a"] and lua.job("a")["state"] == "waiting"


@pytest.mark.parametrize("args", [["T", 1, "t", 10], [T0, "many", "t", 10], [T0, 1, "t", ""]])
def test_claim_malformed_arguments_error_naming_the_script(lua: Lua, args) -> None:
    with pytest.raises(redis.ResponseError, match=r"^claim: "):
        lua("claim-7", *args)


def test_claim_drops_a_job_key_of_another_type_without_losing_the_batch(lua: Lua) -> None:
    lua.add(T0, "a", "bad", "c")
    lua.r.delete(key("job:bad"))
    lua.r.set(key("job:bad"), "not a hash")
    assert claimed_ids(lua.claim(T0, 3, "t1")) == ["a", "c"]
    assert lua.zids("active") == ["a", "c"]
    assert lua.r.get(key("job:bad")) == b"not a hash"


def test_claim_promotes_a_delayed_record_with_unreadable_priority_to_the_list(lua: Lua) -> None:
    lua.add(T0, "d", delay=5)
    lua.r.hset(key("job:d"), "priority", "urgent")
    assert claimed_ids(lua.claim(T0 + 5, 1)) == ["d"]
