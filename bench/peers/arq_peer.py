"""arq: ``pool.enqueue_job`` one at a time (no bulk API), its ``arq`` CLI.

Workers: ``arq rediq_bench.peers.arq_peer.WorkerSettings`` with ``max_jobs`` C (its
default is 10), everything else its defaults: it polls the queue every 0.5 s, keeps each
result for an hour. Its log level is set to WARNING through ``--custom-log-dict``: arq
logs two lines per job at its default level, and rediq's worker logs nothing per job.

arq 0.28 requires redis-py < 6, which clashes with celery's and bullmq's requirements:
give it an interpreter of its own with ``--peer-python arq=/path/to/python``.

Delivery guarantee (defaults): at least once ("pessimistic execution"): a job stays in
the queue until it finished; the job of a dead worker runs again once its in-progress key
expires (job timeout + 10 s), up to ``max_tries`` (5) runs.
"""

from __future__ import annotations

import time
from typing import Any

from .base import Peer, delete_listed, record, settings

__all__ = ["Adapter", "LOG_CONFIG"]

#: arq's own default logging config, at WARNING instead of INFO.
LOG_CONFIG: dict[str, Any] = {
    "version": 1, "disable_existing_loggers": False,
    "handlers": {"arq.standard": {"level": "WARNING", "class": "logging.StreamHandler"}},
    "loggers": {"arq": {"handlers": ["arq.standard"], "level": "WARNING"}},
}


async def noop(ctx: Any, n: int, t: float = 0.0) -> None:
    """The benchmark's task: report the completion to the bench, nothing else."""
    record(t, time.time())


def __getattr__(name: str) -> Any:
    # ``arq rediq_bench.peers.arq_peer.WorkerSettings`` looks the settings up here.
    if name == "WorkerSettings":
        from arq.connections import RedisSettings

        url, ns, concurrency, _ = settings()
        return type("WorkerSettings", (), {
            "functions": [noop], "redis_settings": RedisSettings.from_dsn(url),
            "queue_name": ns, "max_jobs": concurrency})
    raise AttributeError(name)


class Adapter(Peer):
    name = "arq"
    distributions = ("arq", "redis")
    install = "arq"
    guarantee = "at least once (a dead worker's job runs again when its in-progress key expires)"
    requires = (
        ("arq", "not installed: arq 0.28 needs redis-py < 6, which clashes with celery[redis] "
                "and bullmq; install it in a virtualenv of its own and pass "
                "--peer-python arq=/path/to/that/python"),
    )
    is_async = True

    async def connect(self, url: str, ns: str) -> None:
        from arq import create_pool
        from arq.connections import RedisSettings

        self.pool = await create_pool(RedisSettings.from_dsn(url), default_queue_name=ns)

    async def enqueue(self, n: int, t: float) -> None:
        await self.pool.enqueue_job("noop", n, t)

    async def close(self) -> None:
        await self.pool.aclose()

    @classmethod
    def worker_commands(cls, python: str, url: str, ns: str, processes: int,
                        concurrency: int) -> list[list[str]]:
        return [[python, "-m", "arq", f"{__name__}.WorkerSettings", "--custom-log-dict",
                 f"{__name__}.LOG_CONFIG"] for _ in range(processes)]

    @classmethod
    def describe(cls, processes: int, concurrency: int) -> str:
        return (f"{processes} x " if processes > 1 else "") + f"arq worker, max_jobs {concurrency}"

    @classmethod
    def cleanup(cls, r: Any, ns: str) -> None:
        # Jobs still queued are kept under global names: delete those the queue lists.
        ids = [i.decode() for i in r.zrange(ns, 0, -1)]
        delete_listed(r, [f"arq:job:{i}" for i in ids])
        super().cleanup(r, ns)
