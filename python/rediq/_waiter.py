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
from typing import Any, Callable

import redis

__all__ = ["Waiter", "MAX_BLOCK", "wait_group", "wait_connection"]

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


def is_cluster(r: Any) -> bool:
    """True for a redis-py ``RedisCluster`` client."""
    return hasattr(r, "get_node_from_key") and hasattr(r, "keyslot")


def wait_group(r: Any, key: str) -> int:
    """Wake keys that may share one BLPOP: one group on a single server, one per slot on
    a cluster (a blocking wait cannot span slots, and an idle shard must never delay
    another shard's work)."""
    return int(r.keyslot(key)) if is_cluster(r) else 0


def wait_connection(r: Any, key: str) -> tuple[redis.Redis, redis.Redis]:
    """Return (private blocking connection, control client for CLIENT UNBLOCK) for waits
    on ``key``: on the node serving its slot (cluster), on the current master
    (Sentinel), or on the server of ``r``."""
    if is_cluster(r):
        node_client = r.get_redis_connection(r.get_node_from_key(key))
        return dedicated_connection(node_client, MAX_BLOCK + 10), node_client
    pool = r.connection_pool
    if hasattr(pool, "get_master_address"):   # Sentinel: follow the master as it moves
        host, port = pool.get_master_address()
        # a plain connection to that address: the sentinel pool's kwargs carry a
        # back-reference ("connection_pool") only its own connection class accepts
        kwargs = {k: v for k, v in pool.connection_kwargs.items() if k not in ("retry", "connection_pool")}
        kwargs.update(host=host, port=port, socket_timeout=MAX_BLOCK + 10)
        cls = redis.SSLConnection if issubclass(pool.connection_class, redis.SSLConnection) else redis.Connection
        return redis.Redis(connection_pool=redis.ConnectionPool(
            connection_class=cls, max_connections=1, **kwargs)), r
    return dedicated_connection(r, MAX_BLOCK + 10), r


class Waiter:
    """Run BLPOP for the claim loop; post ``("wake", key or None)`` to ``events``.

    Args:
        connect: returns (blocking connection, control client); called again after an
            error, so a wait follows failovers and slot moves.
        events: the claim loop's event queue.
    """

    def __init__(self, connect: Callable[[], tuple[redis.Redis, redis.Redis]],
                 events: queue.SimpleQueue[Any]) -> None:
        self._connect = connect
        self._conn, self._control = connect()
        self._events = events
        self._cond = threading.Condition()
        self._want: tuple[tuple[str, ...], float] | None = None
        self._blocking: tuple[tuple[str, ...], float] | None = None
        self._client_id: int | None = None
        self._closed = False
        self._cutting = False   # a cut-short thread is running (guarded by _cond)
        self._cut_target: tuple[tuple[str, ...], float] | None = None
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
                self._cut_short(busy)
                return
            if self._want != (keys, deadline):
                self._want = (keys, deadline) if keys else None
                self._cond.notify()

    def _cut_short(self, wait: tuple[tuple[str, ...], float]) -> None:
        """End the running wait ``wait`` with CLIENT UNBLOCK, repeated every 10 ms until the
        thread is out of it: an UNBLOCK that reaches the server before the BLPOP does
        nothing, and the wait would then hold stale keys for up to MAX_BLOCK."""
        self._cut_target = wait   # caller holds self._cond
        if self._cutting:
            return
        self._cutting = True

        def cut() -> None:
            deadline = time.monotonic() + 2.0
            while True:
                with self._cond:
                    target = self._cut_target
                    if (self._blocking is not target or self._closed
                            or time.monotonic() > deadline):
                        self._cutting = False
                        return
                    self._unblock()
                time.sleep(0.01)

        threading.Thread(target=cut, name="rediq-waiter-cut", daemon=True).start()

    def _unblock(self) -> None:
        if self._client_id is not None:
            try:
                self._control.client_unblock(self._client_id)
            except redis.RedisError:
                pass

    def _reconnect(self) -> None:
        try:
            self._conn.close()
            self._conn.connection_pool.disconnect()
            conn, control = self._connect()
        except (redis.RedisError, OSError):
            return   # keep the old one; the next failure tries again
        with self._cond:
            self._conn, self._control = conn, control

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
                self._reconnect()
            with self._cond:
                self._blocking = None
            self._events.put(("wake", key))
