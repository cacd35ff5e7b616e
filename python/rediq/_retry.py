"""Connection options rediq gives redis-py, and retries that say what they are doing.

redis-py retries a command after a connection error or a socket timeout without a word;
during an outage a worker would then sit silently in its retries. :class:`LoggedRetry`
(and its asyncio twin) logs the first failure of an outage at WARNING, at most one line
every ``QUIET`` seconds per process while it lasts, and one INFO line when a command
goes through again.

A socket timeout is set so that a silent partition (a link that swallows traffic, no
reset) surfaces as a timeout within ``SOCKET_TIMEOUT`` seconds instead of a ``recv()``
that blocks for as long as the OS keeps the dead TCP connection; TCP keepalive is on as
well. Every rediq script is bounded work (milliseconds), so the timeout never cuts a
healthy call; a URL option (``?socket_timeout=30``) or a keyword to ``from_url`` changes it.
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
from typing import Any, Callable

import redis
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

__all__ = ["LoggedRetry", "AsyncLoggedRetry", "connection_options", "SOCKET_TIMEOUT", "QUIET"]

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


class LoggedRetry(Retry):
    """redis-py's Retry that reports outages in the log (see the module docstring)."""

    def call_with_retry(self, do: Callable[[], Any], fail: Callable[..., Any],
                        *args: Any, **kwargs: Any) -> Any:
        def failed(error: Exception, *rest: Any) -> Any:
            OUTAGE.failed(error)
            return fail(error, *rest)

        result = super().call_with_retry(do, failed, *args, **kwargs)
        OUTAGE.succeeded()
        return result


class AsyncLoggedRetry(AsyncRetry):
    """The asyncio twin of :class:`LoggedRetry`."""

    async def call_with_retry(self, do: Callable[[], Any], fail: Callable[..., Any],
                              *args: Any, **kwargs: Any) -> Any:
        async def failed(error: Exception, *rest: Any) -> Any:
            OUTAGE.failed(error)
            result = fail(error, *rest)
            return await result if inspect.isawaitable(result) else result

        result = await super().call_with_retry(do, failed, *args, **kwargs)
        OUTAGE.succeeded()
        return result


def connection_options(asyncio: bool = False) -> dict[str, Any]:
    """redis-py options rediq uses: bounded, logged retries; connect and socket timeouts."""
    retry_cls = AsyncLoggedRetry if asyncio else LoggedRetry
    return {
        "retry": retry_cls(ExponentialBackoff(cap=1.0, base=0.02), retries=RETRIES),
        "retry_on_error": [redis.ConnectionError, redis.TimeoutError],
        "socket_connect_timeout": 5.0,
        "socket_timeout": SOCKET_TIMEOUT,
        "socket_keepalive": True,
        "health_check_interval": 30,
    }
