"""rq: ``Queue.enqueue`` one at a time, ``Queue.enqueue_many`` in bulk, ``rq worker-pool``.

Workers: ``rq worker-pool -n C`` (its documented way to run several workers from one
command), with rq's default ``Worker`` class, which forks a work horse per job; rq runs one
job at a time per worker, so concurrency C means C worker processes. ``--quiet``: rq logs
three lines per job at its default level, and rediq's worker logs nothing per job.

Delivery guarantee (defaults): at most once. A job whose worker dies stays in the started
registry until its lease runs out, then goes to the failed registry as abandoned; it is not
run again unless the job was enqueued with a ``Retry``.
"""

from __future__ import annotations

import time
from typing import Any

from .base import Peer, delete_listed, record

__all__ = ["Adapter", "noop"]


def noop(n: int, t: float = 0.0) -> None:
    """The benchmark's task: report the completion to the bench, nothing else."""
    record(t, time.time())


class Adapter(Peer):
    name = "rq"
    distributions = ("rq", "redis")
    install = "rq"
    guarantee = "at most once (a dead worker's job goes to the failed registry as abandoned)"
    requires = (
        ("rq", "not installed (pip install {install})"),
    )
    bulk = "Queue.enqueue_many"

    def connect(self, url: str, ns: str) -> None:
        import redis
        from rq import Queue

        self.redis = redis.Redis.from_url(url)
        self.queue = Queue(ns, connection=self.redis)

    def enqueue(self, n: int, t: float) -> None:
        self.queue.enqueue(noop, n, t)

    def enqueue_bulk(self, items: list[tuple[int, float]]) -> None:
        from rq import Queue

        self.queue.enqueue_many([Queue.prepare_data(noop, (n, t)) for n, t in items])

    def close(self) -> Any:
        self.redis.close()

    @classmethod
    def worker_commands(cls, python: str, url: str, ns: str, processes: int,
                        concurrency: int) -> list[list[str]]:
        return [[python, "-m", "rq.cli", "worker-pool", "--url", url, "--quiet",
                 "--num-workers", str(processes * concurrency), ns]]

    @classmethod
    def describe(cls, processes: int, concurrency: int) -> str:
        return f"rq worker-pool -n {processes * concurrency} (a process per worker, fork per job)"

    @classmethod
    def cleanup(cls, r: Any, ns: str) -> None:
        # Waiting jobs never expire: delete those still listed in the queue.
        ids = [i.decode() for i in r.lrange(f"rq:queue:{ns}", 0, -1)]
        delete_listed(r, [f"rq:job:{i}" for i in ids])
        super().cleanup(r, ns)
