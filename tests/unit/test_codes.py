"""The Python ``Code`` enum mirrors ``lua/includes/codes.lua`` exactly."""

from __future__ import annotations

import re
from pathlib import Path

from rediq.errors import Code

CODES_LUA = Path(__file__).resolve().parents[2] / "lua" / "includes" / "codes.lua"


def lua_codes() -> dict[str, int]:
    """Parse the ``local CODES = { NAME = int, ... }`` table of codes.lua."""
    text = CODES_LUA.read_text()
    body = re.search(r"local CODES = \{(.*?)\n\}", text, re.S)
    assert body, "codes.lua must define `local CODES = { ... }`"
    entries = re.findall(r"^\s*([A-Z_]+)\s*=\s*(-?\d+)\s*,", body.group(1), re.M)
    lines = [ln for ln in body.group(1).splitlines() if ln.strip() and not ln.strip().startswith("--")]
    assert len(entries) == len(lines), f"unparsed lines in codes.lua: {lines}"
    return {name: int(value) for name, value in entries}


def test_code_enum_mirrors_codes_lua_names_and_values() -> None:
    assert {c.name: c.value for c in Code} == lua_codes()


def test_codes_lua_values_are_unique() -> None:
    values = list(lua_codes().values())
    assert len(values) == len(set(values))


def test_codes_lua_keeps_outcomes_positive_and_refusals_negative() -> None:
    codes = lua_codes()
    assert codes["OK"] == 0
    assert all(v > 0 for n, v in codes.items() if n in ("JOB_EXISTS", "ALREADY_FINISHED"))
    assert all(v < 0 for n, v in codes.items() if n not in ("OK", "JOB_EXISTS", "ALREADY_FINISHED"))
