"""Celery on its Redis transport: ``task.delay`` one at a time (no bulk enqueue: a
``group`` still sends one message per task), ``celery worker``.

Workers: ``celery -A rediq_bench.peers.celery_peer worker -c C -Q <queue>``: its default
prefork pool, with C pool processes instead of its default one per CPU; its default
prefetch (4 per pool process), log level (WARNING), mingle, gossip and heartbeats. No
result backend (Celery's default).

Delivery guarantee (defaults): at most once. ``acks_late`` is off, so a message is
acknowledged when the worker takes it, before the task runs; a worker that dies loses the
tasks it was running (messages it had prefetched but not started come back after the
transport's visibility timeout).
"""

from __future__ import annotations

import time
from typing import Any

from .base import Peer, record, settings

__all__ = ["Adapter"]

_apps: dict[str, Any] = {}


def _declare(url: str, ns: str) -> Any:
    """A Celery app whose default queue is ``ns``, and its task (once per process and name)."""
    if ns not in _apps:
        from celery import Celery

        app = Celery("rediqbench", broker=url, set_as_current=False)
        app.conf.task_default_queue = ns

        @app.task(name="noop")
        def noop(n: int, t: float = 0.0) -> None:
            record(t, time.time())

        _apps[ns] = (app, noop)
    return _apps[ns]


def __getattr__(name: str) -> Any:
    # ``celery -A rediq_bench.peers.celery_peer`` looks the app up here.
    if name in ("app", "celery"):
        url, ns, _, _ = settings()
        return _declare(url, ns)[0]
    raise AttributeError(name)


class Adapter(Peer):
    name = "celery"
    distributions = ("celery", "kombu", "redis")
    install = "celery[redis]"
    guarantee = "at most once (acknowledged before the task runs: acks_late is off)"
    requires = (
        ("celery", "not installed (pip install '{install}')"),
        ("kombu.transport.redis", "installed without its Redis transport (pip install '{install}')"),
        ("redis", "installed without its Redis transport (pip install '{install}')"),
    )

    def connect(self, url: str, ns: str) -> None:
        self.app, self.task = _declare(url, ns)
        with self.app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=3)

    def enqueue(self, n: int, t: float) -> None:
        self.task.delay(n, t)

    def close(self) -> Any:
        self.app.close()

    @classmethod
    def worker_commands(cls, python: str, url: str, ns: str, processes: int,
                        concurrency: int) -> list[list[str]]:
        return [[python, "-m", "celery", "-A", __name__, "worker", "-c", str(concurrency), "-Q", ns,
                 "-n", f"rediqbench{i}@%h"] for i in range(processes)]

    @classmethod
    def describe(cls, processes: int, concurrency: int) -> str:
        each = f"celery worker -c {concurrency} (prefork: {concurrency} pool processes)"
        return f"{processes} x {each}" if processes > 1 else each
