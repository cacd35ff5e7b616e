"""Fixtures of the Redis Cluster suite: one real 3-master cluster per session (flushed
before every test), a plain recorder server for what worker processes report, in-process
and out-of-process workers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import rediq
import redis
from cluster_helpers import ThreadWorkers
from deployments import Cluster
from rediq._server import EmbeddedServer
from scale_procs import ScaleProcs


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    """A real Redis Cluster of 3 masters on free ports, for the whole session."""
    with Cluster() as c:
        yield c


@pytest.fixture(scope="session")
def recorder() -> Iterator[EmbeddedServer]:
    """A plain server outside the cluster where handlers record their runs."""
    with EmbeddedServer(tcp=True) as s:
        yield s


@pytest.fixture
def rec(recorder: EmbeddedServer) -> Iterator[redis.Redis]:
    conn = redis.Redis.from_url(recorder.url)
    conn.flushall()
    yield conn
    conn.close()


@pytest.fixture
def client(cluster: Cluster) -> Iterator[rediq.Client]:
    """A rediq client on the cluster, every master flushed (data and stats) first."""
    c = rediq.Client.from_url(cluster.url)
    c.redis.flushall(target_nodes=c.redis.PRIMARIES)
    yield c
    c.close()


@pytest.fixture
def workers(cluster: Cluster, client: rediq.Client) -> Iterator[ThreadWorkers]:
    tw = ThreadWorkers(cluster.url)
    yield tw
    stuck = tw.stop_all()
    assert not stuck, f"workers did not stop: {stuck}"
    assert not tw.errors, f"worker.run() raised: {tw.errors!r}"


@pytest.fixture
def procs(cluster: Cluster, recorder: EmbeddedServer, client: rediq.Client, rec: redis.Redis) -> Iterator[ScaleProcs]:
    """Worker processes on the cluster (recording to ``rec``); SIGKILLed at teardown."""
    sp = ScaleProcs(cluster.url, recorder.url)
    yield sp
    print("\n".join(sp.cleanup()))
