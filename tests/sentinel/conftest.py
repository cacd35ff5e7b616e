"""Fixtures of the Sentinel suite: a real master + replica + sentinels (``SentinelSetup``),
a plain recorder server outside it (what worker and producer processes report survives
a failover), and worker/producer processes (``tests/cluster/scale_procs.py``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Iterator

import pytest
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "cluster"))

from deployments import SentinelSetup  # noqa: E402
from scale_procs import ScaleProcs  # noqa: E402

from rediq._server import EmbeddedServer  # noqa: E402

# 3 sentinels (quorum 2) by default; REDIQ_SENTINELS=1 for a single one
SENTINELS = int(os.environ.get("REDIQ_SENTINELS", "3"))


@pytest.fixture(scope="session")
def recorder() -> Iterator[EmbeddedServer]:
    with EmbeddedServer(tcp=True) as s:
        yield s


@pytest.fixture
def rec(recorder: EmbeddedServer) -> Iterator[redis.Redis]:
    conn = redis.Redis.from_url(recorder.url)
    conn.flushall()
    yield conn
    conn.close()


@pytest.fixture(scope="module")
def steady() -> Iterator[SentinelSetup]:
    """A setup no test fails over (shared by a module; flush it yourself)."""
    with SentinelSetup(sentinels=SENTINELS) as s:
        yield s


@pytest.fixture
def failover_setup(request: pytest.FixtureRequest) -> Iterator[SentinelSetup]:
    """A fresh setup for one test that kills its master; parametrized indirectly with
    "relay", the replica replicates through a relay the test can stall."""
    with SentinelSetup(sentinels=SENTINELS, relay=getattr(request, "param", None) == "relay") as s:
        yield s


@pytest.fixture
def procs(failover_setup: SentinelSetup, recorder: EmbeddedServer, rec: redis.Redis) -> Iterator[ScaleProcs]:
    sp = ScaleProcs(failover_setup.url, recorder.url)
    yield sp
    print("\n".join(sp.cleanup()))
