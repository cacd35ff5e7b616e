"""Workers killed with SIGKILL mid-drain, and jobs that crash or poison their worker.

Every run is recorded by the handler in an append-only file before the body runs, so a
SIGKILL cannot hide a run; the checks (``harness.check_outcomes``) then account for
every job and every duplicate run.
"""

from __future__ import annotations

import time

import rediq

from .harness import (
    QUEUE, Fleet, check_outcomes, drain, enqueue_workload, fault_jobs, queue_config,
)


def test_kill_9_random_workers_during_a_drain_loses_nothing(fleet: Fleet, fclient: rediq.Client) -> None:
    """SIGKILL a random worker every 1-2 s (and start a replacement) while 3 workers
    drain the workload: every job ends completed (or failed for stalling more than
    max_stalls), every extra run is explained by a recorded stall, and every stored
    result is the one of the job's last lease."""
    n = fault_jobs()
    cfg = {QUEUE: queue_config(concurrency=4, max_stalls=3)}
    ids = enqueue_workload(fclient, n, {"sleep": 0.03})
    for _ in range(3):
        fleet.start(cfg)
    killer = fleet.killer(cfg, every=(1.0, 2.0))
    drain(fclient, n, timeout=120, step=killer, fleet=fleet)
    killed = killer()
    fleet.stop()
    out = check_outcomes(fclient, ids, fleet.executions())
    print(f"\nkill -9: {killed} workers killed; {out.summary()}")
    assert not out.problems, out.problems[:20]
    assert killed >= 2, "the drain ended before the faults began: raise REDIQ_FAULT_JOBS"
    assert out.states["completed"] + len(out.failed_by_stalls) == n
    # leases really expired (and were counted), yet no job ran without a recorded reason
    assert out.stalls > 0 and out.duplicate_runs <= out.stalls


def test_job_that_crashes_its_worker_fails_after_max_stalls(fleet: Fleet, fclient: rediq.Client) -> None:
    """A job whose handler kills its own process (os._exit) on every run: each crash is
    one stall; after max_stalls + 1 runs it is failed and never runs again, while the
    other jobs (on workers of concurrency 1) all complete without a stall."""
    max_stalls = 2
    cfg = {QUEUE: queue_config(concurrency=1, max_stalls=max_stalls, lease=0.5)}
    q = fclient.queue(QUEUE)
    q.enqueue("rec", {"exit": "all"}, job_id="crasher")
    ids = enqueue_workload(fclient, 40, {"sleep": 0.01})
    for _ in range(2):
        fleet.start(cfg)

    def keep_two_workers() -> None:
        for _ in range(2 - len(fleet.alive())):
            fleet.start(cfg)

    drain(fclient, 41, timeout=60, step=keep_two_workers, fleet=fleet)
    time.sleep(1.0)  # a looping job would run again within a lease or two
    fleet.stop()
    execs = fleet.executions()
    info = q.get("crasher")
    crasher_runs = [e for e in execs if e["id"] == "crasher" and e["ev"] == "start"]
    assert info.state == "failed" and info.stalls == max_stalls + 1, info
    assert "stalled" in (info.error or "")
    assert len(crasher_runs) == max_stalls + 1
    out = check_outcomes(fclient, ids, execs)
    assert not out.problems, out.problems[:20]
    assert out.states["completed"] == len(ids) and out.stalls == 0
