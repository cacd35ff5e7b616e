"""Connection options: unix sockets and TCP both connect; over TCP commands have a socket
timeout and connections keep alive (a silent partition surfaces as a timeout, not a
hang); a unix socket, which cannot be partitioned, gets neither; the lean packer is on."""

from __future__ import annotations

import asyncio
from typing import Iterator

import pytest

import rediq
from rediq._options import SOCKET_TIMEOUT, LeanPacker
from rediq._server import EmbeddedServer


@pytest.fixture(scope="module")
def unix_server() -> Iterator[EmbeddedServer]:
    s = EmbeddedServer().start()   # the embedded default: a unix socket
    assert s.url.startswith("unix://"), s.url
    yield s
    s.stop()


def test_client_from_a_unix_socket_url_enqueues_and_reads_back(unix_server: EmbeddedServer) -> None:
    with rediq.Client.from_url(unix_server.url) as client:
        q = client.queue("unix-sync")
        job = q.enqueue("h", {"n": 1})
        assert q.get(job.id).data == {"n": 1}
        kwargs = client.redis.connection_pool.connection_kwargs
        assert kwargs.get("socket_timeout") is None and "socket_keepalive" not in kwargs
        assert isinstance(kwargs["command_packer"], LeanPacker)


def test_async_client_from_a_unix_socket_url_enqueues_and_reads_back(unix_server: EmbeddedServer) -> None:
    async def main() -> object:
        client = rediq.AsyncClient.from_url(unix_server.url)
        try:
            q = client.queue("unix-async")
            job = await q.enqueue("h", {"n": 2})
            return (await q.get(job.id)).data
        finally:
            await client.aclose()

    assert asyncio.run(main()) == {"n": 2}


def test_tcp_connections_have_a_socket_timeout_and_keepalive(server: EmbeddedServer) -> None:
    assert server.url.startswith("redis://")
    with rediq.Client.from_url(server.url) as client:
        assert client.queue("tcp").counts()["waiting"] >= 0
        kwargs = client.redis.connection_pool.connection_kwargs
        assert kwargs["socket_timeout"] == SOCKET_TIMEOUT and kwargs["socket_keepalive"] is True


def test_a_url_option_overrides_the_socket_timeout(server: EmbeddedServer) -> None:
    with rediq.Client.from_url(server.url + "?socket_timeout=30") as client:
        assert client.redis.connection_pool.connection_kwargs["socket_timeout"] == 30.0
