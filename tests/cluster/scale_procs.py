"""Worker and producer PROCESSES for the scale-out tests (Cluster and Sentinel).

Like ``tests/procs.py``, but the queue URL may be a ``redis+cluster://`` or
``redis+sentinel://`` URL, and everything a test observes is recorded on a separate
plain Redis (``rec_url``), so the record survives a failover of the deployment under test
and adds no commands to its nodes.

The same file is the child's entry point: ``python scale_procs.py '<json spec>'``.

Worker spec::

    {"role": "worker", "url": ..., "rec_url": ..., "name": "w1", "grace": 30.0,
     "queues": {"q": {"concurrency": 2, "lease": 1.0, ...}}, "parent": pid}

Handlers: ``record`` (as in ``tests/procs.py``: data keys ``block``, ``sleep``, ``fail``,
``result``; every run recorded as ``start``/``end`` events in :data:`EVENTS`) and ``noop``
(returns its data; records nothing, for drains).

Producer spec::

    {"role": "producer", "url": ..., "rec_url": ..., "queues": ["a", "b"], "interval": 0.005,
     "wait_replicas": 0, "wait_timeout": 1.0, "parent": pid}

It enqueues ``record`` jobs with ids ``p<n>`` round robin over ``queues``, one every
``interval`` seconds, until the key :data:`STOP` exists. Each acknowledged enqueue (the
call returned normally) is recorded in :data:`ACKED` as ``{"id", "queue", "t"}`` (``t``:
``time.time()`` of the acknowledgement); a call that raised is recorded in
:data:`ERRORS` and repeated with the same id (a retry never stores a job twice).
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
ACKED = "prod:acked"
ERRORS = "prod:errors"
STOP = "prod:stop"
HERE = Path(__file__).resolve().parent
PYTHON_DIR = HERE.parent.parent / "python"


def release(rec: Any, job_id: str, times: int = 1) -> None:
    """Let a ``record`` run blocked on ``block`` go on."""
    rec.rpush(f"ctl:{job_id}", *(["1"] * times))


def events(rec: Any, kind: str | None = None) -> list[dict[str, Any]]:
    """Recorded events (kind ``start``/``end``/``stop``; id, queue, attempt, worker, pid, t)."""
    out = [json.loads(x) for x in rec.lrange(EVENTS, 0, -1)]
    return [e for e in out if kind is None or e["kind"] == kind]


def acked(rec: Any) -> list[dict[str, Any]]:
    """The producer's acknowledged enqueues, in order."""
    return [json.loads(x) for x in rec.lrange(ACKED, 0, -1)]


def errors(rec: Any) -> list[dict[str, Any]]:
    """The producer's failed enqueue calls (each was repeated with the same id)."""
    return [json.loads(x) for x in rec.lrange(ERRORS, 0, -1)]


# ------------------------------------------------------------------------------ parent side
class Proc:
    """One child process."""

    def __init__(self, name: str, popen: subprocess.Popen[bytes], log_path: Path) -> None:
        self.name, self.popen, self.log_path = name, popen, log_path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            os.kill(self.popen.pid, sig)

    def wait(self, timeout: float) -> int:
        return self.popen.wait(timeout)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


class ScaleProcs:
    """Start worker and producer processes against ``url``; :meth:`cleanup` kills the rest."""

    def __init__(self, url: str, rec_url: str) -> None:
        self.url, self.rec_url = url, rec_url
        self.dir = Path(tempfile.mkdtemp(prefix="rediq-scale-"))
        self.procs: list[Proc] = []

    def _spawn(self, spec: dict[str, Any]) -> Proc:
        spec = {"url": self.url, "rec_url": self.rec_url, "parent": os.getpid(), **spec}
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(PYTHON_DIR)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
        log_path = self.dir / f"{spec['name']}.log"
        with open(log_path, "wb") as log:
            popen = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), json.dumps(spec)],
                                     stdout=log, stderr=subprocess.STDOUT, env=env)
        proc = Proc(spec["name"], popen, log_path)
        self.procs.append(proc)
        return proc

    def worker(self, queues: dict[str, dict[str, Any]], *, name: str | None = None,
               grace: float = 30.0) -> Proc:
        """Start a worker process serving ``queues`` ({name: QueueConfig kwargs})."""
        return self._spawn({"role": "worker", "name": name or f"w{len(self.procs) + 1}",
                            "grace": grace, "queues": queues})

    def producer(self, queues: list[str], *, interval: float = 0.005, wait_replicas: int = 0,
                 wait_timeout: float = 1.0, name: str = "producer") -> Proc:
        """Start a producer process (see the module docstring); stop it with :meth:`stop_producer`."""
        return self._spawn({"role": "producer", "name": name, "queues": queues, "interval": interval,
                            "wait_replicas": wait_replicas, "wait_timeout": wait_timeout})

    def cleanup(self) -> list[str]:
        """SIGKILL every child still running, reap all; return their logs."""
        for p in self.procs:
            if p.alive():
                os.kill(p.pid, signal.SIGKILL)
        logs = []
        for p in self.procs:
            try:
                p.popen.wait(10)
            except subprocess.TimeoutExpired:  # pragma: no cover
                pass
            logs.append(f"--- {p.name} (pid {p.pid}, exit {p.popen.returncode}) ---\n{p.log()[-4000:]}")
        return logs


# ------------------------------------------------------------------------------- child side
def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(3)


def _config(kwargs: dict[str, Any]) -> Any:
    import rediq

    kwargs = dict(kwargs)
    if kwargs.get("rate_limit") is not None:
        kwargs["rate_limit"] = rediq.RateLimit(*kwargs["rate_limit"])
    return rediq.QueueConfig(**kwargs)


def _worker(spec: dict[str, Any]) -> int:
    import logging

    import rediq
    import redis

    name = spec["name"]
    client = rediq.Client.from_url(spec["url"], client_name=name)
    rec = redis.Redis.from_url(spec["rec_url"])

    def event(kind: str, job: rediq.JobContext, **extra: Any) -> None:
        rec.rpush(EVENTS, json.dumps({"kind": kind, "id": job.id, "queue": job.queue,
                                      "attempt": job.attempt, "worker": name, "pid": os.getpid(),
                                      "t": time.time(), **extra}))

    def record(job: rediq.JobContext) -> Any:
        data = job.data if isinstance(job.data, dict) else {}
        event("start", job)
        if job.attempt in data.get("block", ()):
            if rec.blpop([f"ctl:{job.id}"], timeout=120) is None:
                raise TimeoutError("never released by the test")
        if data.get("sleep"):
            time.sleep(data["sleep"])
        if job.attempt in data.get("fail", ()):
            raise RuntimeError(f"planned failure on attempt {job.attempt}")
        event("end", job)
        return data.get("result", {"id": job.id, "attempt": job.attempt, "worker": name})

    def noop(job: rediq.JobContext) -> Any:
        return job.data

    worker = rediq.Worker(client, {"record": record, "noop": noop},
                          {q: _config(c) for q, c in spec["queues"].items()},
                          grace=spec["grace"], name=name)
    stop = worker.stop

    def recorded_stop(grace: float | None = None) -> None:
        rec.rpush(EVENTS, json.dumps({"kind": "stop", "worker": name, "pid": os.getpid(), "t": time.time()}))
        stop(grace)

    worker.stop = recorded_stop  # type: ignore[method-assign]
    worker.run()
    logging.info("worker.run() returned")
    return 0


def _producer(spec: dict[str, Any]) -> int:
    import rediq
    import redis

    client = rediq.Client.from_url(spec["url"], client_name=spec["name"],
                                   wait_replicas=spec["wait_replicas"], wait_timeout=spec["wait_timeout"])
    rec = redis.Redis.from_url(spec["rec_url"])
    queues = [client.queue(q) for q in spec["queues"]]
    interval = spec["interval"]
    n = 0
    next_at = time.monotonic()
    while not rec.exists(STOP):
        q = queues[n % len(queues)]
        job_id = f"p{n}"
        try:
            job = q.enqueue("record", {"n": n}, job_id=job_id)
        except (rediq.RediqError, redis.RedisError) as exc:
            # not acknowledged: note it and repeat with the same id
            rec.rpush(ERRORS, json.dumps({"id": job_id, "t": time.time(), "type": type(exc).__name__,
                                          "error": str(exc)[:300]}))
            time.sleep(0.05)
            continue
        rec.rpush(ACKED, json.dumps({"id": job_id, "queue": q.name, "t": time.time(),
                                     "existed": job.existed}))
        n += 1
        next_at += interval
        delay = next_at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        else:
            next_at = time.monotonic()
    return 0


def main(argv: list[str]) -> int:
    import logging

    spec = json.loads(argv[1])
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s {spec['name']} %(levelname)s %(message)s")
    threading.Thread(target=_watch_parent, args=(spec["parent"],), daemon=True).start()
    return _worker(spec) if spec["role"] == "worker" else _producer(spec)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
