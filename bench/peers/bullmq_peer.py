"""BullMQ's Python port: ``queue.add`` one at a time, ``queue.addBulk`` in bulk, its
``Worker`` API (it has no CLI: ``python -m rediq_bench.peers.bullmq_peer`` runs a Worker
until SIGTERM, the way its documentation runs one).

Workers: ``Worker(queue, processor, {"connection": url, "concurrency": C})``, everything
else its defaults (30 s locks renewed by a lock manager, a stalled check every 30 s,
completed jobs kept).

Delivery guarantee (defaults): at least once. A job is locked to its worker while it runs;
a job whose lock expired (dead worker) is moved back to wait by the stalled check, and to
failed after more than ``maxStalledCount`` (1) stalls.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from typing import Any

from .base import Peer, record, settings

__all__ = ["Adapter", "work"]


async def process(job: Any, token: str) -> None:
    """The benchmark's processor: report the completion to the bench, nothing else."""
    start = time.time()
    record(float(job.data.get("t", 0.0)), start)


async def _work() -> None:
    from bullmq import Worker

    url, ns, concurrency, _ = settings()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    worker = Worker(ns, process, {"connection": url, "concurrency": concurrency})
    await stop.wait()
    await worker.close()


def work() -> None:
    """Run one BullMQ worker with the settings from the bench's environment."""
    asyncio.run(_work())


class Adapter(Peer):
    name = "bullmq"
    distributions = ("bullmq", "redis")
    install = "bullmq"
    guarantee = "at least once (locks; stalled jobs moved back to wait)"
    requires = (
        ("bullmq", "not installed (pip install {install})"),
    )
    bulk = "Queue.addBulk"
    is_async = True

    async def connect(self, url: str, ns: str) -> None:
        from bullmq import Queue

        self.queue = Queue(ns, {"connection": url})

    async def enqueue(self, n: int, t: float) -> None:
        await self.queue.add("noop", {"n": n, "t": t})

    async def enqueue_bulk(self, items: list[tuple[int, float]]) -> None:
        await self.queue.addBulk([{"name": "noop", "data": {"n": n, "t": t}} for n, t in items])

    async def close(self) -> None:
        await self.queue.close()

    @classmethod
    def worker_commands(cls, python: str, url: str, ns: str, processes: int,
                        concurrency: int) -> list[list[str]]:
        return [[python, "-m", __name__] for _ in range(processes)]

    @classmethod
    def describe(cls, processes: int, concurrency: int) -> str:
        return (f"{processes} x " if processes > 1 else "") + f"Worker, concurrency {concurrency}"


if __name__ == "__main__":
    work()
    sys.exit(0)
