"""taskiq with taskiq-redis's ``RedisStreamBroker``: ``task.kiq`` one at a time (no bulk API).

The streams broker is taskiq-redis's broker with acknowledgements (its list and pub/sub
brokers have none). Workers: ``taskiq worker rediq_bench.peers.taskiq_peer:broker
--workers P --max-async-tasks C --log-level WARNING``: its defaults are 2 worker processes
and 100 async tasks each; the bench sets them to rediq's worker processes and concurrency.
WARNING: taskiq logs a line per task at its default level, and rediq's worker logs nothing
per job. No result backend (taskiq's default).

Delivery guarantee (defaults): at least once. A message is acknowledged (XACK) after its
result is saved (ack type ``when_saved``); a message left pending by a dead worker is
claimed again (XAUTOCLAIM) after the broker's idle timeout (10 minutes).
"""

from __future__ import annotations

import time
from typing import Any

from .base import Peer, record, settings

__all__ = ["Adapter"]

_tasks: dict[str, Any] = {}


def _declare(url: str, ns: str) -> Any:
    """A ``RedisStreamBroker`` on stream ``ns`` and its task (once per process and name)."""
    if ns not in _tasks:
        from taskiq_redis import RedisStreamBroker

        broker = RedisStreamBroker(url, queue_name=ns)

        @broker.task(task_name="noop")
        async def noop(n: int, t: float = 0.0) -> None:
            record(t, time.time())

        _tasks[ns] = noop
    return _tasks[ns]


def __getattr__(name: str) -> Any:
    # ``taskiq worker rediq_bench.peers.taskiq_peer:broker`` looks the broker up here.
    if name == "broker":
        url, ns, _, _ = settings()
        return _declare(url, ns).broker
    raise AttributeError(name)


class Adapter(Peer):
    name = "taskiq"
    distributions = ("taskiq", "taskiq-redis", "redis")
    install = "taskiq taskiq-redis"
    guarantee = "at least once (stream acknowledged after the run; pending claimed after 10 min)"
    requires = (
        ("taskiq", "not installed (pip install {install})"),
        ("taskiq_redis", "taskiq-redis, its Redis broker, is not installed (pip install taskiq-redis)"),
    )
    is_async = True

    async def connect(self, url: str, ns: str) -> None:
        self.task = _declare(url, ns)
        await self.task.broker.startup()

    async def enqueue(self, n: int, t: float) -> None:
        await self.task.kiq(n, t)

    async def close(self) -> None:
        await self.task.broker.shutdown()

    @classmethod
    def worker_commands(cls, python: str, url: str, ns: str, processes: int,
                        concurrency: int) -> list[list[str]]:
        return [[python, "-m", "taskiq", "worker", f"{__name__}:broker", "--workers",
                 str(processes), "--max-async-tasks", str(concurrency), "--log-level", "WARNING"]]

    @classmethod
    def describe(cls, processes: int, concurrency: int) -> str:
        return f"taskiq worker --workers {processes} --max-async-tasks {concurrency} (streams)"
