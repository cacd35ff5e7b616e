"""Queue-wide limits and failure paths across real worker PROCESSES (tests/procs.py)."""

from __future__ import annotations

import signal
import time

import rediq
from helpers import wait_until
from procs import events, release
from rediq import commands as C
from rediq._scripts import SCRIPTS
from rediq.errors import Code


def _all_finished(q, n):
    def check():
        c = q.counts()
        return c["completed"] + c["failed"] == n and c
    return check


def test_rate_limit_holds_across_three_worker_processes(client, procs):
    q = client.queue("api")
    rate_max, period = 4, 0.25
    cfg = {"concurrency": 3, "rate_limit": [rate_max, period]}
    jobs = q.enqueue_many([("record", {}) for _ in range(48)])
    for _ in range(3):
        procs.start({"api": cfg})
    wait_until(_all_finished(q, len(jobs)), 30, "all jobs finished")

    starts = sorted(int(round(q.get(j.id).started_at * 1000)) for j in jobs)
    period_ms = int(period * 1000)
    for a, b in zip(starts, starts[rate_max:]):
        assert b - a >= period_ms, f"{rate_max + 1} starts within {b - a} ms (limit {rate_max}/{period_ms} ms)"
    # not starved: the achieved start rate is close to the limit
    achieved = (len(starts) - 1) / ((starts[-1] - starts[0]) / 1000)
    assert achieved >= 0.8 * rate_max / period, f"{achieved:.1f} starts/s, limit {rate_max / period:.0f}/s"
    assert len({e["worker"] for e in events(client.redis, "start")}) >= 2  # the limit was shared
    assert q.counts()["completed"] == len(jobs)


def test_global_concurrency_cap_holds_across_two_worker_processes(client, procs):
    q = client.queue("capped")
    cap = 3
    cfg = {"concurrency": 2, "global_concurrency": cap}  # the cap is reached only by both together
    jobs = q.enqueue_many([("record", {"sleep": 0.05}) for _ in range(40)])
    procs.start({"capped": cfg})
    procs.start({"capped": cfg})
    wait_until(_all_finished(q, len(jobs)), 30, "all jobs finished")

    starts = events(client.redis, "start")
    assert len(starts) == len(jobs)
    peak = max(e["running"] for e in starts)
    assert peak <= cap, f"{peak} jobs ran at once; the cap is {cap}"
    assert peak == cap, "the cap was never reached: the workers did not use the free slots"
    # the same from the server's side: intervals between start and finish, server clock
    spans = sorted((q.get(j.id).started_at, q.get(j.id).finished_at) for j in jobs)
    for i, (s, _) in enumerate(spans):
        overlapping = sum(1 for s2, f2 in spans[:i + 1] if f2 > s)
        assert overlapping <= cap


def test_killed_worker_jobs_are_finished_by_another_process_and_old_token_is_refused(client, procs, r):
    q = client.queue("crashy")
    cfg = {"concurrency": 5, "lease": 1.0}
    jobs = q.enqueue_many([("record", {"block": [1, 2] if i == 0 else [1]}) for i in range(5)])
    victim = procs.start({"crashy": cfg}, name="victim")
    wait_until(lambda: len(events(r, "start")) == 5, 10, "the victim started all five jobs")
    assert {e["worker"] for e in events(r, "start")} == {"victim"}
    old_token = r.hget(q.keys.job(jobs[0].id), "token").decode()

    victim.signal(signal.SIGKILL)
    victim.wait(5)
    procs.start({"crashy": cfg}, name="rescuer")
    for j in jobs[1:]:
        assert j.result(timeout=15)["worker"] == "rescuer"
    wait_until(lambda: [e for e in events(r, "start") if e["id"] == jobs[0].id and e["attempt"] == 2],
               10, "job 0 re-claimed by the rescuer")

    # job 0 is active under the rescuer's lease: the victim's token changes nothing
    before = r.hgetall(q.keys.job(jobs[0].id))
    assert before[b"state"] == b"active" and before[b"token"].decode() != old_token
    call = C.build_complete(q.keys, [(jobs[0].id, old_token, rediq.codec.encode("stale"))], 0, "x", 1000)
    codes, _ = C.parse_complete(client.run(call))
    assert codes == [Code.LEASE_LOST]
    fail = C.parse_fail(client.run(C.build_fail(q.keys, jobs[0].id, old_token, "stale", 0.5)))
    assert fail.code == Code.LEASE_LOST
    assert r.hgetall(q.keys.job(jobs[0].id)) == before

    release(r, jobs[0].id)
    assert jobs[0].result(timeout=10) == {"id": jobs[0].id, "attempt": 2, "worker": "rescuer"}
    for j in jobs:
        info = q.get(j.id)
        assert (info.state, info.stalls, info.attempts_made, info.failures) == ("completed", 1, 2, 0)
    assert q.counts()["stalled"] == 5
    codes, _ = C.parse_complete(client.run(call))
    assert codes == [Code.LEASE_LOST]
    assert q.get(jobs[0].id).result == {"id": jobs[0].id, "attempt": 2, "worker": "rescuer"}


def test_sigterm_lets_running_job_finish_within_grace_and_claims_nothing_more(client, procs, r):
    q = client.queue("q")
    worker = procs.start({"q": {"concurrency": 1}}, grace=20)
    job = q.enqueue("record", {"block": [1]})
    wait_until(lambda: events(r, "start"), 10, "job started")
    queued = q.enqueue("record", {})

    worker.signal(signal.SIGTERM)
    wait_until(lambda: events(r, "stop"), 5, "the worker saw SIGTERM")
    # a window in which a wrong implementation would hand the job back or exit
    time.sleep(0.5)
    assert worker.alive() and q.get(job.id).state == "active"
    release(r, job.id)
    assert worker.wait(10) == 0
    assert q.get(job.id).state == "completed"
    info = q.get(queued.id)
    assert (info.state, info.attempts_made) == ("waiting", 0)


def test_sigterm_with_tiny_grace_hands_running_job_back_at_once(client, procs, r):
    q = client.queue("q")
    worker = procs.start({"q": {"concurrency": 1, "lease": 30.0}}, grace=0.2, name="stopped")
    job = q.enqueue("record", {"block": [1]})
    wait_until(lambda: events(r, "start"), 10, "job started")

    sent = time.monotonic()
    worker.signal(signal.SIGTERM)
    wait_until(lambda: q.get(job.id).state == "waiting", 5, "job handed back")
    assert time.monotonic() - sent < 5, "handed back by lease expiry, not by the stop"
    assert worker.wait(10) == 0
    info = q.get(job.id)
    assert (info.stalls, info.attempts_made) == (0, 1)
    assert q.counts()["stalled"] == 0

    procs.start({"q": {"concurrency": 1}}, name="next")
    assert job.result(timeout=10) == {"id": job.id, "attempt": 2, "worker": "next"}
    assert q.get(job.id).stalls == 0


def test_script_flush_while_draining_breaks_nothing(client, procs, r):
    q = client.queue("bulk")
    n = 3000
    jobs = q.enqueue_many([("record", {"result": i}) for i in range(n)])
    procs.start({"bulk": {"concurrency": 8}})
    flushes = 0
    while q.counts()["completed"] < n and flushes < 200:
        wait_until(lambda: r.script_exists(SCRIPTS["complete-8"].sha) == [True]
                   or q.counts()["completed"] == n, 10, "the worker reloaded its scripts")
        r.script_flush()
        flushes += 1
    wait_until(_all_finished(q, n), 60, "every job finished")
    print("script flushes:", flushes)
    assert flushes >= 3, "the drain was too quick to flush scripts in the middle of it"
    assert q.counts()["completed"] == n and q.counts()["failed"] == 0
    assert [j.result(timeout=1) for j in jobs[::300]] == list(range(0, n, 300))


def test_job_that_kills_its_worker_fails_alone_past_max_stalls(client, procs, r):
    q = client.queue("poison")
    cfg = {"concurrency": 1, "lease": 1.0, "max_stalls": 0}
    poison = q.enqueue("record", {"block": [1]})
    others = q.enqueue_many([("record", {}) for _ in range(3)])
    victim = procs.start({"poison": cfg}, name="victim")
    wait_until(lambda: events(r, "start"), 10, "the poison job started")
    victim.signal(signal.SIGKILL)
    victim.wait(5)
    procs.start({"poison": cfg}, name="rescuer")
    assert [j.result(timeout=10)["worker"] for j in others] == ["rescuer"] * 3
    wait_until(lambda: q.get(poison.id).state == "failed", 10, "the poison job failed")
    info = q.get(poison.id)
    assert (info.stalls, info.attempts_made, info.failures) == (1, 1, 0)
    assert "stalled 1 times" in info.error and "max_stalls is 0" in info.error
    assert all(q.get(j.id).stalls == 0 for j in others)
    assert [e["id"] for e in events(r, "start")].count(poison.id) == 1
