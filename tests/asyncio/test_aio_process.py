"""A worker process with async handlers stops gracefully on SIGTERM / SIGINT.

The child is ``aio_worker_proc.py``; the test sends the signal while an async job runs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import wait_until

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "aio_worker_proc.py"
PYTHON_DIR = HERE.parents[1] / "python"


@pytest.fixture
def start_proc(server: Any, r: Any, tmp_path: Path) -> Iterator[Any]:
    """Start ``aio_worker_proc.py`` children; SIGKILL what still runs at teardown."""
    procs: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(mode: str, grace: float) -> subprocess.Popen[bytes]:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(PYTHON_DIR)] + [p for p in [env.get("PYTHONPATH")] if p])
        log = tmp_path / f"worker{len(procs)}.log"
        with open(log, "wb") as out:
            p = subprocess.Popen([sys.executable, str(SCRIPT), server.url, mode, str(grace)],
                                 stdout=out, stderr=subprocess.STDOUT, env=env)
        procs.append((p, log))
        return p

    yield start
    for p, log in procs:
        if p.poll() is None:
            p.kill()
        p.wait(10)
        print(f"--- worker pid {p.pid} exit {p.returncode} ---\n{log.read_text(errors='replace')[-3000:]}")


def _events(r: Any) -> list[str]:
    return [e.decode() for e in r.lrange("proc:events", 0, -1)]


@pytest.mark.parametrize("mode, sig", [("run", signal.SIGTERM), ("run", signal.SIGINT),
                                       ("run_async", signal.SIGINT)],
                         ids=["run-SIGTERM", "run-SIGINT", "run_async-SIGINT"])
def test_worker_process_on_signal_lets_the_running_async_job_finish_and_exits_0(
        start_proc, client, r, mode, sig):
    q = client.queue("q")
    running, queued = q.enqueue("slow", {"secs": 1.0}), q.enqueue("slow", {"secs": 0})
    proc = start_proc(mode, 10.0)
    wait_until(lambda: _events(r) == [f"start:{running.id}"], 20, "the first job to start")
    t0 = time.monotonic()
    proc.send_signal(sig)
    assert proc.wait(10) == 0
    took = time.monotonic() - t0
    assert _events(r) == [f"start:{running.id}", f"end:{running.id}"]
    assert q.job(running.id).result(timeout=0) == {"pid": proc.pid}
    assert q.get(queued.id).state == "waiting"   # claimed no more after the signal
    assert took < 5, f"exit took {took:.1f} s for a job with 1 s left"


def test_worker_process_past_grace_hands_the_async_job_back_and_exits_0(start_proc, client, r):
    q = client.queue("q")
    job = q.enqueue("slow", {"secs": 60})
    proc = start_proc("run", 0.5)
    wait_until(lambda: _events(r) == [f"start:{job.id}"], 20, "the job to start")
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    assert time.monotonic() - t0 < 5
    info = q.get(job.id)
    assert (info.state, info.stalls, info.failures, info.attempts_made) == ("waiting", 0, 0, 1)
    assert _events(r) == [f"start:{job.id}", f"cancelled:{job.id}"]
