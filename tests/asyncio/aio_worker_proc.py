"""A worker PROCESS with an async handler, for the signal tests of ``test_aio_process``.

Usage: ``python aio_worker_proc.py URL MODE GRACE`` where MODE is ``run`` (``worker.run()``
in the main thread: it installs the SIGTERM/SIGINT handlers) or ``run_async``
(``asyncio.run(worker.run_async())``: SIGINT cancels the main task, which stops the
worker gracefully). Exits 0 once the worker has stopped.

The handler ``slow`` (queue ``q``, concurrency 1) pushes ``start:<id>`` to the Redis list
``proc:events``, awaits ``job.data["secs"]`` seconds, pushes ``end:<id>`` and returns its pid;
a cancelled run pushes ``cancelled:<id>``.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
from typing import Any

import rediq


def _watch_parent(parent: int) -> None:
    """Exit when the test process is gone (a killed pytest leaves no orphan worker)."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(3)


def main(argv: list[str]) -> int:
    url, mode, grace = argv[1], argv[2], float(argv[3])
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()

    async def slow(job: rediq.JobContext) -> dict[str, Any]:
        events = job.client.redis   # the handler's AsyncClient
        await events.rpush("proc:events", f"start:{job.id}")
        try:
            await asyncio.sleep(job.data["secs"])
        except asyncio.CancelledError:
            await events.rpush("proc:events", f"cancelled:{job.id}")
            raise
        await events.rpush("proc:events", f"end:{job.id}")
        return {"pid": os.getpid()}

    worker = rediq.Worker(rediq.Client.from_url(url), {"slow": slow},
                          {"q": rediq.QueueConfig(concurrency=1)}, grace=grace)
    if mode == "run":
        worker.run()
    else:
        try:
            asyncio.run(worker.run_async())
        except KeyboardInterrupt:
            pass
    print("worker stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
