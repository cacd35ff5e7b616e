"""Terminal output: progress while it runs, then the results and targets tables.

Uses rich (the ``bench`` extra) when it is installed and stdout is a terminal for the
progress bars; tables use rich when installed, plain text otherwise.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Any, Iterator

from .runner import Progress, Result

__all__ = ["progress", "print_environment", "print_results", "print_targets", "print_table",
           "fmt", "detail", "ordered", "comparison", "comparison_markdown", "comparison_cells", "print_comparison_table",
           "COMPARISON_HEADERS", "COMPARISON_LEGEND", "REDIQ_GUARANTEE"]

try:
    import rich  # noqa: F401
    from rich.console import Console
    from rich.table import Table
except ImportError:  # rich is optional
    Console = None  # type: ignore[assignment,misc]


def fmt(value: Any, digits: int = 1) -> str:
    """Format a figure for a table: thousands separators, None as a dash."""
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.{digits}f}" if abs(value) >= 10 else f"{value:.{digits + 1}f}"
    return str(value)


def detail(r: Result) -> str:
    """The scenario-specific figures of a row, in a few words."""
    f = r.figures
    if r.scenario == "enqueue":
        return f"{fmt(f.get('us_per_call'))} us/call"
    if r.scenario == "latency":
        s, d = f["enqueue_to_start_ms"], f["enqueue_to_complete_ms"]
        return (f"start p50/95/99 {s['p50']:.2f}/{s['p95']:.2f}/{s['p99']:.2f} ms; "
                f"done {d['p50']:.2f}/{d['p95']:.2f}/{d['p99']:.2f} ms; "
                f"idle {fmt(f['idle_commands_per_s'])} cmd/s")
    if r.scenario == "rate_limit":
        return (f"configured {fmt(f['configured_per_s'])}/s; max {f['max_starts_in_any_window_server']}"
                f" starts in a {f['rate_period_s']:g} s window (limit {f['rate_max']})")
    if r.scenario == "codec":
        if "client_cpu_us_per_job" in f:
            return f"client CPU {fmt(f['client_cpu_us_per_job'], 2)} us/job; batch {f['batch']}"
        if "numbers" in f:
            return "; ".join(f"{k} {fmt(v)}" for k, v in list(f["numbers"].items())[:3])
        mine = r.case.rsplit("(", 1)[-1].rstrip(")")
        return "; ".join(
            f"{op} {fmt(f.get(f'{mine}.{op}_us'), 2)} us (msgpack {fmt(f.get(f'msgpack.{op}_us'), 2)})"
            for op in ("encode", "decode"))
    parts = []
    if "wall_s" in f:
        parts.append(f"wall {f['wall_s']:.2f} s, steady {fmt(f['steady_jobs_per_s'])}/s")
    if "speedup_vs_1_proc" in f:
        parts.append(f"x{f['speedup_vs_1_proc']:.2f} vs 1 proc")
    if "redis_cpu_vs_1_queue" in f:
        parts.append(f"CPU x{f['redis_cpu_vs_1_queue']:.2f} vs 1 queue")
    if "mb_per_s" in f:
        parts.append(f"{fmt(f['mb_per_s'])} MB/s")
    if "batch" in f:
        parts.append(f"batch {f['batch']}")
    return "; ".join(parts)


HEADERS = ("scenario", "case", "jobs", "jobs/s", "details", "cmds/job", "scripts/job",
           "Redis CPU us/job", "mem B/job")


def rows(results: list[Result]) -> list[list[str]]:
    """The results table's cells (strings), one row per result."""
    out = []
    for r in results:
        c = r.cost.per_job() if r.cost else {}
        mem = c.get("mem_bytes_per_job")
        mem_s = f"{fmt(mem, 0)} ({c['mem_kind']})" if mem is not None else "-"
        scenario = r.scenario if r.system == "rediq" else f"{r.system}: {r.scenario}"
        out.append([scenario, r.case, fmt(r.jobs) if r.jobs else "-", fmt(r.throughput), detail(r),
                    fmt(c.get("commands_per_job")), fmt(c.get("script_calls_per_job"), 2),
                    fmt(c.get("redis_cpu_us_per_job")), mem_s])
    return out


def print_table(title: str, headers: tuple[str, ...] | list[str], cells: list[list[str]],
                right: set[int] | None = None) -> None:
    """Print a table with rich when installed, else as aligned plain text."""
    right = right or set()
    if Console is not None:
        table = Table(title=title, title_justify="left", show_lines=False)
        for i, h in enumerate(headers):
            longest = max([len(h)] + [len(row[i]) for row in cells])
            table.add_column(h, justify="right" if i in right else "left",
                             overflow="fold", no_wrap=i in right, min_width=min(longest, 14))
        for row in cells:
            table.add_row(*row)
        Console(width=max(_console_width(), 160)).print(table)
        return
    widths = [max([len(h)] + [len(row[i]) for row in cells]) for i, h in enumerate(headers)]

    def line(items: list[str] | tuple[str, ...]) -> str:
        return "  ".join(s.rjust(w) if i in right else s.ljust(w)
                         for i, (s, w) in enumerate(zip(items, widths))).rstrip()

    print(f"\n{title}")
    print(line(headers))
    print(line(["-" * w for w in widths]))
    for row in cells:
        print(line(row))


def _console_width() -> int:
    import shutil

    return shutil.get_terminal_size((160, 40)).columns


def ordered(results: list[Result]) -> list[Result]:
    """rediq's rows, then the peers' (each peer's together, in the order they ran)."""
    return [r for r in results if r.system == "rediq"] + [r for r in results
                                                          if r.system != "rediq"]


def print_results(results: list[Result]) -> None:
    """Print the results table (rediq's rows and, after them, the peers')."""
    print_table("rediq bench: results (server cost per job beside every throughput)", HEADERS,
                rows(ordered(results)), right={2, 3, 5, 6, 7, 8})


REDIQ_GUARANTEE = "at least once (leases, acknowledgement, stall recovery)"
COMPARISON_HEADERS = ("queue", "delivery", "drain jobs/s", "drain CPU us/job", "drain cmds/job",
                      "enqueue jobs/s", "bulk jobs/s", "p50 / p99 ms", "idle cmd/s", "B/job")
COMPARISON_LEGEND = (
    "delivery: the guarantee each queue gives with its defaults; drain: jobs/s draining "
    "pre-enqueued no-op jobs, with the Redis CPU time (INFO used_cpu) and commands (INFO "
    "commandstats, script bodies included) per job; enqueue: one job per call, one client; "
    "bulk: the queue's bulk-enqueue API; p50 / p99: enqueue to completion at a steady rate; "
    "idle cmd/s: commands idle workers send; B/job: Redis memory per waiting job")


def _pick(results: list[Result], system: str, scenario: str) -> Result | None:
    for r in results:
        if r.system == system and r.scenario == scenario:
            return r
    return None


def comparison(results: list[Result], doc: dict[str, Any]) -> list[dict[str, Any]]:
    """rediq and every peer that ran, one dict each: the figures of the comparison table."""
    peers = {p["peer"]: p for p in doc.get("peers") or []}
    systems = ["rediq"] + [p for p in peers if any(r.system == p for r in results)]
    env = doc.get("environment") or {}
    out = []
    for system in systems:
        drain = _pick(results, system, "drain")
        enq = _pick(results, system, "enqueue")
        bulk = _pick(results, system, "enqueue_many")
        lat = _pick(results, system, "latency")
        dc = drain.cost.per_job() if drain and drain.cost else {}
        mem = enq.cost.per_job().get("mem_bytes_per_job") if enq and enq.cost else None
        if mem is None and drain and drain.cost:
            mem = dc.get("mem_bytes_per_job")
        done = lat.figures["enqueue_to_complete_ms"] if lat else {}
        info = peers.get(system, {})
        if system == "rediq":
            version = str(env.get("rediq_version", ""))
            guarantee = REDIQ_GUARANTEE
            s = doc.get("sizes") or {}
            workers = f"rediq Worker, {s.get('workers', '?')} proc x{s.get('concurrency', '?')}"
        else:
            version = (info.get("versions") or {}).get(system, "")
            guarantee = str(info.get("guarantee", ""))
            workers = next((str(r.figures["workers"]) for r in (drain, lat)
                            if r and r.figures.get("workers")), "")
        out.append({
            "queue": system, "version": version, "guarantee": guarantee,
            "drain_jobs_per_s": drain.throughput if drain else None,
            "drain_complete": bool(drain) and "completed" not in drain.figures,
            "drain_redis_cpu_us_per_job": dc.get("redis_cpu_us_per_job"),
            "drain_commands_per_job": dc.get("commands_per_job"),
            "enqueue_jobs_per_s": enq.throughput if enq else None,
            "enqueue_many_jobs_per_s": bulk.throughput if bulk else None,
            "bulk_api": "enqueue_many" if system == "rediq" else info.get("bulk_api"),
            "latency_p50_ms": done.get("p50"), "latency_p99_ms": done.get("p99"),
            "latency_complete": bool(lat) and "completed" not in lat.figures,
            "idle_commands_per_s": lat.figures.get("idle_commands_per_s") if lat else None,
            "mem_bytes_per_waiting_job": mem, "workers": workers,
        })
    return out


def comparison_cells(table: list[dict[str, Any]]) -> list[list[str]]:
    """The comparison table's cells (strings), one row per queue."""
    cells = []
    for c in table:
        drain = fmt(c["drain_jobs_per_s"])
        if c["drain_jobs_per_s"] is not None and not c["drain_complete"]:
            drain += " (cut short)"
        bulk = fmt(c["enqueue_many_jobs_per_s"])
        if c["enqueue_many_jobs_per_s"] is None and c["queue"] != "rediq":
            bulk = "no bulk API" if not c.get("bulk_api") else "-"
        lat = f"{fmt(c['latency_p50_ms'], 2)} / {fmt(c['latency_p99_ms'], 2)}"
        if c["latency_p50_ms"] is not None and not c["latency_complete"]:
            lat += " (fell behind)"
        short = c["guarantee"].split(" (", 1)[0]
        name = f"{c['queue']} {c['version']}".strip()
        cells.append([name, short, drain, fmt(c["drain_redis_cpu_us_per_job"]),
                      fmt(c["drain_commands_per_job"]), fmt(c["enqueue_jobs_per_s"]), bulk, lat,
                      fmt(c["idle_commands_per_s"]), fmt(c["mem_bytes_per_waiting_job"], 0)])
    return cells


def comparison_markdown(table: list[dict[str, Any]], env: dict[str, Any],
                        sizes: dict[str, Any]) -> str:
    """The comparison as a Markdown table with the machine it ran on (for a README)."""
    lines = ["| " + " | ".join(COMPARISON_HEADERS) + " |",
             "| " + " | ".join(["---"] * 2 + ["---:"] * (len(COMPARISON_HEADERS) - 2)) + " |"]
    lines += ["| " + " | ".join(c.replace("|", "/") for c in row) + " |"
              for row in comparison_cells(table)]
    lines.append("")
    lines.append(COMPARISON_LEGEND + ".")
    lines.append("")
    lines.append(f"{env.get('cpu_model')}, {env.get('cpus_usable')} usable CPUs; "
                 f"{env.get('server_name')} {env.get('redis_version')} ({env.get('server')}); "
                 f"Python {env.get('python_version')}; codec {env.get('codec_implementation')}; "
                 f"{sizes.get('jobs')} jobs per drain, {sizes.get('workers')} worker process(es) "
                 f"x concurrency {sizes.get('concurrency')}, latency at "
                 f"{sizes.get('latency_rate')} jobs/s.")
    lines.append("")
    lines += [f"- {c['queue']}: {c['workers']}; {c['guarantee']}" for c in table]
    return "\n".join(lines) + "\n"


def print_comparison_table(table: list[dict[str, Any]]) -> None:
    """Print rediq beside the peers, then how each one's workers ran."""
    print_table("rediq beside the peers (same run, same server, same concurrency)",
                COMPARISON_HEADERS, comparison_cells(table), right=set(range(2, 10)))
    print(f"  {COMPARISON_LEGEND}")
    for c in table:
        print(f"  {c['queue']}: {c['workers']}; {c['guarantee']}")


def print_targets(targets: list[dict[str, Any]]) -> None:
    """Print the targets section: met / missed, with the numbers."""
    cells = []
    for t in targets:
        state = {True: "met", False: "MISSED", None: "not measured"}[t["met"]]
        ratio = f" (x{t['ratio_to_threshold']:.2f} of it)" if t.get("ratio_to_threshold") else ""
        cells.append([state, t["target"], f"{fmt(t['measured'], 2)} {t['op']} "
                      f"{fmt(t['threshold'], 2)} {t['unit']}{ratio}", t["basis"], t["row"]])
    print_table("targets (issue 5)", ("", "target", "measured vs threshold", "basis", "row"), cells)


def print_environment(env: dict[str, Any]) -> None:
    """Print the one-line description of the run every output carries."""
    print(f"rediq {env['rediq_version']} | codec {env['codec_implementation']} | "
          f"{env['server_name']} {env['redis_version']} ({env['server']}) | "
          f"Python {env['python_version']} | {env['cpu_model']} x{env['cpu_count']} cores "
          f"({env['cpus_usable']} usable)", flush=True)
    load = env.get("load_average_1m_at_start")
    if load is not None and load > 0.5 * (env.get("cpus_usable") or 1):
        print(f"note: the machine is busy (load average {load:g} on {env['cpus_usable']} CPUs): "
              "throughput and latency figures will be noisy; per-job server counts are not",
              flush=True)


class _RichProgress(Progress):
    def __init__(self, bar: Any) -> None:
        self.bar = bar
        self.task: Any = None

    def start(self, label: str, total: int) -> None:
        if self.task is not None:
            self.bar.update(self.task, completed=self.bar.tasks[-1].total)
            self.bar.stop_task(self.task)
        self.task = self.bar.add_task(label, total=max(total, 1))

    def update(self, done: int) -> None:
        if self.task is not None:
            self.bar.update(self.task, completed=done)


class _PlainProgress(Progress):
    def start(self, label: str, total: int) -> None:
        print(f"  running {label} ({total:,})", file=sys.stderr, flush=True)


@contextlib.contextmanager
def progress(enabled: bool = True) -> Iterator[Progress]:
    """Yield a progress reporter: rich bars on a terminal, one line per step otherwise."""
    if not enabled:
        yield Progress()
        return
    if Console is None or not sys.stderr.isatty():
        yield _PlainProgress()
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        TextColumn,
        TimeElapsedColumn,
    )
    from rich.progress import Progress as Bars

    bars = Bars(TextColumn("{task.description:<44}"), BarColumn(), MofNCompleteColumn(),
                TimeElapsedColumn(), console=Console(stderr=True), refresh_per_second=5)
    with bars:
        yield _RichProgress(bars)
