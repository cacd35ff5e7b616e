"""The flattened Lua scripts (``lua/dist``) and running them with EVALSHA.

Scripts are read once per process; their SHA1 is computed locally, so the first call
is a plain EVALSHA and NOSCRIPT (restart, failover, SCRIPT FLUSH) loads and retries.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from .commands import Call
from .errors import ProtocolMismatch, ReplicationTimeout

__all__ = ["Script", "SCRIPTS", "script_dir", "run_call", "run_call_replicated", "check_replicas",
           "map_response_error"]


@dataclass(frozen=True, slots=True)
class Script:
    """One flattened script: name (``claim-7``), source, sha1, number of KEYS."""

    name: str
    source: str
    sha: str
    nkeys: int


def script_dir() -> Path:
    """Where the flattened scripts are: inside the installed package, else the checkout."""
    packaged = Path(__file__).resolve().parent / "lua"
    if any(packaged.glob("*.lua")):
        return packaged
    checkout = Path(__file__).resolve().parents[2] / "lua" / "dist"
    if any(checkout.glob("*.lua")):
        return checkout
    raise RuntimeError(f"rediq: Lua scripts not found in {packaged} or {checkout}; "
                       "reinstall the package (the wheel carries them)")


def _load() -> dict[str, Script]:
    scripts = {}
    for path in sorted(script_dir().glob("*.lua")):
        source = path.read_text()
        name = path.stem
        scripts[name] = Script(name, source, hashlib.sha1(source.encode()).hexdigest(),
                               int(name.rsplit("-", 1)[1]))
    return scripts


SCRIPTS = _load()


def map_response_error(exc: redis.ResponseError) -> Exception:
    """Turn a script's error reply into rediq's error where one fits."""
    if "protocol version mismatch" in str(exc):
        return ProtocolMismatch(str(exc).split("rediq: ", 1)[-1])
    return exc


def run_call(r: Any, call: Call) -> Any:
    """Run ``call`` on the sync client ``r`` with EVALSHA; on NOSCRIPT run it once with
    EVAL, which also caches the script (a SCRIPT FLUSH between a SCRIPT LOAD and the
    retried EVALSHA cannot fail the call)."""
    script = SCRIPTS[call.script]
    try:
        try:
            return r.evalsha(script.sha, script.nkeys, *call.keys, *call.args)
        except redis.exceptions.NoScriptError:
            return r.eval(script.source, script.nkeys, *call.keys, *call.args)
    except redis.ResponseError as exc:
        raise map_response_error(exc) from None


def check_replicas(acked: Any, wanted: int, timeout_ms: int) -> None:
    """Raise ReplicationTimeout if WAIT reported fewer replicas than ``wanted``."""
    if int(acked) < wanted:
        raise ReplicationTimeout(int(acked), wanted, timeout_ms)


def run_call_replicated(r: Any, call: Call, replicas: int, timeout_ms: int) -> Any:
    """Run ``call`` then ``WAIT replicas timeout_ms`` on the same connection (a pipeline).

    Raises:
        ReplicationTimeout: fewer replicas acknowledged the write in time.
    """
    script = SCRIPTS[call.script]
    for use_sha in (True, False):
        pipe = r.pipeline(transaction=False)
        if use_sha:
            pipe.evalsha(script.sha, script.nkeys, *call.keys, *call.args)
        else:
            pipe.eval(script.source, script.nkeys, *call.keys, *call.args)
        pipe.execute_command("WAIT", replicas, timeout_ms)
        reply, acked = pipe.execute(raise_on_error=False)
        if use_sha and isinstance(reply, redis.exceptions.NoScriptError):
            continue
        if isinstance(reply, redis.ResponseError):
            raise map_response_error(reply)
        if isinstance(reply, Exception):
            raise reply
        check_replicas(acked, replicas, timeout_ms)
        return reply
    raise AssertionError("unreachable")
