"""SAQ on Redis: ``queue.enqueue`` one at a time (no bulk enqueue: ``map`` also waits for
the results), its ``saq`` CLI.

Workers: ``saq rediq_bench.peers.saq_peer.settings --workers P`` with ``concurrency`` C in
the settings (its default is 10), everything else its defaults.

Delivery guarantee (defaults): at most once. A job whose worker dies is found stuck by the
sweep and retried only while it has retries left; jobs default to one attempt
(``retries=1``), so it is aborted ("swept"), not run again.
"""

from __future__ import annotations

import time
from typing import Any

from .base import Peer, record
from .base import settings as env_settings

__all__ = ["Adapter", "settings"]


async def noop(ctx: Any, *, n: int, t: float = 0.0) -> None:
    """The benchmark's task: report the completion to the bench, nothing else."""
    record(t, time.time())


def settings() -> dict[str, Any]:
    """The worker settings the ``saq`` CLI calls for (from the bench's environment)."""
    from saq import Queue

    url, ns, concurrency, _ = env_settings()
    return {"queue": Queue.from_url(url, name=ns), "functions": [noop],
            "concurrency": concurrency}


class Adapter(Peer):
    name = "saq"
    distributions = ("saq", "redis")
    install = "saq"
    guarantee = "at most once (a dead worker's job is swept; default retries=1 aborts it)"
    requires = (
        ("saq.queue.redis", "not installed with Redis support (pip install {install})"),
    )
    is_async = True

    async def connect(self, url: str, ns: str) -> None:
        from saq import Queue

        self.queue = Queue.from_url(url, name=ns)
        await self.queue.connect()

    async def enqueue(self, n: int, t: float) -> None:
        await self.queue.enqueue("noop", n=n, t=t)

    async def close(self) -> None:
        await self.queue.disconnect()

    @classmethod
    def worker_commands(cls, python: str, url: str, ns: str, processes: int,
                        concurrency: int) -> list[list[str]]:
        return [[python, "-m", "saq", f"{__name__}.settings", "--workers", str(processes)]]

    @classmethod
    def describe(cls, processes: int, concurrency: int) -> str:
        return f"saq --workers {processes}, concurrency {concurrency}"
