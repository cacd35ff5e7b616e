"""The targets of issue 5, checked against this run's figures.

A target relative to the peers is checked against the peers measured in this run, on the
same server (``--peers``), when any of them measured that figure; otherwise against the
reference figures written in the issue, which were measured on the 2-core reference
machine, not in this run, and every such line says so.
"""

from __future__ import annotations

from typing import Any

from .runner import Result

__all__ = ["REFERENCE", "REFERENCE_LABEL", "MEASURED_LABEL", "evaluate"]

REFERENCE_LABEL = "reference figures from the issue, not measured in this run"
MEASURED_LABEL = "measured in this run, same server"

#: The best peers' figures quoted in issue 5 (2-core reference machine, concurrency 16,
#: one worker process).
REFERENCE: dict[str, Any] = {
    "drain_jobs_per_s": {"huey": 9800, "dramatiq": 4200, "taskiq": 3700, "saq": 1900,
                         "bullmq": 1400},
    "redis_cpu_us_per_drained_job": {"taskiq": 17.0, "huey": 17.0, "dramatiq": 30.0,
                                     "bullmq": 78.0},
    "enqueue_jobs_per_s": {"huey": 32000},
    "enqueue_bulk_jobs_per_s": {"rq": 18000},
    "latency_at_200_ms": {"best p50": 0.4, "best p99": 1.1},
}


def _find(results: list[Result], scenario: str, **figures: Any) -> Result | None:
    """rediq's first row of ``scenario`` whose figures match ``figures``."""
    for r in results:
        if r.system == "rediq" and r.scenario == scenario and all(
                r.figures.get(k) == v for k, v in figures.items()):
            return r
    return None


def _cpu_per_job(r: Result) -> float | None:
    return r.cost.cpu_us / max(r.cost.jobs, 1) if r.cost else None


def _peer_values(results: list[Result], scenario: str, key: str) -> dict[str, float]:
    """{peer: figure} over the peers' rows of ``scenario`` in this run (drain: with one
    worker process, as the target says)."""
    out: dict[str, float] = {}
    for r in results:
        if r.system == "rediq" or r.scenario != scenario:
            continue
        if scenario == "drain" and r.figures.get("processes") != 1:
            continue
        value = r.throughput if key == "jobs_per_s" else _cpu_per_job(r)
        if value is not None and value == value and value > 0:
            out[r.system] = float(value)
    return out


def _target(name: str, measured: float | None, op: str, threshold: float, unit: str,
            basis: str, where: str) -> dict[str, Any]:
    met: bool | None = None
    if measured is not None and measured == measured:  # not NaN
        met = measured >= threshold if op == ">=" else measured <= threshold \
            if op == "<=" else measured < threshold
    margin = None
    if met is not None and threshold:
        margin = round((measured or 0.0) / threshold, 3)
    return {"target": name, "measured": None if measured is None else round(measured, 3),
            "op": op, "threshold": round(threshold, 3), "unit": unit, "met": met,
            "ratio_to_threshold": margin, "basis": basis, "row": where}


def _best(table: str, measured: dict[str, float], lowest: bool = False
          ) -> tuple[str, float, str]:
    """(peer, value, label): the best of this run's peers, else of the issue's figures."""
    items = measured.items() if measured else REFERENCE[table].items()
    name, value = (min if lowest else max)(items, key=lambda kv: kv[1])
    label = (f"{MEASURED_LABEL}; best of {len(measured)} peer(s)" if measured
             else REFERENCE_LABEL)
    return name, float(value), label


def evaluate(results: list[Result]) -> list[dict[str, Any]]:
    """Check every target of the issue that this run's scenarios measured.

    Returns:
        one dict per target: target, measured, op, threshold, unit, met (None: not
        measured in this run), ratio_to_threshold, basis, row.
    """
    out: list[dict[str, Any]] = []
    one = _find(results, "drain", processes=1) or _find(results, "scaling", processes=1, queues=1)
    where = f"{one.scenario} {one.case}" if one else "drain with 1 worker process: not run"
    peer, jobs, label = _best("drain_jobs_per_s", _peer_values(results, "drain", "jobs_per_s"))
    basis = f"2 x {peer} {jobs:,.0f} jobs/s ({label})"
    out.append(_target("drain, 1 worker process: >= 2x the fastest peer",
                       one.throughput if one else None, ">=", 2 * jobs, "jobs/s", basis, where))
    peer, cpu, label = _best("redis_cpu_us_per_drained_job",
                             _peer_values(results, "drain", "cpu"), lowest=True)
    measured = _cpu_per_job(one) if one else None
    out.append(_target("Redis CPU per drained job: <= half the lowest peer's", measured, "<=",
                       cpu / 2, "us/job", f"{peer} {cpu:.3g} us/job / 2 ({label})", where))
    enq = _find(results, "enqueue")
    peer, rate, label = _best("enqueue_jobs_per_s", _peer_values(results, "enqueue", "jobs_per_s"))
    out.append(_target("enqueue one at a time: >= the fastest peer",
                       enq.throughput if enq else None, ">=", rate, "jobs/s",
                       f"{peer} {rate:,.0f} jobs/s ({label})",
                       f"enqueue {enq.case}" if enq else "enqueue: not run"))
    many = _find(results, "enqueue_many")
    peer, rate, label = _best("enqueue_bulk_jobs_per_s",
                              _peer_values(results, "enqueue_many", "jobs_per_s"))
    out.append(_target("enqueue_many: >= 10x the best bulk peer",
                       many.throughput if many else None, ">=", 10 * rate, "jobs/s",
                       f"10 x {peer} {rate:,.0f} jobs/s ({label})",
                       f"enqueue_many {many.case}" if many else "enqueue_many: not run"))
    lat = _find(results, "latency")
    done = lat.figures["enqueue_to_complete_ms"] if lat else {}
    where = f"latency {lat.case}" if lat else "latency: not run"
    basis = "absolute target from the issue (at 200 jobs/s)"
    if lat and lat.figures.get("rate_configured") != 200:
        basis += f"; this run enqueued {lat.figures.get('rate_configured'):g} jobs/s"
    peer_lat = {r.system: r.figures["enqueue_to_complete_ms"] for r in results
                if r.system != "rediq" and r.scenario == "latency"}
    best = {q: min(((v.get(q), p) for p, v in peer_lat.items()
                    if v.get(q) is not None and v.get(q) == v.get(q)), default=None)
            for q in ("p50", "p99")}
    for q, limit in (("p50", 0.5), ("p99", 2.0)):
        extra = ""
        if best[q] is not None:
            extra = f"; best peer here: {best[q][1]} {best[q][0]:.2f} ms"
        out.append(_target(f"latency enqueue->completion {q} < {limit:g} ms", done.get(q), "<",
                           limit, "ms", basis + extra, where))
    out.append(_target("idle worker costs the server no polling (<= 1 command/s)",
                       lat.figures.get("idle_commands_per_s") if lat else None, "<=", 1.0,
                       "cmd/s", "our reading of the issue's 'idle workers cost no polling'", where))
    p1 = _find(results, "scaling", processes=1, queues=1)
    p2 = _find(results, "scaling", processes=2, queues=1)
    ratio = (p2.throughput or 0) / (p1.throughput or 1) if p1 and p2 else None
    out.append(_target("scaling: 2 worker processes drain faster than 1", ratio, ">=", 1.0,
                       "x (2 proc / 1 proc jobs/s)", "absolute target from the issue",
                       "scaling 1 vs 2 proc" if p1 and p2 else "scaling: not run"))
    q16 = _find(results, "scaling", queues=16)
    ratio = q16.figures.get("redis_cpu_vs_1_queue") if q16 else None
    out.append(_target("scaling: Redis CPU per job flat from 1 to 16 queues (<= 1.2x)", ratio,
                       "<=", 1.2, "x (16 queues / 1 queue us/job)",
                       "absolute target from the issue; 20 % tolerance is ours",
                       "scaling 16 queues" if q16 else "scaling: not run"))
    rl = _find(results, "rate_limit")
    limit = float(rl.figures["rate_max"]) if rl else float("nan")
    out.append(_target("rate limit holds: starts in any window <= rate_max (server clock)",
                       float(rl.figures["max_starts_in_any_window_server"]) if rl else None,
                       "<=", limit, "starts", "correctness check (ours)",
                       f"rate_limit {rl.case}" if rl else "rate_limit: not run"))
    out += _codec_targets(results)
    return out


def _codec_targets(results: list[Result]) -> list[dict[str, Any]]:
    """The codec issue's targets: C decode >= 5x the Python fallback at every payload size,
    and no slower than msgpack's C extension on a job-sized (1 KB) payload."""
    out: list[dict[str, Any]] = []
    rows = {r.case.split(" B ")[0]: r for r in results
            if r.system == "rediq" and r.scenario == "codec" and r.case.endswith("(rediq-c)")}
    basis = "codec issue; codec micro-benchmark of this run"
    for size in ("100", "1024", "65536"):
        f = rows[size].figures if size in rows else {}
        c, py = f.get("rediq-c.decode_us"), f.get("rediq-python.decode_us")
        out.append(_target(f"codec: C decode >= 5x the Python fallback ({size} B)",
                           py / c if c and py else None, ">=", 5.0, "x", basis,
                           f"codec {size} B" if f else "codec (C): not run"))
    f = rows["1024"].figures if "1024" in rows else {}
    for op in ("encode", "decode"):
        c, mp = f.get(f"rediq-c.{op}_us"), f.get(f"msgpack.{op}_us")
        out.append(_target(f"codec: C {op} no slower than msgpack (1 KB job payload)",
                           c / mp if c and mp else None, "<=", 1.0, "x (us rediq-c / us msgpack)",
                           basis, "codec 1024 B" if f else "codec (C): not run"))
    return out
