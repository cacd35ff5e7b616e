"""The options rediq gives redis-py: logged retries, timeouts, a lean command packer.

- Retries: redis-py retries a command after a connection error or a socket timeout
  without a word; during an outage a worker would sit silently in its retries.
  :class:`LoggedRetry` (and its asyncio twin) logs the first failure of an outage at
  WARNING, at most one line every ``QUIET`` seconds per process while it lasts, and one
  INFO line when a command goes through again.
- Timeouts: over TCP a socket timeout is set so that a silent partition (a link that
  swallows traffic, no reset) surfaces as a timeout within ``SOCKET_TIMEOUT`` seconds
  instead of a ``recv()`` that blocks for as long as the OS keeps the dead connection;
  TCP keepalive is on as well. Every rediq script is bounded work (milliseconds), so the
  timeout never cuts a healthy call. A ``unix://`` socket cannot be partitioned and gets
  neither (a timeout costs a poll() per reply there); a URL option (``?socket_timeout=30``)
  or a keyword to ``from_url`` sets one anyway.
- Packing: :class:`LeanPacker` hands a command's arguments to hiredis as they are (the
  arguments rediq builds are already str, bytes or int); redis-py's default packer first
  re-encodes every argument in Python, about 15 us of client CPU per script call.
"""

from __future__ import annotations

import contextvars
import inspect
import logging
import threading
import time
from typing import Any, Callable

import redis
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

__all__ = ["LoggedRetry", "AsyncLoggedRetry", "LeanPacker", "connection_options", "SOCKET_TIMEOUT",
           "QUIET", "FAILURES"]

log = logging.getLogger("rediq")

SOCKET_TIMEOUT = 5.0   # seconds a command may wait for its reply before it is retried
QUIET = 10.0           # seconds between two warnings about the same outage
RETRIES = 25           # retries of one command (backoff 20 ms doubling to 1 s: about 25 s)


class _Outage:
    """Process-wide state of the current outage, shared by every connection."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._since = 0.0      # monotonic start of the outage, 0 when none
        self._warned = 0.0     # monotonic time of the last warning

    def failed(self, error: BaseException) -> None:
        now = time.monotonic()
        with self._lock:
            if not self._since:
                self._since = now
            if now - self._warned < QUIET:
                return
            self._warned, since = now, self._since
        log.warning("rediq: Redis call failed (%s: %s); retrying (down for %.1f s)",
                    type(error).__name__, error, now - since)

    def succeeded(self) -> None:
        if not self._since:   # the common case: no lock, nothing to say
            return
        with self._lock:
            since, self._since, self._warned = self._since, 0.0, 0.0
        if since:
            log.info("rediq: Redis reachable again after %.1f s", time.monotonic() - since)


OUTAGE = _Outage()

#: Connection failures retried so far in this thread or task: a call that sees it change
#: was repeated, and may have run on the server once before its repeat.
FAILURES: contextvars.ContextVar[int] = contextvars.ContextVar("rediq_failures", default=0)


def _failed(error: Exception) -> None:
    FAILURES.set(FAILURES.get() + 1)
    OUTAGE.failed(error)


class LoggedRetry(Retry):
    """redis-py's Retry that reports outages in the log (see the module docstring)."""

    def call_with_retry(self, do: Callable[[], Any], fail: Callable[..., Any],
                        *args: Any, **kwargs: Any) -> Any:
        def failed(error: Exception, *rest: Any) -> Any:
            _failed(error)
            return fail(error, *rest)

        result = super().call_with_retry(do, failed, *args, **kwargs)
        OUTAGE.succeeded()
        return result


class AsyncLoggedRetry(AsyncRetry):
    """The asyncio twin of :class:`LoggedRetry`."""

    async def call_with_retry(self, do: Callable[[], Any], fail: Callable[..., Any],
                              *args: Any, **kwargs: Any) -> Any:
        async def failed(error: Exception, *rest: Any) -> Any:
            _failed(error)
            result = fail(error, *rest)
            return await result if inspect.isawaitable(result) else result

        result = await super().call_with_retry(do, failed, *args, **kwargs)
        OUTAGE.succeeded()
        return result


class LeanPacker:
    """A redis-py ``command_packer`` that gives the arguments to hiredis unconverted.

    Arguments of other types (bytearray, or a bool or None, which redis-py refuses with
    DataError) go through redis-py's own encoder, so behaviour matches the default.
    """

    def __init__(self) -> None:
        import hiredis
        from redis.connection import Encoder  # type: ignore[attr-defined]

        self._pack = hiredis.pack_command
        self._encode: Callable[[Any], bytes] = Encoder("utf-8", "strict", False).encode  # type: ignore[no-untyped-call]

    def pack(self, *args: Any) -> list[bytes]:
        first = args[0]
        if isinstance(first, str):   # "SCRIPT LOAD", "CLIENT KILL": several words
            if " " in first:
                args = (*first.encode().split(), *args[1:])
        elif b" " in first:
            args = (*first.split(), *args[1:])
        try:
            return [self._pack(args)]
        except TypeError:
            encoded: Any = tuple(bytes(a) if isinstance(a, (bytearray, memoryview)) else self._encode(a)
                                 for a in args)
            return [self._pack(encoded)]


def _hiredis() -> bool:
    try:
        import hiredis  # noqa: F401
    except ImportError:
        return False
    return True


def connection_options(url: str, asyncio: bool = False) -> dict[str, Any]:
    """redis-py options rediq uses for ``url`` (see the module docstring)."""
    retry_cls = AsyncLoggedRetry if asyncio else LoggedRetry
    options: dict[str, Any] = {
        "retry": retry_cls(ExponentialBackoff(cap=1.0, base=0.02), retries=RETRIES),
        "retry_on_error": [redis.ConnectionError, redis.TimeoutError],
        "socket_connect_timeout": 5.0,
        "health_check_interval": 30,
    }
    if not url.startswith("unix:"):
        options["socket_timeout"] = SOCKET_TIMEOUT
        options["socket_keepalive"] = True
    if not asyncio and _hiredis():   # the asyncio connection takes no command_packer
        options["command_packer"] = LeanPacker()
    return options
