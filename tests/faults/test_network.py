"""The network between workers and Redis cut or stalled (a TCP proxy in the test)."""

from __future__ import annotations

import time
from typing import Iterator

import pytest
import redis

import rediq
from rediq import commands as C
from rediq._options import SOCKET_TIMEOUT
from rediq._scripts import SCRIPTS
from rediq._server import EmbeddedServer

from helpers import wait_until

from .harness import QUEUE, Fleet, check_outcomes, drain, enqueue_workload, fault_jobs, queue_config
from .proxy import Proxy


@pytest.fixture
def proxies(fault_server: EmbeddedServer) -> Iterator[list[Proxy]]:
    made: list[Proxy] = []

    class Factory(list):  # type: ignore[type-arg]
        def new(self) -> Proxy:
            p = Proxy(fault_server.port)
            made.append(p)
            return p

    yield Factory()  # type: ignore[misc]
    for p in made:
        p.close()


def test_partitioned_worker_recovers_and_its_late_completions_are_refused(
        fleet: Fleet, fclient: rediq.Client, proxies: list[Proxy]) -> None:
    """Worker A loses Redis (every byte swallowed, no error) for three leases while B
    keeps working: B recovers A's jobs; when the network heals A reconnects by itself,
    its stale completions are refused, and every job is accounted for."""
    n = max(fault_jobs() // 3, 100)
    cfg = {QUEUE: queue_config(concurrency=4, lease=1.0)}
    ids = enqueue_workload(fclient, n, {"sleep": 0.05})
    link = proxies.new()  # type: ignore[attr-defined]
    a = fleet.start(cfg, name="A", url=link.url)
    fleet.start(cfg, name="B")
    wait_until(lambda: any(e["w"] == "A" for e in fleet.executions()), 20, "A to run jobs")
    link.blackhole()
    time.sleep(3.0)
    link.heal()
    drain(fclient, n, timeout=120, fleet=fleet)
    wait_until(lambda: any(e["w"] == "A" and e["t"] > time.time() - 5 for e in fleet.executions())
               or fclient.queue(QUEUE).counts()["completed"] == n, 20, "A to work again")
    assert a.alive()
    fleet.stop()
    out = check_outcomes(fclient, ids, fleet.executions())
    print(f"\npartition of one worker: {out.summary()}")
    assert not out.problems, out.problems[:20]
    assert out.states["completed"] == n and out.stalls > 0


@pytest.mark.parametrize("mode", ["refuse", "blackhole"])
def test_workers_do_not_busy_loop_while_redis_is_unreachable(
        mode: str, fleet: Fleet, fclient: rediq.Client, proxies: list[Proxy]) -> None:
    """Redis unreachable for 4 s (connections refused, or a silent partition): the
    workers use little CPU and make few connection attempts meanwhile, then finish
    every job once it is back."""
    n = 300
    cfg = {QUEUE: queue_config(concurrency=4, lease=1.0)}
    ids = enqueue_workload(fclient, n, {"sleep": 0.05})
    link = proxies.new()  # type: ignore[attr-defined]
    procs = [fleet.start(cfg, url=link.url) for _ in range(2)]
    wait_until(lambda: len(fleet.executions()) > 20, 20, "workers to run jobs")
    outage = 4.0
    cpu0 = [p.cpu_seconds() for p in procs]
    getattr(link, mode)()
    attempts0 = link.accepted
    time.sleep(outage)
    attempts = link.accepted - attempts0
    cpu = [p.cpu_seconds() - c for p, c in zip(procs, cpu0)]
    link.heal()
    drain(fclient, n, timeout=120, fleet=fleet)
    fleet.stop()
    print(f"\n{mode} for {outage} s: {attempts} connection attempts, worker CPU {cpu}")
    assert max(cpu) < 0.25 * outage, f"busy loop while unreachable: CPU seconds {cpu}"
    assert attempts < 60 * len(procs), f"{attempts} connection attempts in {outage} s"
    out = check_outcomes(fclient, ids, fleet.executions())
    assert not out.problems, out.problems[:20]
    assert out.states["completed"] == n


def test_claim_whose_reply_is_lost_orphans_no_job(fault_server: EmbeddedServer,
                                                  proxies: list[Proxy],
                                                  caplog: pytest.LogCaptureFixture) -> None:
    """The connection drops after the server ran a claim but before its reply arrived:
    the client's retry must not leave the first claim's jobs leased to nobody; they go
    back to waiting with no stall and no attempt counted."""
    link = proxies.new()  # type: ignore[attr-defined]
    client = rediq.Client.from_url(link.url)
    try:
        q = client.queue(QUEUE)
        q.enqueue_many([("rec", {}, {"job_id": "a"}), ("rec", {}, {"job_id": "b"})])
        client.redis.script_load(SCRIPTS["claim-7"].source)  # the cut call is the real claim
        link.cut_next_reply_containing = SCRIPTS["claim-7"].sha.encode()
        res = C.parse_claim(client.run(C.build_claim(q.keys, 1, "tok-1", 60_000)))
        got = [j.id for j in res.jobs]
        active = [m.decode() for m in client.redis.zrange(q.keys.active, 0, -1)]
        assert link.cut_next_reply_containing is None, "the proxy did not cut the claim"
        assert active == got, f"claimed {got}, but leased (active): {active}"
        (lost,) = {"a", "b"} - set(got)   # the first run's job, handed back untouched
        info = q.get(lost)
        assert (info.state, info.attempts_made, info.stalls) == ("waiting", 0, 0), info
        assert [x.decode() for x in client.redis.lrange(q.keys.wait, 0, -1)] == [lost]
        assert "reply was lost" in caplog.text
    finally:
        client.close()


def test_complete_and_claim_whose_reply_is_lost_orphans_no_job(
        fault_server: EmbeddedServer, proxies: list[Proxy]) -> None:
    """The same for complete-8 (finish one job, claim the next in one call): the repeat
    finds the completion done (ALREADY_FINISHED, the result kept) and the first run's
    claimed job goes back to waiting."""
    link = proxies.new()  # type: ignore[attr-defined]
    client = rediq.Client.from_url(link.url)
    try:
        q = client.queue(QUEUE)
        q.enqueue_many([("rec", {}, {"job_id": i}) for i in ("a", "b", "c")])
        assert [j.id for j in C.parse_claim(client.run(C.build_claim(q.keys, 1, "tok-0", 60_000))).jobs] == ["a"]
        client.redis.script_load(SCRIPTS["complete-8"].source)
        link.cut_next_reply_containing = SCRIPTS["complete-8"].sha.encode()
        codes, res = C.parse_complete(client.run(
            C.build_complete(q.keys, [("a", "tok-0", rediq.codec.encode("done"))], 1, "tok-1", 60_000)))
        assert link.cut_next_reply_containing is None, "the proxy did not cut the call"
        assert codes == [C.Code.ALREADY_FINISHED] and q.get("a").result == "done"
        got = [j.id for j in res.jobs]
        active = [m.decode() for m in client.redis.zrange(q.keys.active, 0, -1)]
        assert len(got) == 1 and active == got, f"claimed {got}, but leased (active): {active}"
        (lost,) = {"b", "c"} - set(got)
        info = q.get(lost)
        assert (info.state, info.attempts_made, info.stalls) == ("waiting", 0, 0), info
    finally:
        client.close()


def test_worker_reports_a_silent_partition_within_a_few_leases(
        fleet: Fleet, fclient: rediq.Client, proxies: list[Proxy]) -> None:
    """Every byte to Redis swallowed (no reset, no refusal): within the socket timeout
    (a few leases) the worker says so in its log instead of hanging silently, and once
    the link heals it goes on and every job completes."""
    cfg = {QUEUE: queue_config(concurrency=2, lease=1.0)}
    ids = enqueue_workload(fclient, 200, {"sleep": 0.05})
    link = proxies.new()  # type: ignore[attr-defined]
    w = fleet.start(cfg, url=link.url)
    wait_until(lambda: len(fleet.executions()) > 5, 20, "the worker to run jobs")
    before = w.log().count("WARNING")
    link.blackhole()
    try:
        wait_until(lambda: w.log().count("WARNING") > before, SOCKET_TIMEOUT + 4.0,
                   "a warning in the worker log")
        assert "Redis call failed" in w.log()
    finally:
        link.heal()
    wait_until(lambda: fclient.queue(QUEUE).counts()["completed"] == len(ids), 90,
               "the worker to finish every job after the link healed")
    out = check_outcomes(fclient, ids, fleet.executions())
    assert not out.problems, out.problems[:20]
