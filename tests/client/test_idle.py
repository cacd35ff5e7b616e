"""What idle costs: a producer holds no blocking connection or thread; an idle worker
does not poll, yet starts a new job within milliseconds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import rediq
from helpers import wait_until
from procs import PYTHON_DIR

PRODUCER = r"""
import json, sys, threading
import rediq
before = threading.active_count()
client = rediq.Client.from_url(sys.argv[1], client_name="producer")
q = client.queue("q")
jobs = q.enqueue_many([("work", i) for i in range(50)])
q.enqueue("work", "one", delay=30, priority=3)
info = jobs[0].info()
counts = q.counts()
clients = [c for c in client.redis.client_list() if c["name"] == "producer"]
print(json.dumps({"before": before, "after": threading.active_count(),
                  "threads": [t.name for t in threading.enumerate()],
                  "clients": [{"cmd": c["cmd"], "flags": c["flags"]} for c in clients],
                  "state": info.state, "waiting": counts["waiting"]}))
"""


def test_enqueue_only_process_opens_no_blocking_connection_and_starts_no_thread(server, r):
    env = dict(os.environ, PYTHONPATH=str(PYTHON_DIR))
    out = subprocess.run([sys.executable, "-c", PRODUCER, server.url], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout)
    assert seen["before"] == seen["after"] == 1, seen["threads"]
    assert len(seen["clients"]) == 1, seen["clients"]
    assert "b" not in seen["clients"][0]["flags"]
    assert (seen["state"], seen["waiting"]) == ("waiting", 50)


def _commands(r):
    return int(r.info("stats")["total_commands_processed"])


def test_idle_worker_does_not_poll_yet_starts_a_new_job_within_milliseconds(client, workers, rec, r):
    q = client.queue("q")
    workers.start({"work": lambda job: rec(job)}, {"q": rediq.QueueConfig(concurrency=4)},
                  client_name="idle")
    latencies = []
    for i in range(5):
        wait_until(lambda: [c for c in r.client_list() if c["name"] == "idle" and "b" in c["flags"]],
                   5, "the worker blocked")
        if i == 0:
            before = _commands(r)
            time.sleep(2.0)  # the idle window being measured
            idle = _commands(r) - before - 1  # minus our own INFO
            assert idle <= 4, f"an idle worker sent {idle} commands in 2 s"
        job = q.enqueue("work", i)
        job.result(timeout=5)
        started = rec.of(job.id)[0]["t_ms"]
        latencies.append(started / 1000 - q.get(job.id).created_at)
    assert max(latencies) < 0.5, latencies
