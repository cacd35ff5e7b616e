"""A worker PROCESS for the fault suite: ``python tests/faults/runner.py '<json spec>'``.

Spec: ``{"url", "name", "dir", "grace", "parent", "queues": {name: QueueConfig kwargs}}``.

Every handler run is recorded in ``<dir>/exec-<pid>.log``, one JSON line per event,
each written with a single ``write(2)`` on an ``O_APPEND`` descriptor: a SIGKILL, a
SIGSTOP or a Redis outage cannot erase or reorder what was recorded before it.
Events: ``start`` (before the handler body), ``end`` (the body returned), ``cancelled``
(an async run cancelled by its timeout). Each carries job id, queue, attempt, lease
token, pid, worker name and the wall-clock time ``t`` (the real one, even under skew). With
``"compact": true`` in the spec (the soak) a line is just ``<s|e|c> <id> <attempt> <queue>``.

Handlers (behaviour driven by the job's data, a dict, all keys optional):

* ``rec`` (sync): ``sleep`` seconds on every run, ``sleep_first`` seconds on attempt 1,
  ``sleep_on`` {attempt: seconds},
  ``fail`` attempts (a list, or ``"all"``) that raise, ``exit`` attempts on which the
  handler kills its own process with ``os._exit`` (a crash mid-job).
* ``arec`` (async def): the same ``sleep``/``sleep_first`` with ``asyncio.sleep``.

Both return ``{"pid", "attempt", "token", "worker"}``: the stored result names the run
whose completion was accepted.

Clock skew: ``REDIQ_FAULT_CLOCK_SKEW`` (seconds, may be negative) is added to
``time.time`` (and ``time_ns``) in this process before rediq is imported, as if the
machine's wall clock were that far off (libfaketime is not available here);
``time.monotonic`` is moved forward by the same amount (its origin differs between
machines anyway; moving it back could make it negative, which Linux never does).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from typing import Any

REAL_TIME = time.time


def _apply_clock_skew() -> float:
    skew = float(os.environ.get("REDIQ_FAULT_CLOCK_SKEW") or 0)
    if skew:
        real_mono = time.monotonic
        time.time = lambda: REAL_TIME() + skew  # type: ignore[assignment]
        time.monotonic = lambda: real_mono() + abs(skew)  # type: ignore[assignment]
        time.time_ns = lambda: int((REAL_TIME() + skew) * 1e9)  # type: ignore[assignment]
    return skew


SKEW = _apply_clock_skew()


def _watch_parent(parent: int) -> None:
    """Exit when the test process is gone (a killed pytest leaves no orphan workers)."""
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(3)


def _matches(spec: Any, attempt: int) -> bool:
    return spec == "all" or (isinstance(spec, list) and attempt in spec)


def main(argv: list[str]) -> int:
    import asyncio
    import logging

    import rediq

    spec = json.loads(argv[1])
    name = spec["name"]
    logging.basicConfig(level=logging.INFO,
                        format=f"%(asctime)s {name} %(threadName)s %(levelname)s %(message)s")
    threading.Thread(target=_watch_parent, args=(spec["parent"],), daemon=True).start()
    fd = os.open(os.path.join(spec["dir"], f"exec-{os.getpid()}.log"),
                 os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    compact = bool(spec.get("compact"))

    def record(ev: str, job: Any) -> None:
        if compact:  # the soak: "<s|e> <id> <attempt> <queue>", ~25 bytes a line
            os.write(fd, f"{ev[0]} {job.id} {job.attempt} {job.queue}\n".encode())
            return
        line = json.dumps({"ev": ev, "id": job.id, "q": job.queue, "attempt": job.attempt,
                           "token": getattr(job, "_token", None), "pid": os.getpid(),
                           "w": name, "t": REAL_TIME()}) + "\n"
        os.write(fd, line.encode())

    def outcome(job: Any) -> dict[str, Any]:
        return {"pid": os.getpid(), "attempt": job.attempt,
                "token": getattr(job, "_token", None), "worker": name}

    def rec(job: Any) -> Any:
        data = job.data if isinstance(job.data, dict) else {}
        record("start", job)
        if _matches(data.get("exit"), job.attempt):
            os._exit(17)
        if data.get("sleep_first") and job.attempt == 1:
            time.sleep(data["sleep_first"])
        if data.get("sleep"):
            time.sleep(data["sleep"])
        if str(job.attempt) in data.get("sleep_on", {}):
            time.sleep(data["sleep_on"][str(job.attempt)])
        if _matches(data.get("fail"), job.attempt):
            raise RuntimeError(f"planned failure on attempt {job.attempt}")
        record("end", job)
        return outcome(job)

    async def arec(job: Any) -> Any:
        data = job.data if isinstance(job.data, dict) else {}
        record("start", job)
        try:
            if data.get("sleep_first") and job.attempt == 1:
                await asyncio.sleep(data["sleep_first"])
            if data.get("sleep"):
                await asyncio.sleep(data["sleep"])
        except asyncio.CancelledError:
            record("cancelled", job)
            raise
        record("end", job)
        return outcome(job)

    queues = {}
    for qname, kwargs in spec["queues"].items():
        kwargs = dict(kwargs)
        if kwargs.get("rate_limit") is not None:
            kwargs["rate_limit"] = rediq.RateLimit(*kwargs["rate_limit"])
        queues[qname] = rediq.QueueConfig(**kwargs)
    client = rediq.Client.from_url(spec["url"], client_name=name)
    worker = rediq.Worker(client, {"rec": rec, "arec": arec}, queues,
                          grace=spec.get("grace", 30.0), name=name)
    logging.info("runner %s pid %d clock skew %+.0f s", name, os.getpid(), SKEW)
    worker.run()
    logging.info("worker.run() returned (%d processed)", worker.processed)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
