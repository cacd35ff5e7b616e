"""The asyncio side of a worker: an event loop that runs ``async def`` handlers.

The claim loop stays on its thread; async jobs are scheduled onto an event loop (the
caller's loop under ``run_async``, else a private loop thread) as tasks this side keeps
(the loop itself holds tasks only weakly). Leases are renewed by the keeper thread, so a
handler that blocks the event loop cannot starve renewal. A timeout cancels the
coroutine; so does closing, for runs the worker handed back when its grace ran out
(their outcome is dropped, and an application loop must not run them on).
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import redis
import redis.asyncio as aredis

from .aio import AsyncClient
from .client import Client

__all__ = ["AsyncSide", "async_twin"]

_SAFE_KWARGS = {
    "host", "port", "db", "username", "password", "path", "socket_timeout",
    "socket_connect_timeout", "socket_keepalive", "client_name", "protocol",
    "ssl_keyfile", "ssl_certfile", "ssl_cert_reqs", "ssl_ca_certs", "ssl_ca_data",
    "ssl_check_hostname", "ssl_password",
}


def async_twin(client: Client) -> AsyncClient:
    """Build an ``AsyncClient`` on the same server, database and credentials as ``client``
    (from its URL when it was made by ``from_url``: cluster and sentinel URLs included)."""
    if client.url is not None:
        return AsyncClient.from_url(client.url, prefix=client.prefix, max_payload=client.max_payload)
    r: Any = client.redis
    if hasattr(r, "get_node_from_key"):   # a RedisCluster built by the caller
        from redis.asyncio.cluster import ClusterNode, RedisCluster

        kwargs = {k: v for k, v in r.get_connection_kwargs().items() if k in _SAFE_KWARGS}
        kwargs.pop("host", None)
        kwargs.pop("port", None)
        nodes = [ClusterNode(n.host, n.port) for n in r.get_primaries()]
        cluster: Any = RedisCluster(startup_nodes=nodes, **kwargs)   # AsyncClient takes either
        return AsyncClient(cluster, prefix=client.prefix, max_payload=client.max_payload)
    pool = client.redis.connection_pool
    kwargs = {k: v for k, v in pool.connection_kwargs.items() if k in _SAFE_KWARGS}
    cls = pool.connection_class
    if issubclass(cls, redis.UnixDomainSocketConnection):
        acls: type[aredis.Connection] | type[aredis.UnixDomainSocketConnection] = aredis.UnixDomainSocketConnection
    elif issubclass(cls, redis.SSLConnection):
        acls = aredis.SSLConnection
    else:
        acls = aredis.Connection
    apool = aredis.ConnectionPool(connection_class=acls, **kwargs)
    return AsyncClient(aredis.Redis(connection_pool=apool), prefix=client.prefix,
                       max_payload=client.max_payload)


class AsyncSide:
    """An event loop for async handlers, with the ``AsyncClient`` they receive."""

    def __init__(self, client: Client, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._own = loop is None
        self.loop = loop or asyncio.new_event_loop()
        self._client = client
        self.client: AsyncClient | None = None
        self._tasks: set[asyncio.Task[Any]] = set()   # touched on the loop only
        self._thread: threading.Thread | None = None
        if self._own:
            self._thread = threading.Thread(target=self.loop.run_forever, name="rediq-asyncio", daemon=True)
            self._thread.start()

    def submit(self, coro: Any) -> None:
        """Schedule ``coro`` on the loop (from any thread)."""
        self.loop.call_soon_threadsafe(self._start, coro)

    def _start(self, coro: Any) -> None:
        task = self.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _shutdown(self) -> None:
        running = [t for t in self._tasks if not t.done()]
        for task in running:
            task.cancel()
        if running:
            await asyncio.wait(running, timeout=5)
        if self.client is not None:
            await self.client.aclose()

    def async_client(self) -> AsyncClient:
        """The client handed to async handlers (built once, used on the loop only)."""
        if self.client is None:
            self.client = async_twin(self._client)
        return self.client

    def close(self) -> None:
        """Cancel the runs still on the loop (the worker handed them back), close the
        handlers' client, and stop the private loop thread if there is one. Called from
        the worker's thread once its claim loop has ended, never from the loop."""
        fut = asyncio.run_coroutine_threadsafe(self._shutdown(), self.loop)
        try:
            fut.result(10)
        except Exception:  # noqa: BLE001 - closing is best effort
            pass
        if self._own:
            self.loop.call_soon_threadsafe(self.loop.stop)
            if self._thread is not None:
                self._thread.join(5)
                if not self._thread.is_alive():
                    self.loop.close()   # its selector and self-pipe, not left to the GC
