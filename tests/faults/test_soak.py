"""Soak: N jobs through 4 worker processes while one is SIGKILLed every few seconds.

Reports (printed; run with ``-s`` to see them) and checks:
* jobs lost: must be 0 (a job is lost if no run of it ever ended, or if it is left
  in Redis once the queue drained);
* duplicate runs and their explanation: every run beyond a job's first is covered by
  a recovered lease (the queue's ``stalled_total``);
* Redis ``used_memory`` at the start, at its peak and at the end: completed jobs are
  deleted at once (``keep_completed=0``), so once drained it must be back at the start
  figure, within a small tolerance. Both figures are taken on an idle server (no worker
  connected) after a 500-job warm-up: scripts cached and the Lua heap grown are a fixed
  cost paid once, not per job (the cold figure is printed too);
* peak RSS of the worker processes and of this test process (the producer).

``-m soak`` runs ``REDIQ_SOAK_JOBS`` jobs (default 1,000,000), killing a worker every
``REDIQ_SOAK_KILL_EVERY`` seconds (default 3), each job sleeping ``REDIQ_SOAK_SLEEP``
seconds (default 0.002, so a killed worker holds running jobs); the CI-size variant runs by default
with ``REDIQ_SOAK_CI_JOBS`` (default 2,000) of 10 ms each and a kill about every
half second.
"""

from __future__ import annotations

import os
import resource
import signal
import time
from array import array
from typing import Any, Iterator

import pytest
import redis

import rediq
from rediq._server import EmbeddedServer

from helpers import wait_until

from .harness import QUEUE, Fleet, used_memory

MEMORY_TOLERANCE = 256 * 1024  # bytes: connection buffers, allocator rounding


@pytest.fixture
def soak_server() -> Iterator[EmbeddedServer]:
    """No persistence: the soak measures memory and throughput, not durability."""
    s = EmbeddedServer(tcp=True).start()
    yield s
    s.stop()


@pytest.fixture
def soak_fleet(soak_server: EmbeddedServer) -> Iterator[Fleet]:
    f = Fleet(soak_server.url)
    yield f
    f.cleanup()


def tally(fleet: Fleet, n: int) -> tuple[array, bytearray]:
    """Runs started per job index and whether any run ended, from the compact records."""
    starts, ended = array("I", bytes(4 * n)), bytearray(n)
    for path in fleet.dir.glob("exec-*.log"):
        with open(path) as f:
            for line in f:
                ev, jid, _, _ = line.split(" ")
                if jid[0] != "s":
                    continue  # warm-up jobs
                i = int(jid[1:])
                if ev == "s":
                    starts[i] += 1
                elif ev == "e":
                    ended[i] = 1
    return starts, ended


def idle_memory(url: str) -> int:
    """used_memory of an idle server (no workers; caches and dict resizes settled),
    read on a fresh connection."""
    time.sleep(1.5)
    probe = redis.Redis.from_url(url)
    try:
        return used_memory(probe)
    finally:
        probe.close()


def soak(fleet: Fleet, url: str, n: int, kill_every: float, lease: float, sleep: float) -> dict[str, Any]:
    cfg = {"concurrency": 8, "lease": lease, "max_stalls": 1000, "keep_completed": 0.0}
    workers = {QUEUE: cfg}
    probe = redis.Redis.from_url(url)
    cold_mem = used_memory(probe)
    probe.close()

    # warm-up: every script loaded and run, Lua heap grown, then back to idle
    client = rediq.Client.from_url(url)
    q = client.queue(QUEUE)
    warm = [fleet.start(workers, compact=True, name=f"warm{i}") for i in range(2)]
    q.enqueue_many([("rec", None, {"job_id": f"w{i}"}) for i in range(500)])
    wait_until(lambda: sum(q.counts()[k] for k in ("waiting", "active")) == 0, 60, "the warm-up")
    for p in warm:
        p.signal(signal.SIGTERM)
        p.popen.wait(15)
    client.close()
    base_mem = idle_memory(url)

    client = rediq.Client.from_url(url)
    q = client.queue(QUEUE)
    peak_mem = base_mem
    for _ in range(4):
        fleet.start(workers, compact=True)
    killer = fleet.killer(workers, every=(kill_every * 0.5, kill_every * 1.5), compact=True)
    t0 = time.monotonic()
    produced, chunk = 0, 1000
    while True:
        counts = q.counts()
        if produced < n and counts["waiting"] < 50_000:  # flow control: bounded backlog
            size = min(chunk, n - produced)
            data = {"sleep": sleep} if sleep else None
            q.enqueue_many([("rec", data, {"job_id": f"s{i}"}) for i in range(produced, produced + size)])
            produced += size
            continue
        if produced == n and counts["waiting"] + counts["active"] + counts["delayed"] == 0:
            break
        if time.monotonic() - t0 > max(120.0, n / 100):
            raise AssertionError(f"soak did not drain: {counts}\n{fleet.logs()}")
        peak_mem = max(peak_mem, used_memory(client.redis))
        killer()
        fleet.sample()
        time.sleep(0.05)
    elapsed = time.monotonic() - t0
    killed = killer()
    fleet.stop()
    counts = q.counts()
    left = sum(1 for _ in client.redis.scan_iter(match=f"{q.keys.base}:job:s*", count=10_000))
    client.close()
    end_mem = idle_memory(url)
    starts, ended = tally(fleet, n)
    return {
        "jobs": n, "elapsed_s": round(elapsed, 1), "jobs_per_s": round(n / elapsed),
        "workers_killed": killed, "lost": sum(1 for e in ended if not e) + left,
        "records_left": left, "failed": counts["failed"],
        "duplicate_runs": sum(max(s - 1, 0) for s in starts),
        "stalled_total": counts["stalled"],
        "redis_used_memory": {"cold": cold_mem, "start": base_mem, "peak": peak_mem, "end": end_mem},
        "peak_worker_rss_kb": max(p.peak_rss_kb for p in fleet.procs),
        "test_process_peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }


def check(report: dict[str, Any]) -> None:
    print("\nsoak report: " + ", ".join(f"{k} {v}" for k, v in report.items()))
    assert report["lost"] == 0
    assert report["failed"] == 0
    assert report["duplicate_runs"] <= report["stalled_total"], "duplicates not explained by stalls"
    mem = report["redis_used_memory"]
    assert mem["end"] - mem["start"] <= MEMORY_TOLERANCE, f"Redis memory did not return to baseline: {mem}"


def test_soak_ci_size(soak_fleet: Fleet, soak_server: EmbeddedServer) -> None:
    """The CI-size soak: a few thousand jobs, a worker killed about every half second."""
    check(soak(soak_fleet, soak_server.url, int(os.environ.get("REDIQ_SOAK_CI_JOBS", "2000")),
               kill_every=0.5, lease=1.0, sleep=0.01))


@pytest.mark.soak
def test_soak(soak_fleet: Fleet, soak_server: EmbeddedServer) -> None:
    """The full soak (``-m soak``): REDIQ_SOAK_JOBS jobs, default 1,000,000."""
    check(soak(soak_fleet, soak_server.url, int(os.environ.get("REDIQ_SOAK_JOBS", "1000000")),
               kill_every=float(os.environ.get("REDIQ_SOAK_KILL_EVERY", "3")), lease=2.0,
               sleep=float(os.environ.get("REDIQ_SOAK_SLEEP", "0.002"))))
