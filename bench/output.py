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
           "fmt", "detail"]

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
        out.append([r.scenario, r.case, fmt(r.jobs) if r.jobs else "-", fmt(r.throughput), detail(r),
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
            table.add_column(h, justify="right" if i in right else "left",
                             overflow="fold", no_wrap=i in right)
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


def print_results(results: list[Result]) -> None:
    """Print the results table: throughput with the server cost beside it."""
    print_table("rediq bench: results (server cost per job beside every throughput)", HEADERS,
                rows(results), right={2, 3, 5, 6, 7, 8})


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
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress as Bars, TextColumn,
                               TimeElapsedColumn)

    bars = Bars(TextColumn("{task.description:<44}"), BarColumn(), MofNCompleteColumn(),
                TimeElapsedColumn(), console=Console(stderr=True), refresh_per_second=5)
    with bars:
        yield _RichProgress(bars)
