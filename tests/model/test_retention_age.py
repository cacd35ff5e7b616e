"""Retention by age on a queue that goes quiet: complete and fail trim only when a job
finishes, so an idle worker's periodic trim-3 call is what removes the last records (the
model test cannot show this: its reference model trims when jobs finish)."""

from __future__ import annotations

from typing import Iterator

import pytest
import redis

import rediq
from rediq import commands as C
from rediq._server import EmbeddedServer
from rediq.keys import QueueKeys

T0 = 1_700_000_000_000


@pytest.fixture(scope="module")
def mclient() -> Iterator[rediq.Client]:
    server = EmbeddedServer().start()
    client = rediq.Client(redis.Redis(unix_socket_path=server.socket))
    yield client
    client.close()
    server.stop()


def test_completed_record_is_gone_after_its_age_on_a_quiet_queue(mclient: rediq.Client) -> None:
    """keep_completed 1 s: one job completes, then the queue is quiet for an hour while a
    worker makes its periodic calls (claim, recover_stalled, trim): the record is gone,
    and was still there before the first trim (so trim-3, not the others, removed it)."""
    r = mclient.redis
    r.flushdb()
    k = QueueKeys.of("quiet")
    mclient.run(C.build_configure(k, {"keep_completed_age_ms": "1000", "keep_completed_count": "100"}))
    mclient.run(C.build_enqueue(k, [C.JobSpec("a", "h", b"", 0, 1, "", 0, 0)], now=T0))
    mclient.run(C.build_claim(k, 1, "t", 30_000, now=T0))
    codes, _ = C.parse_complete(mclient.run(C.build_complete(k, [("a", "t", b"r")], 0, "t2", 30_000, now=T0)))
    assert codes == [0]
    for minute in range(1, 61):  # an idle worker's periodic calls
        now = T0 + minute * 60_000
        mclient.run(C.build_claim(k, 1, f"t{minute}", 30_000, now=now))
        mclient.run(C.build_recover_stalled(k, 1000, 1, now=now))
        if minute == 1:
            assert r.exists(k.job("a")), "claim or recover_stalled trimmed; this test needs updating"
        mclient.run(C.build_trim(k, now=now))
    assert not r.exists(k.job("a")), "a completed record outlived keep_completed by an hour"
