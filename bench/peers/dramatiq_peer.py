"""dramatiq with its Redis broker: ``actor.send`` one at a time (no bulk API), its CLI.

Workers: ``dramatiq rediq_bench.peers.dramatiq_peer:setup --processes P --threads C``, its
default middleware and prefetch. (Its defaults are a process per CPU and 8 threads each;
the bench sets processes and threads to rediq's worker processes and concurrency.)

Delivery guarantee (defaults): at least once. A message is acknowledged after the actor
ran; the messages a dead worker held are put back by another worker's maintenance once
that worker's heartbeat is older than the heartbeat timeout.
"""

from __future__ import annotations

import time
from typing import Any

from .base import Peer, record, settings

__all__ = ["Adapter", "setup"]

_actors: dict[str, Any] = {}


def _declare(url: str, ns: str) -> Any:
    """Set the Redis broker (once per process) and declare the actor of queue ``ns``."""
    import dramatiq

    if not _actors:
        from dramatiq.brokers.redis import RedisBroker

        dramatiq.set_broker(RedisBroker(url=url))
    if ns not in _actors:
        def noop(n: int, t: float = 0.0) -> None:
            record(t, time.time())

        _actors[ns] = dramatiq.actor(noop, queue_name=ns, actor_name=f"noop-{ns}")
    return _actors[ns]


def setup() -> None:
    """The CLI's broker callable: configure from the environment the bench set."""
    url, ns, _, _ = settings()
    _declare(url, ns)


class Adapter(Peer):
    name = "dramatiq"
    distributions = ("dramatiq", "redis")
    install = "dramatiq[redis]"
    guarantee = "at least once (acknowledged after the run; a dead worker's messages requeued)"
    requires = (
        ("dramatiq", "not installed (pip install '{install}')"),
        ("dramatiq.brokers.redis", "installed without its Redis broker (pip install '{install}')"),
    )

    def connect(self, url: str, ns: str) -> None:
        self.actor = _declare(url, ns)
        self.actor.broker.client.ping()

    def enqueue(self, n: int, t: float) -> None:
        self.actor.send(n, t)

    def close(self) -> Any:
        self.actor.broker.close()

    @classmethod
    def worker_commands(cls, python: str, url: str, ns: str, processes: int,
                        concurrency: int) -> list[list[str]]:
        return [[python, "-m", "dramatiq", f"{__name__}:setup", "--processes", str(processes),
                 "--threads", str(concurrency), "--queues", ns]]

    @classmethod
    def describe(cls, processes: int, concurrency: int) -> str:
        return f"dramatiq --processes {processes} --threads {concurrency}"
