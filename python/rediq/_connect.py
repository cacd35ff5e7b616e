"""Build redis-py clients from rediq URLs: plain, Cluster and Sentinel.

- ``redis://``, ``rediss://``, ``unix://``: one server (redis-py's own URL syntax).
- ``redis+cluster://[user:pass@]host:port[,host:port...][?option=value]``
  (``rediss+cluster://`` for TLS): a Redis Cluster; every listed node is a startup
  node. Cluster URLs have no db.
- ``redis+sentinel://[user:pass@]host:port[,host:port...]/service_name[?db=N&sentinel_password=...]``
  (``rediss+sentinel://`` for TLS): the master of ``service_name`` as the sentinels
  report it; user and password are the master's. Failover is followed on reconnect.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = ["ParsedURL", "parse_url", "connect", "connect_async"]

_SCHEMES = {"redis+cluster": ("cluster", False), "rediss+cluster": ("cluster", True),
            "redis+sentinel": ("sentinel", False), "rediss+sentinel": ("sentinel", True)}


@dataclass(slots=True)
class ParsedURL:
    """A cluster or sentinel URL, split into its parts."""

    kind: str
    tls: bool
    hosts: list[tuple[str, int]]
    username: str | None = None
    password: str | None = None
    service: str | None = None
    db: int = 0
    sentinel_password: str | None = None
    options: dict[str, str] = field(default_factory=dict)


def parse_url(url: str) -> ParsedURL | None:
    """Split a ``redis+cluster://`` or ``redis+sentinel://`` URL; None for other schemes.

    Raises:
        ValueError: the URL is malformed (the message names the part).
    """
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in _SCHEMES:
        return None
    kind, tls = _SCHEMES[scheme]
    netloc, _, path = rest.partition("/")
    path, _, query = path.partition("?")
    if "?" in netloc:
        netloc, _, query = netloc.partition("?")
    userinfo, at, hostlist = netloc.rpartition("@")
    parsed = ParsedURL(kind, tls, [])
    if at:
        user, colon, password = userinfo.partition(":")
        parsed.username = unquote(user) or None
        parsed.password = unquote(password) if colon else None
    for part in hostlist.split(","):
        host, colon, port = part.rpartition(":")
        if not colon or not host or not port.isdigit():
            raise ValueError(f"{scheme} URL: expected host:port, got {part!r} in {url!r}")
        parsed.hosts.append((host.strip("[]"), int(port)))
    params = {k: v[-1] for k, v in parse_qs(query).items()}
    if kind == "sentinel":
        if not path:
            raise ValueError(f"{scheme} URL needs the service name as its path: {url!r}")
        parsed.service = unquote(path)
        parsed.db = int(params.pop("db", "0"))
        parsed.sentinel_password = params.pop("sentinel_password", None)
    elif path:
        raise ValueError(f"{scheme} URL has no database or path (got /{path}): {url!r}")
    parsed.options = params
    return parsed


def _common(p: ParsedURL, options: dict[str, Any]) -> dict[str, Any]:
    kw = dict(options)
    if p.username:
        kw["username"] = p.username
    if p.password is not None:
        kw["password"] = p.password
    if p.tls:
        kw["ssl"] = True
    for key, value in p.options.items():
        kw[key] = float(value) if key.endswith("timeout") else value
    return kw


def _build(url: str, options: dict[str, Any], redis_cls: Any, cluster_cls: Any, node_cls: Any,
           sentinel_cls: Any, cluster_drops: tuple[str, ...], follow: tuple[Any, Any]) -> Any:
    """Build a client for ``url`` from one flavour (sync or asyncio) of redis-py classes."""
    p = parse_url(url)
    if p is None:
        return redis_cls.from_url(url, **options)
    kw = _common(p, options)
    if p.kind == "cluster":
        for name in cluster_drops:   # per-connection options a cluster client does not take
            kw.pop(name, None)
        return cluster_cls(startup_nodes=[node_cls(h, port) for h, port in p.hosts], **kw)
    sentinel_kwargs: dict[str, Any] = {"password": p.sentinel_password} if p.sentinel_password else {}
    if p.tls:
        sentinel_kwargs["ssl"] = True
    sentinel = sentinel_cls(p.hosts, sentinel_kwargs=sentinel_kwargs or None,
                            socket_connect_timeout=kw.get("socket_connect_timeout", 5.0))
    kw["connection_class"] = follow[1] if kw.pop("ssl", False) else follow[0]
    return sentinel.master_for(p.service, db=p.db, **kw)


@functools.cache
def _following_sync() -> tuple[Any, Any]:
    """Sentinel-managed connection classes (plain, TLS) whose every reconnect asks the
    sentinels where the master is. redis-py asks only in ``connect()``; the reconnect of
    a command's retry goes through ``connect_check_health()`` to the address cached
    before the failover (redis-py issue #3874), so a call in flight when the master died
    kept knocking on the dead master until all its retries (about 20 s) were spent."""
    from redis.sentinel import SentinelManagedConnection, SentinelManagedSSLConnection

    def make(base: Any) -> Any:
        class Following(base):  # type: ignore[misc]
            _resolving = False

            def connect_to(self, address: Any) -> Any:
                self._resolving = True   # the address was just resolved: connect to it
                try:
                    return super().connect_to(address)
                finally:
                    self._resolving = False

            def connect_check_health(self, check_health: bool = True,
                                     retry_socket_connect: bool = True) -> Any:
                if self._sock or self._resolving or not self.connection_pool.is_master:
                    return super().connect_check_health(check_health, retry_socket_connect)
                return self.connect()    # ask the sentinels, then connect

        Following.__name__ = Following.__qualname__ = f"Following{base.__name__}"
        return Following

    return make(SentinelManagedConnection), make(SentinelManagedSSLConnection)


@functools.cache
def _following_async() -> tuple[Any, Any]:
    """The asyncio twins of :func:`_following_sync`."""
    from redis.asyncio.sentinel import SentinelManagedConnection, SentinelManagedSSLConnection

    def make(base: Any) -> Any:
        class Following(base):  # type: ignore[misc]
            _resolving = False

            async def connect_to(self, address: Any) -> Any:
                self._resolving = True
                try:
                    return await super().connect_to(address)
                finally:
                    self._resolving = False

            async def connect_check_health(self, check_health: bool = True,
                                           retry_socket_connect: bool = True) -> Any:
                if self.is_connected or self._resolving or not self.connection_pool.is_master:
                    return await super().connect_check_health(check_health, retry_socket_connect)
                return await self.connect()

        Following.__name__ = Following.__qualname__ = f"Following{base.__name__}"
        return Following

    return make(SentinelManagedConnection), make(SentinelManagedSSLConnection)


def connect(url: str, options: dict[str, Any]) -> Any:
    """Return a sync redis-py client for ``url`` (Redis, RedisCluster or a sentinel master)."""
    import redis
    from redis.cluster import ClusterNode, RedisCluster
    from redis.sentinel import Sentinel

    return _build(url, options, redis.Redis, RedisCluster, ClusterNode, Sentinel,
                  ("retry_on_error", "health_check_interval"), _following_sync())


def connect_async(url: str, options: dict[str, Any]) -> Any:
    """Return an asyncio redis-py client for ``url`` (the twin of :func:`connect`)."""
    import redis.asyncio as aredis
    from redis.asyncio.cluster import ClusterNode, RedisCluster
    from redis.asyncio.sentinel import Sentinel

    return _build(url, options, aredis.Redis, RedisCluster, ClusterNode, Sentinel,
                  ("health_check_interval",), _following_async())
