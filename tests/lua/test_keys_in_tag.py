"""Every script touches only its queue's hash tag: the keys it declares in KEYS, plus job
records ``{prefix:queue}:job:<id>`` derived inside the tag (Redis Cluster safety).

Each dist script runs in a checking mode: a prelude shadows the global ``redis`` with a
local whose ``call``/``pcall`` check every key argument before the real call, and raise
on an undeclared or out-of-tag key, or on a command the checker does not know.
"""

from __future__ import annotations

import hashlib
import re

import pytest
import redis

from helpers import lua_build

from .conftest import BASE, DIST, SCRIPT_KEYS, Lua, claimed_ids, key

LUA_DIR = DIST.parent
T0 = 1_000_000

# Which arguments of each command are keys: 'first' (the first), 'all' (every one), 'none'.
KEY_ARGS = {
    "DEL": "all", "EXISTS": "all", "TIME": "none",
    **{c: "first" for c in (
        "HSET", "HGET", "HMGET", "HINCRBY", "HDEL", "HEXISTS", "ZADD", "ZREM", "ZRANGE", "ZSCORE",
        "ZCARD", "ZPOPMIN", "ZREMRANGEBYRANK", "LPOP", "RPUSH", "LPUSH", "LLEN", "LINDEX",
        "LREM", "LRANGE", "PEXPIRE")},
}

PRELUDE = """
local real = redis
local __declared, __tag = {}, string.match(KEYS[1] or '', '^({[^}]*})')
if not __tag then error({err = 'keycheck: KEYS[1] ' .. tostring(KEYS[1]) .. ' has no hash tag'}) end
for i = 1, #KEYS do
  if string.sub(KEYS[i], 1, #__tag) ~= __tag then
    error({err = 'keycheck: KEYS[' .. i .. '] ' .. KEYS[i] .. ' is outside ' .. __tag})
  end
  __declared[KEYS[i]] = true
end
local __spec = {%(spec)s}
local function __check(cmd, ...)
  local c = string.upper(cmd)
  local how = __spec[c]
  if not how then error({err = 'keycheck: command ' .. c .. ' unknown to the checker'}) end
  local args, keys = {...}, {}
  if how == 'first' then keys = {args[1]} elseif how == 'all' then keys = args end
  for _, k in ipairs(keys) do
    k = tostring(k)
    local job = string.sub(k, 1, #__tag + 5) == __tag .. ':job:' and #k > #__tag + 5
    if not (__declared[k] or job) then
      error({err = 'keycheck: ' .. c .. ' touches undeclared key ' .. k})
    end
  end
end
local redis = setmetatable({
  call = function(cmd, ...) __check(cmd, ...) return real.call(cmd, ...) end,
  pcall = function(cmd, ...) __check(cmd, ...) return real.pcall(cmd, ...) end,
  error_reply = real.error_reply, status_reply = real.status_reply,
}, {__index = real})
""" % {"spec": ", ".join(f"{c} = '{h}'" for c, h in KEY_ARGS.items())}


def _behind_prelude(source: str) -> str:
    """The script with the prelude in front, after its flags line (which must stay first)."""
    shebang, body = lua_build().split_shebang(source)
    return shebang + PRELUDE + body


class CheckedLua(Lua):
    """The Lua harness, with every script source behind the key-checking prelude."""

    def __init__(self, r: redis.Redis, base: str = BASE) -> None:
        super().__init__(r, base)
        self.src = {n: _behind_prelude(s) for n, s in self.src.items()}
        self.sha = {n: hashlib.sha1(s.encode()).hexdigest() for n, s in self.src.items()}


@pytest.fixture
def checked(braw: redis.Redis) -> CheckedLua:
    return CheckedLua(braw)


def test_checker_knows_every_command_the_scripts_call() -> None:
    sources = [p.read_text() for p in [*LUA_DIR.glob("*-*.lua"), *LUA_DIR.glob("includes/*.lua")]]
    used = {c for s in sources for c in re.findall(r"redis\.p?call\('([A-Za-z]+)'", s)}
    assert not re.search(r"redis\.p?call\([^'\"]", "".join(sources)), "command names must be literals"
    assert used <= KEY_ARGS.keys(), f"teach the checker {used - KEY_ARGS.keys()}"


def test_checker_catches_an_undeclared_key_and_an_out_of_tag_key(braw: redis.Redis) -> None:
    for body, keys in [("return redis.call('GET', KEYS[1] .. 'x')", [key("meta")]),
                       ("return redis.call('LLEN', '{other}:wait')", [key("meta")]),
                       ("return redis.call('DEL', KEYS[1], 'loose')", [key("meta")]),
                       ("return redis.call('LLEN', KEYS[2])", [key("meta"), "{other}:wait"])]:
        src = PRELUDE + body
        with pytest.raises(redis.ResponseError, match="keycheck"):
            braw.eval(src, len(keys), *keys)
    assert braw.eval(PRELUDE + "return redis.call('HGET', KEYS[1] .. ':job:7', 'x')", 1, BASE) is None


def test_every_script_touches_only_declared_keys_and_job_records_of_its_tag(checked: CheckedLua) -> None:
    """One lifecycle that drives every script through its key-touching paths."""
    lua = checked
    other = Lua(lua.r, "{rediq:other}")
    other.add(T0, "o1")  # a neighbour queue that must stay untouched
    neighbour = sorted(k for k in lua.all_keys() if k.startswith("{rediq:other}"))
    snapshot = {k: lua.r.dump(k) for k in neighbour}

    assert lua.configure(rate_max="50", rate_period_ms="1000", global_concurrency="20",
                         max_stalls="1", keep_completed_count="2", keep_failed_count="2",
                         keep_completed_age_ms="5000", keep_failed_age_ms="5000")
    lua.enqueue(T0, *({"id": f"j{i}"} for i in range(8)), {"id": "p", "priority": 3},
                {"id": "n", "priority": -3}, {"id": "d", "delay": 10},
                {"id": "b", "attempts": 3, "backoff": "exponential:10:100:0.5"})
    assert lua.enqueue(T0, {"id": "j0"}) == [1]
    reply = lua.claim(T0 + 10, 6, "t1", 100)  # promotes d; rate log; prio and list
    held = claimed_ids(reply)
    assert len(held) == 6
    assert lua("heartbeat-1", T0 + 20, 100, *[x for i in held for x in (i, "t1")], "ghost", "t") == ["ghost"]
    assert lua("progress-1", held[0], "t1", b"50%") == 0
    codes, claim2 = lua("complete-8", T0 + 30, 3, "t2", 100, *[x for i in held[:3] for x in (i, "t1", b"r")])
    assert codes == [0, 0, 0] and len(claimed_ids(claim2)) == 3  # trims completed to 2
    for i in held[3:5]:
        assert lua("fail-7", T0 + 40, i, "t1", "err", "0.5", "1")[1] == "failed"  # trims failed
    assert lua("leased-1", T0 + 40, "t1", 100) == [held[5]]
    assert lua("release-5", "", held[5], "t1", "0") == [0]
    lua("pause-2", "1")
    lua("pause-2", "0")
    assert lua("counts-7")[2] == 3
    recovered, failed_ids = lua("recover_stalled-6", T0 + 1000, 100, 1)
    assert len(recovered) == 3 and failed_ids == []
    again = claimed_ids(lua.claim(T0 + 1000, 20, "t3", 100))
    assert set(recovered) <= set(again)
    back, failed_ids = lua("recover_stalled-6", T0 + 2000, 100, 1)
    assert sorted(failed_ids) == sorted(recovered) and back  # second stall fails
    lua.enqueue(T0 + 2000, {"id": "r1", "attempts": 3, "backoff": "fixed:10:0:0"})
    assert any("r1" in claimed_ids(lua.claim(T0 + 2000, 5, "t4", 100)) for _ in range(10))
    assert lua("fail-7", T0 + 2000, "r1", "t4", "retry", "0.1", "0")[1] == "delayed"
    assert lua("retry_failed-5", 10, lua.zids("failed")[-1], "ghost")[2] == [0, -1]
    assert lua("retry_failed-5", 10)[0] >= 1
    lua.configure(keep_completed_count="0", keep_failed_age_ms="0")
    lua.claim(T0 + 3000, 1, "t5", 100)
    assert lua("remove-6", "n", "1") in (0, -1)
    assert lua("remove-6", "ghost", "0") == -1
    assert lua("obliterate-9", "0", 3)[0] in (0, -6)
    assert any(lua("obliterate-9", "1", 3) == [0, 0] for _ in range(20))
    assert [k for k in lua.all_keys() if k.startswith(BASE)] == []
    assert {k: lua.r.dump(k) for k in neighbour} == snapshot


@pytest.mark.parametrize("script", sorted(SCRIPT_KEYS))
def test_every_script_runs_under_the_checker_on_an_empty_queue(checked: CheckedLua, script) -> None:
    args = {"enqueue-5": ["", 1, "a", "task", b"d", 0, 1, "", 0, 0], "claim-7": ["", 5, "t", 100],
            "complete-8": ["", 5, "t", 100, "a", "t", b"r"], "fail-7": ["", "a", "t", "e", "0", "0"],
            "heartbeat-1": ["", 100, "a", "t"], "recover_stalled-6": ["", 10, 1],
            "release-5": ["", "a", "t", "1"], "pause-2": ["1"], "configure-1": ["max_stalls", "2"],
            "counts-7": [], "retry_failed-5": [10, "a"], "remove-6": ["a", "1"],
            "obliterate-9": ["1", 10], "progress-1": ["a", "t", b"p"],
            "trim-3": [""], "leased-1": ["", "t", 10]}[script]
    checked(script, *args)  # raises on any key outside the declared KEYS and job records


@pytest.mark.parametrize("script", sorted(SCRIPT_KEYS))
def test_harness_passes_keys_in_the_order_the_script_header_declares(script: str) -> None:
    head = (LUA_DIR / f"{script}.lua").read_text().split("]]", 1)[0]
    block = head[head.index("KEYS:"):head.index("ARGV:")]
    roles = re.findall(r"^\s+\d+\s+[a-z_]+\s+\w+\s+\{prefix:queue\}:([a-z_]+)", block, re.M)
    assert roles == SCRIPT_KEYS[script]
