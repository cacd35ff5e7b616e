"""huey (``RedisHuey``): calling the task enqueues it (no bulk API), ``huey_consumer``.

Workers: ``huey_consumer rediq_bench.peers.huey_peer.huey -k thread -w C -q`` per worker
process: its default worker type (threads) and blocking dequeue, with C workers instead of
its default 1. ``-q``: the consumer logs two lines per task at its default level, and
rediq's worker logs nothing per job. The task returns None, which huey does not store by
default (``store_none=False``).

Delivery guarantee (defaults): at most once. A task is popped off the list (BRPOP) before
it runs; a worker that dies loses the tasks it was running.
"""

from __future__ import annotations

import signal
import time
from typing import Any

from .base import Peer, record, settings

__all__ = ["Adapter"]

_tasks: dict[str, Any] = {}


def _declare(url: str, ns: str) -> Any:
    """A ``RedisHuey`` named ``ns`` and its task (once per process and name)."""
    if ns not in _tasks:
        from huey import RedisHuey

        huey = RedisHuey(ns, url=url)

        @huey.task(name="noop")
        def noop(n: int, t: float = 0.0) -> None:
            record(t, time.time())

        _tasks[ns] = noop
    return _tasks[ns]


def __getattr__(name: str) -> Any:
    # ``huey_consumer rediq_bench.peers.huey_peer.huey`` looks the instance up here.
    if name == "huey":
        url, ns, _, _ = settings()
        return _declare(url, ns).huey
    raise AttributeError(name)


class Adapter(Peer):
    name = "huey"
    distributions = ("huey", "redis")
    install = "huey"
    guarantee = "at most once (popped before it runs: a dead worker's tasks are lost)"
    requires = (
        ("huey", "not installed (pip install {install})"),
        ("redis", "its Redis storage needs the redis package"),
    )
    stop_signal = signal.SIGINT  # huey's graceful signal (SIGTERM stops at once)

    def connect(self, url: str, ns: str) -> None:
        self.task = _declare(url, ns)
        self.task.huey.storage.conn.ping()

    def enqueue(self, n: int, t: float) -> None:
        self.task(n, t)

    def close(self) -> Any:
        self.task.huey.storage.pool.disconnect()

    @classmethod
    def worker_commands(cls, python: str, url: str, ns: str, processes: int,
                        concurrency: int) -> list[list[str]]:
        return [[python, "-m", "huey.bin.huey_consumer", f"{__name__}.huey", "-k", "thread",
                 "-w", str(concurrency), "-q"] for _ in range(processes)]

    @classmethod
    def describe(cls, processes: int, concurrency: int) -> str:
        return (f"{processes} x huey_consumer -k thread -w {concurrency}" if processes > 1
                else f"huey_consumer -k thread -w {concurrency}")
