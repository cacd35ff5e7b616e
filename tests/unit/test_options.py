"""Connection options: LoggedRetry reports an outage once (not once per retry) and its
end once; LeanPacker packs exactly what redis-py's own packer packs."""

from __future__ import annotations

import asyncio
import logging

import pytest
import redis
from redis.backoff import NoBackoff

from rediq import _options
from rediq._options import AsyncLoggedRetry, LeanPacker, LoggedRetry


@pytest.fixture(autouse=True)
def fresh_outage(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_options, "OUTAGE", _options._Outage())


def flaky(failures: int) -> tuple[list[Exception], object]:
    seen: list[Exception] = []

    def do() -> str:
        if len(seen) < failures:
            seen.append(redis.ConnectionError(f"refused {len(seen)}"))
            raise seen[-1]
        return "ok"
    return seen, do


def test_an_outage_logs_one_warning_and_one_recovery_line(caplog: pytest.LogCaptureFixture) -> None:
    failed: list[Exception] = []
    seen, do = flaky(3)
    with caplog.at_level(logging.INFO, logger="rediq"):
        assert LoggedRetry(NoBackoff(), retries=5).call_with_retry(do, failed.append) == "ok"
    assert failed == seen   # redis-py's own failure handler still ran for each failure
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    infos = [r for r in caplog.records if r.levelno == logging.INFO]
    assert len(warnings) == 1 and "refused 0" in warnings[0].getMessage()
    assert len(infos) == 1 and "reachable again" in infos[0].getMessage()


def test_a_call_that_never_fails_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    _, do = flaky(0)
    with caplog.at_level(logging.INFO, logger="rediq"):
        LoggedRetry(NoBackoff(), retries=5).call_with_retry(do, lambda e: None)
    assert caplog.records == []


def test_retries_exhausted_raise_the_error_after_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    _, do = flaky(10)
    with caplog.at_level(logging.INFO, logger="rediq"), pytest.raises(redis.ConnectionError):
        LoggedRetry(NoBackoff(), retries=2).call_with_retry(do, lambda e: None)
    assert [r.levelno for r in caplog.records] == [logging.WARNING]


def test_the_async_retry_logs_the_same_way(caplog: pytest.LogCaptureFixture) -> None:
    seen, sync_do = flaky(2)
    failed: list[Exception] = []

    async def do() -> object:
        return sync_do()  # type: ignore[operator]

    async def fail(error: Exception) -> None:
        failed.append(error)

    with caplog.at_level(logging.INFO, logger="rediq"):
        assert asyncio.run(AsyncLoggedRetry(NoBackoff(), retries=5).call_with_retry(do, fail)) == "ok"
    assert failed == seen
    assert [r.levelno for r in caplog.records] == [logging.WARNING, logging.INFO]


def default_packer() -> object:
    conn = redis.Connection()   # not connected: only its packer is used
    return conn._command_packer


@pytest.mark.parametrize("args", [
    ("EVALSHA", "a" * 40, 2, b"{q}:meta", "{q}:wait", b"\x00\xff", 0, -17, 2**63 - 1, 1.5, ""),
    ("SCRIPT LOAD", "return 1"),
    (b"CLIENT KILL", "TYPE", "normal"),
    ("SET", "k", memoryview(b"view")),
    ("SET", "k", bytearray(b"array")),
    ("HSET", "k", "f", "\u00e9\u6f22"),
], ids=["script-call", "two-word-str", "two-word-bytes", "memoryview", "bytearray", "non-ascii"])
def test_lean_packer_packs_what_the_default_packer_packs(args: tuple[object, ...]) -> None:
    # buffers as bytes for the default packer: redis-py 5 refuses a bytearray, 8 takes it
    plain = [bytes(a) if isinstance(a, (bytearray, memoryview)) else a for a in args]
    assert b"".join(LeanPacker().pack(*args)) == b"".join(default_packer().pack(*plain))  # type: ignore[attr-defined]


@pytest.mark.parametrize("bad", [True, None, object()])
def test_lean_packer_refuses_what_the_default_packer_refuses(bad: object) -> None:
    with pytest.raises(redis.DataError):
        default_packer().pack("SET", "k", bad)  # type: ignore[attr-defined]
    with pytest.raises(redis.DataError):
        LeanPacker().pack("SET", "k", bad)
