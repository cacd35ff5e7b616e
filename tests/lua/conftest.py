"""Raw Lua harness: run the flattened scripts (lua/dist) with explicit KEYS/ARGV through
EVALSHA, on both backends (the ``braw`` fixture), and read the raw Redis state back.

Nothing here goes through the Python client: the scripts are the product under test.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Iterator

import pytest
import redis

DIST = Path(__file__).resolve().parents[2] / "lua" / "dist"
BASE = "{rediq:q}"

# KEYS of each script, in the order its header declares them (names are key suffixes).
SCRIPT_KEYS: dict[str, list[str]] = {
    "enqueue-5": ["meta", "wait", "prio", "delayed", "wake"],
    "claim-7": ["meta", "wait", "prio", "delayed", "active", "wake", "limit"],
    "complete-8": ["meta", "wait", "prio", "delayed", "active", "wake", "limit", "completed"],
    "fail-7": ["meta", "wait", "prio", "delayed", "active", "wake", "failed"],
    "heartbeat-1": ["active"],
    "recover_stalled-6": ["meta", "wait", "prio", "active", "failed", "wake"],
    "release-5": ["meta", "wait", "prio", "active", "wake"],
    "pause-2": ["meta", "wake"],
    "configure-1": ["meta"],
    "counts-7": ["meta", "wait", "prio", "delayed", "active", "completed", "failed"],
    "retry_failed-5": ["meta", "wait", "prio", "failed", "wake"],
    "remove-6": ["wait", "prio", "delayed", "active", "completed", "failed"],
    "obliterate-9": ["meta", "wait", "prio", "delayed", "active", "completed", "failed",
                     "wake", "limit"],
    "progress-1": ["active"],
    "trim-3": ["meta", "completed", "failed"],
    "leased-1": ["active"],
}


def key(name: str, base: str = BASE) -> str:
    """The key of one queue structure (``meta``, ``wait``...) or ``job:<id>``."""
    return f"{base}:{name}"


def _s(v: Any) -> Any:
    """Decode replies to str where they are UTF-8 (binary payloads stay bytes)."""
    if isinstance(v, bytes):
        try:
            return v.decode()
        except UnicodeDecodeError:
            return v
    if isinstance(v, list):
        return [_s(x) for x in v]
    return v


class Lua:
    """Runs dist scripts by name with raw ARGV; KEYS come from SCRIPT_KEYS for ``base``."""

    def __init__(self, r: redis.Redis, base: str = BASE) -> None:
        self.r = r
        self.base = base
        self.src = {n: (DIST / f"{n}.lua").read_text() for n in SCRIPT_KEYS}
        self.sha = {n: hashlib.sha1(s.encode()).hexdigest() for n, s in self.src.items()}

    def keys(self, script: str) -> list[str]:
        return [key(k, self.base) for k in SCRIPT_KEYS[script]]

    def raw(self, script: str, keys: list[str], args: list[Any]) -> Any:
        """EVALSHA ``script`` with exactly these KEYS and ARGV (SCRIPT LOAD on NOSCRIPT)."""
        try:
            return self.r.evalsha(self.sha[script], len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:
            assert self.r.script_load(self.src[script]) == self.sha[script]
            return self.r.evalsha(self.sha[script], len(keys), *keys, *args)

    def __call__(self, script: str, *args: Any) -> Any:
        """Run ``script`` with its declared KEYS of this queue and ``args``; str replies."""
        return _s(self.raw(script, self.keys(script), list(args)))

    # -- shortcuts used by many modules -------------------------------------------------
    def enqueue(self, now: int, *jobs: dict[str, Any]) -> list[int]:
        """Enqueue jobs given as dicts (id required; defaults for the rest)."""
        args: list[Any] = [now, len(jobs)]
        for j in jobs:
            args += [j["id"], j.get("runs", "task"), j.get("data", b"\x91\x01"), j.get("priority", 0),
                     j.get("attempts", 1), j.get("backoff", ""), j.get("timeout", 0), j.get("delay", 0)]
        return self("enqueue-5", *args)

    def add(self, now: int, *ids: str, **opts: Any) -> None:
        """Enqueue plain jobs ``ids`` with the same options."""
        assert self.enqueue(now, *({"id": i, **opts} for i in ids)) == [0] * len(ids)

    def claim(self, now: int, max_jobs: int = 1, token: str = "t1", lease: int = 1000) -> list[Any]:
        return self("claim-7", now, max_jobs, token, lease)

    def configure(self, **settings: Any) -> list[str]:
        args: list[Any] = []
        for f, v in settings.items():
            args += [f, v]
        return self("configure-1", *args)

    # -- raw state ------------------------------------------------------------------------
    def job(self, job_id: str) -> dict[str, str]:
        return {_s(k): _s(v) for k, v in self.r.hgetall(key(f"job:{job_id}", self.base)).items()}

    def meta(self) -> dict[str, str]:
        return {_s(k): _s(v) for k, v in self.r.hgetall(key("meta", self.base)).items()}

    def lst(self, name: str) -> list[str]:
        return _s(self.r.lrange(key(name, self.base), 0, -1))

    def zset(self, name: str) -> list[tuple[str, float]]:
        return [(_s(m), s) for m, s in self.r.zrange(key(name, self.base), 0, -1, withscores=True)]

    def zids(self, name: str) -> list[str]:
        return [m for m, _ in self.zset(name)]

    def all_keys(self) -> list[str]:
        return sorted(_s(self.r.keys("*")))


def claimed_ids(reply: list[Any]) -> list[str]:
    """The job ids of a claim reply ({status, next_ms, 5 values per job})."""
    return [reply[i] for i in range(2, len(reply), 5)]


@pytest.fixture
def lua(braw: redis.Redis) -> Iterator[Lua]:
    """The dist scripts on a flushed server, once per backend (Redis 7.0 and Valkey)."""
    yield Lua(braw)
