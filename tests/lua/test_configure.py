"""configure-1: queue-wide settings in meta, validated, reporting what changed."""

from __future__ import annotations

import pytest
import redis

from .conftest import Lua, key

FIELDS = ["rate_max", "rate_period_ms", "global_concurrency", "max_stalls",
          "keep_completed_age_ms", "keep_completed_count", "keep_failed_age_ms",
          "keep_failed_count"]


def test_configure_creates_meta_and_reports_changed_fields_with_old_values(lua: Lua) -> None:
    assert lua.configure(rate_max="10", rate_period_ms="1000") == ["rate_max", "", "rate_period_ms", ""]
    assert lua.meta() == {"version": "1", "rate_max": "10", "rate_period_ms": "1000"}
    assert lua.configure(rate_max="10", rate_period_ms="500") == ["rate_period_ms", "1000"]
    assert lua.meta()["rate_period_ms"] == "500"


def test_configure_accepts_every_known_field(lua: Lua) -> None:
    changed = lua.configure(**{f: str(i) for i, f in enumerate(FIELDS, 1)})
    assert changed[0::2] == FIELDS
    assert lua.meta() == {"version": "1", **{f: str(i) for i, f in enumerate(FIELDS, 1)}}


def test_configure_empty_value_removes_the_setting(lua: Lua) -> None:
    lua.configure(global_concurrency="4", keep_failed_count="-1")
    assert lua.configure(global_concurrency="") == ["global_concurrency", "4"]
    assert lua.meta() == {"version": "1", "keep_failed_count": "-1"}
    assert lua.configure(global_concurrency="") == []


def test_configure_with_same_values_changes_nothing(lua: Lua) -> None:
    lua.configure(max_stalls="2")
    assert lua.configure(max_stalls="2") == []


def test_configure_unknown_field_errors_and_changes_nothing(lua: Lua) -> None:
    with pytest.raises(redis.ResponseError, match="^configure: unknown field concurrency"):
        lua.configure(max_stalls="3", concurrency="5")
    assert lua.all_keys() == []


@pytest.mark.parametrize("value", ["1.5", "inf", "nan", "0x10", "1e3", " 5", "ten"])
def test_configure_non_integer_value_errors_naming_the_field(lua: Lua, value) -> None:
    lua.configure(rate_max="1")
    with pytest.raises(redis.ResponseError, match="^configure: rate_max must be an integer"):
        lua.configure(max_stalls="3", rate_max=value)
    assert lua.meta() == {"version": "1", "rate_max": "1"}


def test_configure_field_without_value_is_an_error(lua: Lua) -> None:
    with pytest.raises(redis.ResponseError, match="^configure: max_stalls must be an integer"):
        lua("configure-1", "max_stalls")


def test_configure_refuses_a_queue_of_another_protocol_version(lua: Lua) -> None:
    lua.r.hset(key("meta"), "version", "7")
    with pytest.raises(redis.ResponseError, match="protocol version mismatch"):
        lua.configure(max_stalls="3")
    assert lua.meta() == {"version": "7"}
