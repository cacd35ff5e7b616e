"""Throughput scenarios: enqueue, enqueue_many, drain, scaling, payload, codec.

Every measured window is bracketed by two :func:`serverstats.snapshot` calls and holds
nothing but the work being measured: completions are counted through local shared
memory, never by asking Redis.
"""

from __future__ import annotations

import inspect
import os
import time
from typing import Any, Callable

from .quantiles import quantile
from .runner import Bench, Result, WorkerGroup
from .serverstats import Cost, cost

__all__ = ["Skipped", "enqueue", "enqueue_many", "drain", "scaling", "payload", "codec", "fill",
           "run_drain"]


class Skipped(Exception):
    """A scenario that cannot run here; the message says why."""


def _tiny(i: int) -> dict[str, int]:
    return {"n": i}


def enqueue(b: Bench) -> list[Result]:
    """One client enqueues ``jobs`` jobs, one per call (enqueue-5)."""
    n = b.sizes.jobs
    q = b.client.queue(b.queue_name("enqueue"))
    warm = b.client.queue(b.queue_name("warm"))
    for i in range(20):  # warm: connection open, script loaded
        warm.enqueue("noop", _tiny(i))
    b.progress.start("enqueue", n)
    before = b.snapshot()
    t = time.perf_counter()
    for i in range(n):
        q.enqueue("noop", _tiny(i))
        if i % 500 == 0:
            b.progress.update(i)
    secs = time.perf_counter() - t
    after = b.snapshot()
    b.progress.update(n)
    return [Result("enqueue", "1 client, 1 job/call", n, n / secs,
                   {"seconds": round(secs, 3), "us_per_call": round(secs / n * 1e6, 1)},
                   cost(before, after, n, memory="waiting"))]


def fill(b: Bench, names: list[str], n: int, data: Callable[[int], Any],
          runs: str = "noop", ids: list[str] | None = None) -> tuple[float, Cost]:
    """Enqueue ``n`` jobs spread over ``names`` in batches; return (seconds, cost).

    Args:
        ids: when given, the new jobs' ids are appended to it.
    """
    batch = b.sizes.batch
    queues = [b.client.queue(name) for name in names]
    b.client.queue(b.queue_name("warm")).enqueue_many([(runs, data(0))])  # warm, unmeasured
    per = [n // len(names) + (1 if i < n % len(names) else 0) for i in range(len(names))]
    before = b.snapshot()
    secs, done = 0.0, 0
    for q, count in zip(queues, per):
        for start in range(0, count, batch):
            items = [(runs, data(done + j)) for j in range(min(batch, count - start))]
            t = time.perf_counter()
            jobs = q.enqueue_many(items)
            secs += time.perf_counter() - t
            if ids is not None:
                ids += [job.id for job in jobs]
            done += len(items)
            b.progress.update(done)
    after = b.snapshot()
    return secs, cost(before, after, n, memory="waiting")


def enqueue_many(b: Bench) -> list[Result]:
    """One client enqueues ``10 x jobs`` jobs in batches of ``batch`` (enqueue-5)."""
    n = b.sizes.jobs * 10
    b.progress.start("enqueue_many", n)
    secs, c = fill(b, [b.queue_name("enqueue-many")], n, _tiny)
    return [Result("enqueue_many", f"batches of {b.sizes.batch}", n, n / secs,
                   {"seconds": round(secs, 3), "batch": b.sizes.batch}, c)]


def run_drain(b: Bench, scenario: str, case: str, n: int, processes: int, queues: int = 1,
              data: Callable[[int], Any] = _tiny) -> tuple[Result, Result]:
    """Pre-enqueue ``n`` jobs, then drain them with worker processes.

    Returns:
        (the pre-enqueue as a row, the drain as a row). The drain's wall time runs from
        the workers' start to the last completion; the steady rate is that of the middle
        80 % of completions. Its memory figure is the pre-enqueue's (bytes per waiting job).
    """
    names = [b.queue_name(scenario) for _ in range(queues)]
    b.progress.start(f"{scenario} {case}: enqueue", n)
    fill_secs, fill_cost = fill(b, names, n, data)
    filled = Result(scenario, f"{case} enqueue_many", n, n / fill_secs,
                  {"seconds": round(fill_secs, 3)}, fill_cost)
    with WorkerGroup(b.spec(names), processes, b.progress) as group:
        b.progress.start(f"{scenario} {case}: drain", n)
        before = b.snapshot()
        t0 = group.start()
        group.wait_for(n, timeout=max(60.0, n / 100))
        time.sleep(0.05)  # let the last completions reach the server
        after = b.snapshot()
        ends, _ = group.stop()
    wall = ends[-1] - t0
    c = cost(before, after, n)
    c.mem_per_job, c.mem_kind = fill_cost.mem_per_job, "waiting"
    q10, q90 = quantile(ends, 0.1), quantile(ends, 0.9)
    steady = 0.8 * n / (q90 - q10) if q90 > q10 else float("nan")
    figures = {"wall_s": round(wall, 3), "steady_jobs_per_s": round(steady, 1),
               "first_completion_ms": round((ends[0] - t0) * 1000, 2),
               "processes": processes, "concurrency": b.sizes.concurrency, "queues": queues}
    return filled, Result(scenario, case, n, n / wall, figures, c)


def drain(b: Bench) -> list[Result]:
    """``jobs`` no-op jobs drained by ``workers`` processes x ``concurrency``."""
    s = b.sizes
    _, row = run_drain(b, "drain", f"{s.workers} proc x{s.concurrency}", s.jobs, s.workers)
    return [row]


def scaling(b: Bench) -> list[Result]:
    """Drain with 1, 2 and 4 worker processes, then with 16 queues on one process."""
    s = b.sizes
    n = max(s.jobs // 2, 200)
    rows: list[Result] = []
    for procs in (1, 2, 4):
        _, row = run_drain(b, "scaling", f"{procs} proc x{s.concurrency}", n, procs)
        rows.append(row)
    _, sixteen = run_drain(b, "scaling", f"16 queues, 1 proc x{s.concurrency}/queue", n, 1, queues=16)
    rows.append(sixteen)
    base = rows[0].throughput or 1.0
    for row in rows[1:3]:
        row.figures["speedup_vs_1_proc"] = round((row.throughput or 0.0) / base, 2)
    one_cpu = rows[0].cost.cpu_us if rows[0].cost else 0.0
    if sixteen.cost and one_cpu:
        sixteen.figures["redis_cpu_vs_1_queue"] = round(sixteen.cost.cpu_us / one_cpu, 2)
    return rows


def _constant(value: bytes) -> Callable[[int], bytes]:
    def data(i: int) -> bytes:
        return value

    return data


def payload(b: Bench) -> list[Result]:
    """Enqueue (in batches) and drain jobs carrying 1 KB and 64 KB payloads."""
    rows: list[Result] = []
    for size, label, n in ((1024, "1 KB", max(b.sizes.jobs // 4, 100)),
                           (65536, "64 KB", max(b.sizes.jobs // 20, 50))):
        blob = os.urandom(size)
        filled, drained = run_drain(b, "payload", label, n, 1, data=_constant(blob))
        filled.figures["mb_per_s"] = round((filled.throughput or 0.0) * size / 1e6, 1)
        drained.figures["mb_per_s"] = round((drained.throughput or 0.0) * size / 1e6, 1)
        rows += [filled, drained]
    return rows


def _numbers(prefix: str, value: Any, out: dict[str, float]) -> None:
    if isinstance(value, bool):
        return
    if isinstance(value, (int, float)):
        out[prefix] = value
    elif isinstance(value, dict):
        for k, v in value.items():
            _numbers(f"{prefix}.{k}" if prefix else str(k), v, out)


def _codec_rows(out: Any, implementation: str) -> list[Result]:
    """One row per payload size: microseconds per encode and decode, per codec."""
    cells = out.get("results") if isinstance(out, dict) else None
    if not isinstance(cells, list) or not all(isinstance(c, dict) and {"codec", "op", "size",
                                                                       "us_per_op"} <= c.keys()
                                              for c in cells):
        flat: dict[str, float] = {}
        _numbers("", out, flat)
        return [Result("codec", f"implementation {implementation}", 0, None, {"numbers": flat})]
    rows = []
    for size in dict.fromkeys(c["size"] for c in cells):
        mine = {(c["codec"], c["op"]): c for c in cells if c["size"] == size}
        figures: dict[str, Any] = {f"{name}.{op}_us": c["us_per_op"] for (name, op), c in mine.items()}
        figures["bytes"] = next(iter(mine.values())).get("bytes")
        rows.append(Result("codec", f"{size} B payload ({implementation})", 0, None, figures,
                           notes=["micro-benchmark of the codec alone: no Redis traffic"]))
    return rows


def codec(b: Bench) -> list[Result]:
    """Run the codec micro-benchmark of ``bench/codec_bench.py`` (no Redis involved), then
    the dequeue loop with each codec and the claim reply shapes (``bench/dequeue_bench.py``)."""
    try:
        from . import codec_bench
    except ImportError as exc:
        if exc.name and exc.name.endswith("codec_bench"):
            raise Skipped("bench/codec_bench.py is not there yet") from None
        raise Skipped(f"the codec micro-benchmark needs {exc.name}, which is not installed") from None
    run = getattr(codec_bench, "run", None)
    if not callable(run):
        raise Skipped("bench/codec_bench.py has no run() function yet")
    params = inspect.signature(run).parameters
    kwargs: dict[str, Any] = {}
    if "seconds" in params:
        kwargs["seconds"] = b.sizes.codec_seconds
    b.progress.start("codec", 1)
    try:
        out = run(**kwargs)
    except ImportError as exc:
        raise Skipped(f"the codec micro-benchmark needs {exc.name}, which is not installed") from None
    b.progress.update(1)
    from rediq import codec as rcodec

    from . import dequeue_bench

    n = max(b.sizes.jobs // 4, 500)
    return (_codec_rows(out, f"rediq-{rcodec.IMPLEMENTATION}")
            + dequeue_bench.loop(b, n, b.sizes.concurrency)
            + dequeue_bench.reply_shape(b, n, b.sizes.concurrency))
