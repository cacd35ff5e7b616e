"""The worker process of a benchmark: one ``rediq.Worker`` started on a signal.

The parent starts it with the ``spawn`` context and talks to it only through local
shared memory and a pipe, never through the measured Redis server: the handlers count
completions into ``counts[slot]`` and keep their timestamps in a list that is sent back
through the pipe once the worker has stopped. (A pipe, not multiprocessing events: an
event whose waiter died can hang the parent's ``set()``; a pipe just reports EOF, and a
worker whose parent is gone stops.)
"""

from __future__ import annotations

import threading
import time
import traceback
from dataclasses import dataclass
from typing import Any

__all__ = ["WorkerSpec", "serve"]


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    """What one worker process serves.

    Attributes:
        url: the Redis URL.
        prefix: the key prefix of the benchmark's queues.
        queues: queue names; each gets ``concurrency`` slots.
        concurrency: jobs run at once per queue.
        handler: "noop" (records the end time) or "timed" (records the enqueue time from
            the payload's ``t``, the start and the end time).
        rate_max: queue-wide rate limit: at most this many starts per ``rate_period`` (0: none).
        rate_period: the rate-limit window in seconds.
    """

    url: str
    prefix: str
    queues: tuple[str, ...]
    concurrency: int
    handler: str = "noop"
    rate_max: int = 0
    rate_period: float = 1.0


class _Recorder:
    """The handlers: record times locally, publish the count through shared memory."""

    def __init__(self, counts: Any, slot: int) -> None:
        self.counts = counts
        self.slot = slot
        self.lock = threading.Lock()
        self.ends: list[float] = []
        self.timed: list[tuple[float, float, float]] = []

    def noop(self, job: Any) -> None:
        t = time.time()
        with self.lock:
            self.ends.append(t)
            self.counts[self.slot] = len(self.ends)

    def timed_run(self, job: Any) -> None:
        start = time.time()
        data = job.data
        sent = float(data.get("t", 0.0)) if isinstance(data, dict) else 0.0
        end = time.time()
        with self.lock:
            self.timed.append((sent, start, end))
            self.counts[self.slot] = len(self.timed)


def _wait(conn: Any) -> None:
    """Return when the parent sends a word on ``conn`` or goes away."""
    try:
        conn.recv()
    except (EOFError, OSError):
        pass


def serve(spec: WorkerSpec, slot: int, counts: Any, ready: Any, conn: Any) -> None:
    """Build the worker, say ready, wait for "go", run until "stop"; send the times.

    Args:
        spec: what to serve.
        slot: this process's index in ``counts`` and ``ready``.
        counts: shared array of completed-job counts, one slot per process.
        ready: shared array; ``ready[slot]`` is set to 1 once the worker is built.
        conn: this process's end of a duplex pipe: receives "go" then "stop"; sends
            ``("ok", ends, timed)`` or ``("error", traceback text)``.
    """
    try:
        import rediq

        recorder = _Recorder(counts, slot)
        client = rediq.Client.from_url(spec.url, prefix=spec.prefix)
        limit = rediq.RateLimit(spec.rate_max, spec.rate_period) if spec.rate_max else None
        config = rediq.QueueConfig(concurrency=spec.concurrency, rate_limit=limit)
        worker = rediq.Worker(client, {"noop": recorder.noop, "timed": recorder.timed_run},
                              {q: config for q in spec.queues}, grace=5.0)
        client.redis.ping()
        ready[slot] = 1
        _wait(conn)  # "go"

        def stop_when_told() -> None:
            _wait(conn)  # "stop", or the parent is gone
            worker.stop()

        threading.Thread(target=stop_when_told, daemon=True).start()
        worker.run()
        conn.send(("ok", recorder.ends, recorder.timed))
    except BaseException:  # noqa: BLE001 - the parent reports it
        try:
            conn.send(("error", traceback.format_exc()))
        except OSError:
            pass
