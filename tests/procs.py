"""Real worker PROCESSES for tests: start, observe, signal, always clean up.

The same file is the child's entry point: ``python tests/procs.py '<json spec>'`` builds
a :class:`rediq.Worker` from the spec and runs it in its main thread (so SIGTERM/SIGINT
reach the worker's own handlers). Every handler run is recorded as an event in the Redis
list ``EVENTS`` (start and end, server clock), so a test reads what really happened.

Spec (JSON)::

    {"url": "redis://...", "name": "w1", "grace": 30.0,
     "queues": {"q": {"concurrency": 2, "lease": 1.0, "rate_limit": [5, 0.5], ...}}}

The one handler, ``record``, is driven by the job's data (a dict, all keys optional):

* ``block``: attempt numbers on which the run waits until the test calls
  :func:`release` for this job (a BLPOP on ``ctl:<job id>``).
* ``sleep``: seconds the run takes.
* ``fail``: attempt numbers on which the run raises ``RuntimeError``.
* ``result``: what the run returns (default ``{"id", "attempt", "worker"}``).

In the parent, :class:`WorkerProcs` (the ``procs`` fixture in ``tests/client/conftest.py``)
starts children and SIGKILLs whatever still runs at teardown, even when the test failed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

EVENTS = "rec:events"
RUNNING = "rec:running"
HERE = Path(__file__).resolve().parent
PYTHON_DIR = HERE.parent / "python"


def release(r: Any, job_id: str, times: int = 1) -> None:
    """Let a run blocked on ``block`` go on (one token per blocked run)."""
    r.rpush(f"ctl:{job_id}", *(["1"] * times))


def events(r: Any, kind: str | None = None) -> list[dict[str, Any]]:
    """All recorded events (dicts with kind ``start``, ``end`` or ``stop``; id, attempt,
    worker, pid, t_ms (server clock), running (runs of the queue going on at the start))."""
    out = [json.loads(x) for x in r.lrange(EVENTS, 0, -1)]
    return [e for e in out if kind is None or e["kind"] == kind]


# ------------------------------------------------------------------------------ parent side
class WorkerProc:
    """One worker child process."""

    def __init__(self, name: str, popen: subprocess.Popen[bytes], log_path: Path) -> None:
        self.name = name
        self.popen = popen
        self.log_path = log_path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal(self, sig: int) -> None:
        """Send ``sig`` to this child only (by pid)."""
        if self.alive():
            os.kill(self.popen.pid, sig)

    def wait(self, timeout: float) -> int:
        """Wait for the child to exit; return its exit code (raises on timeout)."""
        return self.popen.wait(timeout)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


class WorkerProcs:
    """Start worker processes against ``url``; :meth:`cleanup` kills what is left."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.dir = Path(tempfile.mkdtemp(prefix="rediq-procs-"))
        self.procs: list[WorkerProc] = []

    def start(self, queues: dict[str, dict[str, Any]], *, name: str | None = None,
              grace: float = 30.0) -> WorkerProc:
        """Start one worker process serving ``queues`` ({name: QueueConfig kwargs})."""
        name = name or f"w{len(self.procs) + 1}"
        spec = {"url": self.url, "name": name, "grace": grace, "queues": queues,
                "parent": os.getpid()}
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(PYTHON_DIR)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
        log_path = self.dir / f"{name}.log"
        with open(log_path, "wb") as log:
            popen = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), json.dumps(spec)],
                                     stdout=log, stderr=subprocess.STDOUT, env=env)
        proc = WorkerProc(name, popen, log_path)
        self.procs.append(proc)
        return proc

    def cleanup(self) -> list[str]:
        """SIGKILL every child still running, reap all; return the logs of all children."""
        for p in self.procs:
            if p.alive():
                os.kill(p.pid, signal.SIGKILL)
        logs = []
        for p in self.procs:
            try:
                p.popen.wait(10)
            except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL cannot be ignored
                pass
            logs.append(f"--- worker {p.name} (pid {p.pid}, exit {p.popen.returncode}) ---\n{p.log()}")
        return logs


# ------------------------------------------------------------------------------- child side
def _config(kwargs: dict[str, Any]) -> Any:
    import rediq

    kwargs = dict(kwargs)
    if kwargs.get("rate_limit") is not None:
        kwargs["rate_limit"] = rediq.RateLimit(*kwargs["rate_limit"])
    return rediq.QueueConfig(**kwargs)


def _watch_parent(parent: int) -> None:
    """Exit when the test process is gone (a killed pytest leaves no orphan workers)."""
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(3)


def main(argv: list[str]) -> int:
    import logging

    import redis

    import rediq

    spec = json.loads(argv[1])
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s {spec['name']} %(levelname)s %(message)s")
    threading.Thread(target=_watch_parent, args=(spec["parent"],), daemon=True).start()
    name = spec["name"]
    client = rediq.Client.from_url(spec["url"], client_name=name)
    rec = redis.Redis.from_url(spec["url"], client_name=f"{name}-rec")

    def event(kind: str, job: rediq.JobContext, **extra: Any) -> None:
        sec, usec = rec.time()
        rec.rpush(EVENTS, json.dumps({"kind": kind, "id": job.id, "queue": job.queue,
                                      "attempt": job.attempt, "worker": name, "pid": os.getpid(),
                                      "t_ms": sec * 1000 + usec / 1000, **extra}))

    def record(job: rediq.JobContext) -> Any:
        data = job.data if isinstance(job.data, dict) else {}
        running = rec.incr(f"{RUNNING}:{job.queue}")
        try:
            event("start", job, running=running)
            if job.attempt in data.get("block", ()):
                if rec.blpop([f"ctl:{job.id}"], timeout=120) is None:
                    raise TimeoutError("never released by the test")
            if data.get("sleep"):
                time.sleep(data["sleep"])
            if job.attempt in data.get("fail", ()):
                raise RuntimeError(f"planned failure on attempt {job.attempt}")
            event("end", job)
        finally:
            rec.decr(f"{RUNNING}:{job.queue}")
        return data.get("result", {"id": job.id, "attempt": job.attempt, "worker": name})

    worker = rediq.Worker(client, {"record": record},
                          {q: _config(c) for q, c in spec["queues"].items()},
                          grace=spec["grace"], name=name)
    stop = worker.stop

    def recorded_stop(grace: float | None = None) -> None:
        # the signal handler calls worker.stop(): record when the stop was seen
        sec, usec = rec.time()
        rec.rpush(EVENTS, json.dumps({"kind": "stop", "worker": name, "pid": os.getpid(),
                                      "t_ms": sec * 1000 + usec / 1000}))
        stop(grace)

    worker.stop = recorded_stop  # type: ignore[method-assign]
    worker.run()
    logging.info("worker.run() returned")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
