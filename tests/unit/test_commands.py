"""Sans-I/O core (rediq.commands, keys, config): no Redis. build_* give the KEYS/ARGV the
script headers declare; parse_* read raw replies; validation names the bad option."""

from __future__ import annotations

import math
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from rediq import codec
from rediq import commands as C
from rediq._lost_claims import LEASED_LIMIT, build_leased_for, build_release_of_lost, lease_token
from rediq.config import Backoff, QueueConfig, RateLimit, seconds_to_ms
from rediq.errors import Code, EncodeError, InvalidQueueName
from rediq.keys import QueueKeys, validate_queue_name

LUA = Path(__file__).resolve().parents[2] / "lua"
K = QueueKeys.of("emails", "app")


def header_roles(script: str) -> list[str]:
    head = (LUA / f"{script}.lua").read_text().split("]]", 1)[0]
    block = head[head.index("KEYS:"):head.index("ARGV:")]
    return re.findall(r"^\s+\d+\s+[a-z_]+\s+\w+\s+\{prefix:queue\}:([a-z_]+)", block, re.M)


def spec(**kw) -> C.JobSpec:
    return C.make_job_spec("send", {"to": "x"}, job_id="j1", **kw)


ALL_CALLS = [
    C.build_enqueue(K, [spec()]), C.build_claim(K, 5, "tok", 30000),
    C.build_complete(K, [("j1", "t", b"r")], 1, "tok", 30000),
    C.build_fail(K, "j1", "t", "err", 0.5), C.build_heartbeat(K, 30000, [("j1", "t")]),
    C.build_recover_stalled(K, 1000, 1), C.build_release(K, [("j1", "t", True)]),
    C.build_pause(K, True), C.build_configure(K, {"max_stalls": "1"}), C.build_counts(K),
    C.build_retry_failed(K), C.build_remove(K, "j1"), C.build_obliterate(K),
    C.build_progress(K, "j1", "t", b"p"), C.build_trim(K),
    C.build_leased(K, "tok", 10),
]


# -- keys ---------------------------------------------------------------------------------

def test_queue_keys_share_one_hash_tag() -> None:
    assert K.base == "{app:emails}"
    assert (K.meta, K.wait, K.prio, K.delayed, K.active, K.wake, K.limit, K.completed, K.failed) == tuple(
        "{app:emails}:" + n for n in ("meta", "wait", "prio", "delayed", "active", "wake", "limit",
                                      "completed", "failed"))
    assert K.job("42") == "{app:emails}:job:42"
    assert QueueKeys.of("q").base == "{rediq:q}"


@pytest.mark.parametrize("name", ["", "a b", "a{b", "a}b", "a:b", "x" * 201, "é",
                                  "a\n"])
def test_invalid_queue_names_raise_invalid_queue_name(name: str) -> None:
    with pytest.raises(InvalidQueueName, match="queue name"):
        QueueKeys.of(name)


def test_invalid_prefix_raises_invalid_queue_name_naming_the_prefix() -> None:
    with pytest.raises(InvalidQueueName, match="key prefix"):
        QueueKeys.of("q", "bad prefix")


def test_non_str_queue_name_raises_invalid_queue_name_naming_the_type() -> None:
    with pytest.raises(InvalidQueueName, match="must be a str, not int"):
        validate_queue_name(5)
    assert issubclass(InvalidQueueName, ValueError)


def test_longest_valid_queue_name_is_accepted() -> None:
    assert validate_queue_name("a-b_c.D9" + "x" * 192) == "a-b_c.D9" + "x" * 192


# -- every build_* against the script headers -------------------------------------------------

@pytest.mark.parametrize("call", ALL_CALLS + [
    build_release_of_lost(C.build_claim(K, 2, "tok", 30000), [0, -1], ["j9"])[0]],
    ids=lambda c: c.script)
def test_build_call_names_a_dist_script_and_passes_the_header_keys_in_order(call: C.Call) -> None:
    assert (LUA / "dist" / f"{call.script}.lua").is_file()
    assert len(call.keys) == int(call.script.rsplit("-", 1)[1])
    assert call.keys == [f"{K.base}:{role}" for role in header_roles(call.script)]


def test_build_calls_cover_every_script() -> None:
    assert sorted(c.script for c in ALL_CALLS) == sorted(p.stem for p in LUA.glob("*-*.lua"))


# -- enqueue --------------------------------------------------------------------------------

def test_make_job_spec_defaults_and_encodes_payload_with_msgpack() -> None:
    s = C.make_job_spec("send", {"to": "x"})
    assert re.fullmatch(r"[0-9a-f]{32}", s.id)
    assert s[1:] == ("send", codec.encode({"to": "x"}), 0, 1, "", 0, 0)
    assert codec.decode(s.data) == {"to": "x"}


def test_make_job_spec_converts_seconds_to_ms_and_backoff_to_wire_form() -> None:
    s = spec(delay=1.5, timeout=timedelta(seconds=2), priority=-3, attempts=4,
             backoff=Backoff.exponential(0.5, cap=10, jitter=0.25))
    assert (s.delay_ms, s.timeout_ms, s.priority, s.attempts) == (1500, 2000, -3, 4)
    assert s.backoff == "exponential:500:10000:0.25"
    assert spec(backoff=2).backoff == "fixed:2000:0:0.0"
    assert spec(delay=0.0001).delay_ms == 1  # rounds up, never to zero


@pytest.mark.parametrize("kw, exc, name", [
    ({"runs": 5}, TypeError, "runs"), ({"runs": ""}, ValueError, "runs"),
    ({"runs": "x" * 201}, ValueError, "runs"),
    ({"job_id": 7}, TypeError, "job_id"), ({"job_id": ""}, ValueError, "job_id"),
    ({"job_id": "x" * 257}, ValueError, "job_id"),
    ({"priority": 1.5}, TypeError, "priority"), ({"priority": True}, TypeError, "priority"),
    ({"priority": 2**20 + 1}, ValueError, "priority"), ({"priority": -2**20 - 1}, ValueError, "priority"),
    ({"attempts": 0}, ValueError, "attempts"), ({"attempts": "3"}, TypeError, "attempts"),
    ({"backoff": "fixed"}, TypeError, "backoff"), ({"backoff": True}, TypeError, "backoff"),
    ({"timeout": 0}, ValueError, "timeout"), ({"timeout": "1"}, TypeError, "timeout"),
    ({"delay": -1}, ValueError, "delay"), ({"delay": math.nan}, ValueError, "delay"),
    ({"delay": math.inf}, ValueError, "delay"),
])
def test_make_job_spec_rejects_bad_options_naming_them(kw, exc, name) -> None:
    args = {"runs": "send", "data": 1, **kw}
    runs, data = args.pop("runs"), args.pop("data")
    with pytest.raises(exc, match=name):
        C.make_job_spec(runs, data, **args)


def test_make_job_spec_rejects_unencodable_and_oversized_payloads() -> None:
    with pytest.raises(EncodeError, match="payload of job j1 \\(send\\) cannot be encoded"):
        C.make_job_spec("send", {"x": object()}, job_id="j1")
    with pytest.raises(EncodeError, match="limit is 10"):
        C.make_job_spec("send", "x" * 20, job_id="j1", max_payload=10)


def test_build_enqueue_flattens_eight_values_per_job_and_the_clock() -> None:
    a, b = spec(), C.make_job_spec("r", None, job_id="j2", priority=2, delay=1)
    call = C.build_enqueue(K, [a, b], now=1234)
    assert call.script == "enqueue-5"
    assert call.args == ["1234", 2, "j1", "send", a.data, 0, 1, "", 0, 0,
                         "j2", "r", codec.encode(None), 2, 1, "", 0, 1000]
    assert C.build_enqueue(K, [a]).args[0] == ""


def test_parse_enqueue_says_which_jobs_already_existed() -> None:
    assert C.parse_enqueue([0, 1, b"0"]) == [False, True, False]


# -- claim / complete / fail ------------------------------------------------------------------

def test_build_claim_passes_clock_max_token_lease() -> None:
    assert C.build_claim(K, 5, "tok", 30000, now=7).args == ["7", 5, "tok", 30000]


def test_parse_claim_decodes_jobs_and_keeps_payload_bytes() -> None:
    res = C.parse_claim([0, 250, b"j1", b"send", b"\x81", 2, 0, b"j2", b"r", b"", 1, 500])
    assert (res.status, res.next_ms) == (0, 250)
    assert [(j.id, j.runs, j.data, j.attempt, j.timeout_ms) for j in res.jobs] == \
        [("j1", "send", b"\x81", 2, 0), ("j2", "r", b"", 1, 500)]
    assert C.parse_claim([Code.RATE_LIMITED, 40]) == C.ClaimResult(-4, 40, [])


def test_build_complete_appends_id_token_result_triples() -> None:
    call = C.build_complete(K, [("a", "t1", b"r1"), ("b", "t1", b"r2")], 2, "t2", 100, now=9)
    assert call.args == ["9", 2, "t2", 100, "a", "t1", b"r1", "b", "t1", b"r2"]


def test_parse_complete_splits_codes_and_claim() -> None:
    codes, claim = C.parse_complete([[0, -2, 2], [-3, -1]])
    assert codes == [0, -2, 2] and claim == C.ClaimResult(-3, -1, [])


def test_build_fail_passes_rand_and_final_flag() -> None:
    assert C.build_fail(K, "a", "t", "boom", 0.25, final=True, now=3).args == \
        ["3", "a", "t", "boom", "0.25", "1"]
    assert C.build_fail(K, "a", "t", "boom", 0).args[4:] == ["0.0", "0"]


def test_parse_fail_reads_code_state_delay() -> None:
    assert C.parse_fail([0, b"delayed", 500]) == C.FailResult(0, "delayed", 500)


# -- the rest ---------------------------------------------------------------------------------

def test_build_heartbeat_passes_id_token_pairs() -> None:
    assert C.build_heartbeat(K, 100, [("a", "t1"), ("b", "t2")]).args == ["", 100, "a", "t1", "b", "t2"]


def test_build_recover_stalled_and_parse_its_two_lists() -> None:
    assert C.build_recover_stalled(K, 10, 2, now=5).args == ["5", 10, 2]
    assert C.parse_recover_stalled([[b"a"], [b"b", b"c"]]) == (["a"], ["b", "c"])


def test_build_release_marks_started_jobs() -> None:
    assert C.build_release(K, [("a", "t", True), ("b", "t", False)]).args == \
        ["", "a", "t", "1", "b", "t", "0"]


def test_build_pause_configure_counts_retry_remove_obliterate_progress_args() -> None:
    assert C.build_pause(K, True).args == ["1"] and C.build_pause(K, False).args == ["0"]
    assert C.build_configure(K, {"rate_max": "5", "global_concurrency": ""}).args == \
        ["rate_max", "5", "global_concurrency", ""]
    assert C.build_counts(K).args == []
    assert C.build_retry_failed(K, ["a", "b"], limit=5).args == [5, "a", "b"]
    assert C.build_remove(K, "a", force=True).args == ["a", "1"]
    assert C.build_obliterate(K).args == ["0", 1000]
    assert C.build_progress(K, "a", "t", b"v").args == ["a", "t", b"v"]


def test_parse_configure_counts_ids_codes() -> None:
    assert C.parse_configure([b"rate_max", b"", b"max_stalls", b"1"]) == {"rate_max": "", "max_stalls": "1"}
    assert C.parse_counts([1, 2, 3, 4, 5, 1, 6]) == {
        "waiting": 1, "delayed": 2, "active": 3, "completed": 4, "failed": 5, "paused": 1, "stalled": 6}
    assert C.parse_ids([b"a", "b"]) == ["a", "b"]
    assert C.parse_codes([0, b"-1"]) == [0, -1]


# -- config -----------------------------------------------------------------------------------

@pytest.mark.parametrize("value, ms", [(0, 0), (1, 1000), (0.0015, 2), (timedelta(minutes=1), 60000)])
def test_seconds_to_ms_rounds_up_to_whole_ms(value, ms) -> None:
    assert seconds_to_ms(value, "x") == ms


@pytest.mark.parametrize("value, exc", [(True, TypeError), ("1", TypeError), (-1, ValueError),
                                        (math.inf, ValueError), (math.nan, ValueError)])
def test_seconds_to_ms_rejects_bad_durations_naming_them(value, exc) -> None:
    with pytest.raises(exc, match="lease"):
        seconds_to_ms(value, "lease")
    with pytest.raises(ValueError, match="positive"):
        seconds_to_ms(0, "lease", allow_zero=False)


def test_backoff_spec_is_the_fail_script_wire_form() -> None:
    assert Backoff.fixed(0.25).spec() == "fixed:250:0:0.0"
    assert Backoff.exponential(1, cap=60, jitter=1).spec() == "exponential:1000:60000:1.0"


@pytest.mark.parametrize("kw, name", [({"kind": "linear"}, "Backoff.kind"), ({"jitter": 2}, "Backoff.jitter"),
                                      ({"jitter": True}, "Backoff.jitter"), ({"base": -1}, "Backoff.base"),
                                      ({"cap": "x"}, "Backoff.cap")])
def test_backoff_rejects_bad_values_naming_them(kw, name) -> None:
    with pytest.raises((TypeError, ValueError), match=re.escape(name)):
        Backoff(**kw)


def test_rate_limit_validates_and_converts_period() -> None:
    assert RateLimit(10, 0.5).period_ms == 500
    with pytest.raises(ValueError, match="RateLimit.max"):
        RateLimit(0)
    with pytest.raises(TypeError, match="RateLimit.max"):
        RateLimit(1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="RateLimit.period"):
        RateLimit(1, 0)


@pytest.mark.parametrize("kw, exc, name", [
    ({"concurrency": 0}, ValueError, "concurrency"), ({"concurrency": 10_001}, ValueError, "concurrency"),
    ({"concurrency": 1.0}, TypeError, "concurrency"), ({"rate_limit": 5}, TypeError, "rate_limit"),
    ({"global_concurrency": -1}, ValueError, "global_concurrency"),
    ({"lease": 0.05}, ValueError, "lease"), ({"lease": 0}, ValueError, "lease"),
    ({"max_stalls": -1}, ValueError, "max_stalls"), ({"keep_completed": -1}, ValueError, "keep_completed"),
    ({"keep_completed_count": -1}, ValueError, "keep_completed_count"),
    ({"keep_failed": "week"}, TypeError, "keep_failed"),
    ({"keep_failed_count": None}, TypeError, "keep_failed_count"),
])
def test_queue_config_rejects_bad_options_naming_them(kw, exc, name) -> None:
    with pytest.raises(exc, match=re.escape(name)):
        QueueConfig(**kw)


def test_queue_config_meta_settings_are_what_configure_accepts() -> None:
    cfg = QueueConfig(rate_limit=RateLimit(5, 2), global_concurrency=3, max_stalls=2,
                      keep_completed=0, keep_failed_count=7)
    assert cfg.meta_settings() == {
        "rate_max": "5", "rate_period_ms": "2000", "global_concurrency": "3", "max_stalls": "2",
        "keep_completed_age_ms": "0", "keep_completed_count": "10000",
        "keep_failed_age_ms": "604800000", "keep_failed_count": "7"}
    defaults = QueueConfig().meta_settings()
    assert defaults["rate_max"] == defaults["rate_period_ms"] == defaults["global_concurrency"] == ""
    known = re.search(r"local known = \{(.*?)\}", (LUA / "configure-1.lua").read_text(), re.S)[1]
    assert set(defaults) == set(re.findall(r"([a-z_]+) = true", known))
    assert QueueConfig().lease_ms == 30000


# -- batch enqueue and admin replies ----------------------------------------------------------

def test_spec_chunks_validates_every_item_before_yielding_any() -> None:
    items = [("send", i) for i in range(5)] + [("send", object())]
    chunks = C.spec_chunks(items, {}, 1 << 20, size=2)
    with pytest.raises(EncodeError):
        next(chunks)


def test_spec_chunks_splits_and_applies_defaults_then_item_options() -> None:
    items = [("a", 1), ("b", 2, {"priority": 5}), ("c", 3)]
    chunks = list(C.spec_chunks(items, {"attempts": 3}, 1 << 20, size=2))
    assert [[s.runs for s in ch] for ch in chunks] == [["a", "b"], ["c"]]
    assert [(s.attempts, s.priority) for ch in chunks for s in ch] == [(3, 0), (3, 5), (3, 0)]


@pytest.mark.parametrize("item", [("a",), ("a", 1, {}, 4), "ab", 5])
def test_spec_chunks_rejects_malformed_items(item) -> None:
    with pytest.raises(TypeError, match="enqueue_many items"):
        list(C.spec_chunks([item], {}, 1 << 20))


def test_spec_chunks_rejects_unknown_options_naming_them() -> None:
    with pytest.raises(TypeError, match="retries"):
        list(C.spec_chunks([("a", 1, {"retries": 3})], {}, 1 << 20))


def test_parse_retry_failed_asks_to_call_again_only_without_ids_while_moving() -> None:
    assert C.parse_retry_failed([1000, 5, []], False) == (1000, True)
    assert C.parse_retry_failed([3, 0, []], False) == (3, False)
    assert C.parse_retry_failed([0, 5, []], False) == (0, False)
    assert C.parse_retry_failed([1, 5, [0]], True) == (1, False)


def test_parse_remove_maps_codes_and_refuses_active_naming_force() -> None:
    assert C.parse_remove(0, "a") is True
    assert C.parse_remove(-1, "a") is False
    with pytest.raises(ValueError, match="force=True"):
        C.parse_remove(-6, "a")


def test_parse_obliterate_says_whether_to_call_again_and_refuses_active() -> None:
    assert C.parse_obliterate([0, 1], "q") is True
    assert C.parse_obliterate([0, 0], "q") is False
    with pytest.raises(ValueError, match="3 active jobs"):
        C.parse_obliterate([-6, 3], "q")


# -- a claim whose reply was lost (_lost_claims) ------------------------------------------------

def _claim_reply(*ids: str) -> list[Any]:
    reply: list[Any] = [0, -1]
    for i in ids:
        reply += [i, "h", b"", 1, 0]
    return reply


def test_lease_token_is_the_token_of_calls_that_claim_and_none_otherwise() -> None:
    assert lease_token(C.build_claim(K, 5, "tok", 30000)) == "tok"
    assert lease_token(C.build_complete(K, [("j1", "t", b"r")], 2, "tok2", 30000)) == "tok2"
    assert lease_token(C.build_complete(K, [("j1", "t", b"r")], 0, "tok2", 30000)) is None
    assert lease_token(C.build_heartbeat(K, 30000, [("j1", "t")])) is None


def test_leased_call_asks_for_the_token_on_the_active_set_with_the_same_clock() -> None:
    claim = C.build_claim(K, 5, "tok", 30000, now=123)
    assert build_leased_for(claim) == C.Call("leased-1", [K.active], [claim.args[0], "tok", LEASED_LIMIT])
    assert build_leased_for(C.build_claim(K, 5, "tok", 30000)).args[0] == ""   # the server clock


def test_queue_keys_of_any_key_of_a_queue_are_that_queues_keys() -> None:
    assert QueueKeys.of_key(K.active) == K and QueueKeys.of_key(K.job("7")) == K


def test_release_of_lost_hands_back_only_what_the_reply_did_not_bring() -> None:
    claim = C.build_claim(K, 2, "tok", 30000)
    release = build_release_of_lost(claim, _claim_reply("b"), [b"a", b"b", b"c"])
    assert release == (C.build_release(K, [("a", "tok", False), ("c", "tok", False)]), 2)
    assert build_release_of_lost(claim, _claim_reply("a", "b"), [b"a", b"b"]) is None


def test_release_of_lost_reads_the_claim_part_of_a_complete_reply() -> None:
    call = C.build_complete(K, [("j1", "t", b"r")], 1, "tok", 30000)
    release = build_release_of_lost(call, [[0], _claim_reply("x")], [b"x", b"y"])
    assert release == (C.build_release(K, [("y", "tok", False)]), 1)
