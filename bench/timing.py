"""Timing scenarios: latency at a steady enqueue rate, and the rate limit.

Start and end times come from the handler (``time.time()`` in the worker process, kept
locally and sent back after the run). The job records' server times (created_ms,
started_ms, finished_ms) are read after the measured window, as a cross-check.
"""

from __future__ import annotations

import time
from typing import Any

from .quantiles import quantile, quantile_curve
from .runner import Bench, Result, WorkerGroup
from .scenarios import fill
from .serverstats import cost

__all__ = ["latency", "rate_limit", "max_in_window"]


def max_in_window(times: list[float], window: float) -> int:
    """The most of ``times`` (sorted) that fall in any half-open window of ``window`` length."""
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while times[lo] <= t - window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def _server_times(b: Bench, queue: str, ids: list[str]) -> list[tuple[int, int, int]]:
    """(created_ms, started_ms, finished_ms) of the jobs still kept (bookkeeping)."""
    keys = b.client.queue(queue).keys
    out: list[tuple[int, int, int]] = []
    for i in range(0, len(ids), 1000):
        pipe = b.stats.pipeline(transaction=False)
        for job_id in ids[i:i + 1000]:
            pipe.hmget(keys.job(job_id), "created_ms", "started_ms", "finished_ms")
        for row in pipe.execute():
            if all(v is not None for v in row):
                out.append((int(row[0]), int(row[1]), int(row[2])))
    return out


def _ms(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {f"p{int(q * 100)}": round(quantile(ordered, q), 3) for q in (0.5, 0.95, 0.99)} | {
        "max": round(ordered[-1], 3) if ordered else float("nan")}


def latency(b: Bench) -> list[Result]:
    """Enqueue at a steady rate to one idle worker; enqueue->start and ->completion.

    Then watch the idle workers for ``idle_seconds``: what they cost the server.
    """
    s = b.sizes
    n = max(int(s.latency_rate * s.latency_seconds), 20)
    name = b.queue_name("latency")
    q = b.client.queue(name)
    b.client.queue(b.queue_name("warm")).enqueue("noop", None)  # warm the enqueuer
    ids: list[str] = []
    calls: list[float] = []
    with WorkerGroup(b.spec([name], "timed"), 1, b.progress) as group:
        group.start()
        time.sleep(0.5)  # the worker sets up and goes idle (blocked on its wake key)
        b.progress.start(f"latency {s.latency_rate:g}/s", n)
        before = b.snapshot()
        period, t0 = 1.0 / s.latency_rate, time.perf_counter()
        for i in range(n):
            delay = t0 + i * period - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            sent = time.time()
            ids.append(q.enqueue("timed", {"t": sent}).id)
            calls.append(time.time() - sent)
            if i % 20 == 0:
                b.progress.update(group.done())
        enqueue_secs = time.perf_counter() - t0
        group.wait_for(n, timeout=30.0)
        time.sleep(0.05)
        after = b.snapshot()
        time.sleep(s.idle_seconds)
        idle_end = b.snapshot()
        _, timed = group.stop()
    to_start = [(st - sent) * 1000 for sent, st, _ in timed]
    to_done = [(end - sent) * 1000 for sent, _, end in timed]
    server = _server_times(b, name, ids)
    idle = cost(after, idle_end, 1)
    figures: dict[str, Any] = {
        "rate_configured": s.latency_rate, "rate_achieved": round(n / enqueue_secs, 1),
        "enqueue_to_start_ms": _ms(to_start), "enqueue_to_complete_ms": _ms(to_done),
        "enqueue_call_ms": _ms([c * 1000 for c in calls]),
        "server_created_to_started_ms": _ms([float(st - c) for c, st, _ in server]),
        "server_created_to_finished_ms": _ms([float(f - c) for c, _, f in server]),
        "idle_seconds": s.idle_seconds,
        "idle_commands_per_s": round(idle.commands / max(idle.seconds, 1e-9), 2),
        "idle_script_calls_per_s": round(idle.script_calls / max(idle.seconds, 1e-9), 2),
        "idle_redis_cpu_us_per_s": round(idle.cpu_us / max(idle.seconds, 1e-9), 1),
        "idle_by_command": idle.by_command,
    }
    row = Result("latency", f"{s.latency_rate:g} jobs/s, 1 proc x{s.concurrency}", n,
                 n / enqueue_secs, figures, cost(before, after, n, memory="kept"),
                 notes=["completion = the handler returned (measured in the worker process)",
                        "server times have 1 ms resolution",
                        "at a low rate every call wakes an idle server: Redis CPU per job is "
                        "higher than in the throughput scenarios (cold caches, one event-loop "
                        "turn per call)"],
                 curves={"enqueue_to_start_ms": quantile_curve(to_start),
                         "enqueue_to_complete_ms": quantile_curve(to_done)})
    return [row]


def rate_limit(b: Bench) -> list[Result]:
    """Drain a queue limited to ``rate_max`` starts per ``rate_period``; compare achieved."""
    s = b.sizes
    n = s.rate_max * s.rate_windows
    name = b.queue_name("rate-limit")
    b.progress.start("rate_limit: enqueue", n)
    ids: list[str] = []
    _, fill_cost = fill(b, [name], n, lambda i: {"t": 0.0}, runs="timed", ids=ids)
    spec = b.spec([name], "timed", (s.rate_max, s.rate_period))
    expected = s.rate_windows * s.rate_period
    with WorkerGroup(spec, 1, b.progress) as group:
        b.progress.start(f"rate_limit {s.rate_max}/{s.rate_period:g}s", n)
        before = b.snapshot()
        group.start()
        group.wait_for(n, timeout=expected * 3 + 30)
        time.sleep(0.05)
        after = b.snapshot()
        _, timed = group.stop()
    starts = sorted(st for _, st, _ in timed)
    server_starts = sorted(float(st) for _, st, _ in _server_times(b, name, ids))  # ms
    configured = s.rate_max / s.rate_period
    span = starts[-1] - starts[0]
    achieved = (n - s.rate_max) / span if span > 0 else float("nan")
    c = cost(before, after, n)
    c.mem_per_job, c.mem_kind = fill_cost.mem_per_job, "waiting"
    figures = {
        "configured_per_s": round(configured, 2), "achieved_per_s": round(achieved, 2),
        "rate_max": s.rate_max, "rate_period_s": s.rate_period,
        "max_starts_in_any_window": max_in_window(starts, s.rate_period),
        "max_starts_in_any_window_server": max_in_window(server_starts, s.rate_period * 1000),
        "server_records_read": len(server_starts),
    }
    note = ("achieved = starts after the first window's burst / time from first to last start; "
            "the limit is checked on the server's clock (started_ms); the worker-clock "
            "figure adds the handler dispatch jitter")
    return [Result("rate_limit", f"{s.rate_max} per {s.rate_period:g} s", n, achieved, figures, c,
                   notes=[note])]
