"""The blocking wait of an idle worker, on its own connection and thread.

The claim loop asks for a wait on the wake keys of its idle queues with a deadline;
this thread runs BLPOP on them and reports what woke it. A wait whose keys or deadline
no longer fit is cut short with CLIENT UNBLOCK. An idle worker therefore costs the
server one blocked BLPOP, and the hot loop's connections are never held by a wait.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

import redis

__all__ = ["Waiter", "MAX_BLOCK"]

log = logging.getLogger("rediq.worker")
MAX_BLOCK = 5.0


def dedicated_connection(r: redis.Redis, socket_timeout: float) -> redis.Redis:
    """A client with a private one-connection pool and the same connection settings as ``r``."""
    pool = r.connection_pool
    kwargs = dict(pool.connection_kwargs)
    kwargs["socket_timeout"] = socket_timeout
    kwargs.pop("retry", None)
    return redis.Redis(connection_pool=redis.ConnectionPool(
        connection_class=pool.connection_class, max_connections=1, **kwargs))


class Waiter:
    """Run BLPOP for the claim loop; post ``("wake", key or None)`` to ``events``."""

    def __init__(self, r: redis.Redis, events: queue.SimpleQueue[Any]) -> None:
        self._control = r
        self._conn = dedicated_connection(r, MAX_BLOCK + 10)
        self._events = events
        self._cond = threading.Condition()
        self._want: tuple[tuple[str, ...], float] | None = None
        self._blocking: tuple[tuple[str, ...], float] | None = None
        self._client_id: int | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="rediq-waiter", daemon=True)
        self._thread.start()

    def want(self, keys: tuple[str, ...], deadline: float) -> None:
        """Wait on ``keys`` until ``deadline`` (monotonic); no keys: wait for nothing."""
        with self._cond:
            busy = self._blocking
            if busy is not None:
                if busy[0] == keys and busy[1] <= deadline + 0.001:
                    return
                self._want = (keys, deadline) if keys else None
                self._unblock()
                return
            if self._want != (keys, deadline):
                self._want = (keys, deadline) if keys else None
                self._cond.notify()

    def _unblock(self) -> None:
        if self._client_id is not None:
            try:
                self._control.client_unblock(self._client_id)
            except redis.RedisError:
                pass

    def close(self) -> None:
        """Stop the thread (cuts a running BLPOP short) and close its connection."""
        with self._cond:
            self._closed = True
            self._want = None
            self._cond.notify()
        # A CLIENT UNBLOCK can reach the server before the BLPOP it is meant for (or be
        # skipped while the thread has no client id yet): repeat it until the thread is out.
        deadline = time.monotonic() + 2.0
        while self._thread.is_alive() and time.monotonic() < deadline:
            with self._cond:
                if self._blocking is not None:
                    self._unblock()
            self._thread.join(0.01)
        self._conn.close()
        self._conn.connection_pool.disconnect()  # close() leaves a pool it was given open

    def _loop(self) -> None:
        failures = 0
        while True:
            with self._cond:
                while not self._closed and self._want is None:
                    self._cond.wait()
                if self._closed:
                    return
                keys, deadline = self._want  # type: ignore[misc]
                self._want = None
                self._blocking = (keys, deadline)
            key = None
            try:
                if self._client_id is None:
                    self._client_id = int(self._conn.client_id())
                timeout = min(max(deadline - time.monotonic(), 0.001), MAX_BLOCK)
                reply = self._conn.blpop(list(keys), timeout=timeout)
                key = reply[0].decode() if reply and isinstance(reply[0], bytes) else None
                failures = 0
            except redis.RedisError as exc:
                self._client_id = None
                failures += 1
                if failures == 1:
                    log.warning("rediq: wait for new jobs failed (%s); retrying", exc)
                time.sleep(min(0.05 * 2 ** failures, 2.0))
            with self._cond:
                self._blocking = None
            self._events.put(("wake", key))
