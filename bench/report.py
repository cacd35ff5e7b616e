"""The HTML report: one self-contained file, plots drawn as inline SVG by this module."""

from __future__ import annotations

import math
from html import escape
from pathlib import Path
from typing import Any

from .output import COMPARISON_HEADERS, COMPARISON_LEGEND, HEADERS, comparison_cells, fmt

__all__ = ["write_report", "bar_chart", "line_chart"]

COLORS = ("#3b6ea8", "#d9822b", "#2e8b57", "#b03a48", "#7a5195", "#5f6b6d", "#c9a227",
          "#1b9e9e", "#8c564b")
CSS = """body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:13px}td,th{border-bottom:1px solid #ddd;
padding:3px 8px;text-align:left;vertical-align:top}td.n{text-align:right;white-space:nowrap}
.met{color:#2e7d32;font-weight:600}.missed{color:#c62828;font-weight:600}.na{color:#777}
svg{display:block;margin:1em 0}h2{margin-top:2em}small{color:#666}"""


def _svg(width: int, height: int, body: list[str], title: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'font-family="system-ui,sans-serif" font-size="12"><text x="4" y="16" '
            f'font-weight="600" font-size="14">{escape(title)}</text>{"".join(body)}</svg>')


def bar_chart(title: str, bars: list[tuple[str, float | None]], unit: str, log: bool = False,
              highlight: str | None = None) -> str:
    """Horizontal bars, one per (label, value); values that are None, NaN or <= 0 are left out.

    Args:
        highlight: bars whose label starts with it are drawn in a second colour.
    """
    items = [(label, float(v)) for label, v in bars if v is not None and v == v and v > 0]
    if not items:
        return ""
    left, width, bar_h = 330, 900, 20
    span = width - left - 110
    top = max(v for _, v in items)
    low = min(v for _, v in items)

    def scale(v: float) -> float:
        if log:
            floor = 10 ** math.floor(math.log10(low))
            return span * math.log10(v / floor) / max(math.log10(top / floor), 1e-9) + 4
        return span * v / top

    body = []
    for i, (label, v) in enumerate(items):
        y = 30 + i * (bar_h + 6)
        w = max(scale(v), 1.0)
        color = COLORS[1] if highlight and label.startswith(highlight) else COLORS[0]
        body.append(f'<text x="{left - 6}" y="{y + 14}" text-anchor="end">{escape(label)}</text>'
                    f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar_h}" '
                    f'fill="{color}"/><text x="{left + w + 4:.1f}" y="{y + 14}">'
                    f'{escape(fmt(v))} {escape(unit)}</text>')
    note = " (log scale)" if log else ""
    return _svg(width, 40 + len(items) * (bar_h + 6), body, title + note)


def line_chart(title: str, series: dict[str, list[tuple[float, float]]], xlabel: str,
               ylabel: str, log_x: bool = False) -> str:
    """Lines through (x, y) points, one per series, with axes and a legend."""
    series = {k: v for k, v in series.items() if v}
    if not series:
        return ""
    width, height, left, bottom, top = 900, 360, 60, 40, 50
    xs = [x for pts in series.values() for x, _ in pts]
    ys = [y for pts in series.values() for _, y in pts]
    x0, x1 = (min(xs), max(xs))
    if log_x:
        x0 = max(x0, 1e-3)
    y0, y1 = min(ys + [0.0]), max(ys)

    def px(x: float) -> float:
        if log_x:
            x = max(x, x0)
            return left + (width - left - 20) * math.log10(x / x0) / max(math.log10(x1 / x0), 1e-9)
        return left + (width - left - 20) * (x - x0) / max(x1 - x0, 1e-9)

    def py(y: float) -> float:
        return height - bottom - (height - bottom - top) * (y - y0) / max(y1 - y0, 1e-9)

    body = [f'<line x1="{left}" y1="{height - bottom}" x2="{width - 20}" y2="{height - bottom}" '
            f'stroke="#999"/><line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" '
            f'stroke="#999"/>']
    for i in range(5):
        xv = x0 * (x1 / x0) ** (i / 4) if log_x else x0 + (x1 - x0) * i / 4
        yv = y0 + (y1 - y0) * i / 4
        body.append(f'<text x="{px(xv):.1f}" y="{height - bottom + 15}" text-anchor="middle">'
                    f'{xv:.3g}</text><text x="{left - 5}" y="{py(yv) + 4:.1f}" '
                    f'text-anchor="end">{yv:.3g}</text>')
    body.append(f'<text x="{(width + left) / 2}" y="{height - 5}" text-anchor="middle">'
                f'{escape(xlabel)}</text><text x="12" y="{top - 8}">{escape(ylabel)}</text>')
    for i, (name, pts) in enumerate(series.items()):
        color = COLORS[i % len(COLORS)]
        path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in pts)
        body.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{path}"/>'
                    f'<rect x="{left + 12}" y="{top + 4 + i * 18}" width="12" height="12" '
                    f'fill="{color}"/><text x="{left + 29}" y="{top + 14 + i * 18}">'
                    f'{escape(name)}</text>')
    return _svg(width, height, body, title)


def _table(headers: tuple[str, ...] | list[str], cells: list[list[str]], right: set[int]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    rows = "".join("<tr>" + "".join(
        f'<td class="n">{escape(c)}</td>' if i in right else f"<td>{escape(c)}</td>"
        for i, c in enumerate(row)) + "</tr>" for row in cells)
    return f"<table><tr>{head}</tr>{rows}</table>"


def _ratio(t: dict[str, Any]) -> str:
    return f" (x{t['ratio_to_threshold']:.2f} of the threshold)" if t.get("ratio_to_threshold") else ""


def _targets(targets: list[dict[str, Any]]) -> str:
    out = ["<table><tr><th></th><th>target</th><th>measured</th><th>threshold</th>"
           "<th>basis</th><th>row</th></tr>"]
    for t in targets:
        cls, word = {True: ("met", "met"), False: ("missed", "MISSED"),
                     None: ("na", "not measured")}[t["met"]]
        out.append(f'<tr><td class="{cls}">{word}</td><td>{escape(t["target"])}</td>'
                   f'<td class="n">{escape(fmt(t["measured"], 2))} {escape(t["unit"])}'
                   f'{escape(_ratio(t))}</td>'
                   f'<td class="n">{escape(t["op"])} {escape(fmt(t["threshold"], 2))}</td>'
                   f'<td>{escape(t["basis"])}</td><td>{escape(t["row"])}</td></tr>')
    return "".join(out) + "</table>"


def _peers_section(doc: dict[str, Any], rows: list[dict[str, Any]]) -> list[str]:
    """rediq beside the peers: the table, bars per figure, latency curves per queue."""
    table = doc.get("comparison")
    if not table:
        return []
    out = ["<h2>rediq beside the peers</h2><small>same run, same server, same concurrency; "
           "each peer with its defaults (see the notes of its rows and bench/peers/). "
           "Server cost per job from INFO deltas, as for rediq.</small>",
           _table(COMPARISON_HEADERS, comparison_cells(table), set(range(2, 10))),
           f"<p><small>{escape(COMPARISON_LEGEND)}.</small></p>",
           "<ul>" + "".join(f"<li><b>{escape(c['queue'])}</b>: {escape(c['workers'])}; "
                            f"{escape(c['guarantee'])}</li>" for c in table) + "</ul>"]
    for key, title, unit, log in (
            ("drain_jobs_per_s", "drain", "jobs/s", False),
            ("drain_redis_cpu_us_per_job", "Redis CPU per drained job", "us/job", False),
            ("drain_commands_per_job", "Redis commands per drained job", "cmds/job", False),
            ("enqueue_jobs_per_s", "enqueue, one job per call", "jobs/s", False),
            ("enqueue_many_jobs_per_s", "bulk enqueue", "jobs/s", True),
            ("latency_p99_ms", "latency enqueue to completion, p99", "ms", True)):
        out.append(bar_chart(title, [(c["queue"], c.get(key)) for c in table], unit, log=log,
                             highlight="rediq"))
    curves = {}
    for r in rows:
        curve = (r.get("curves") or {}).get("enqueue_to_complete_ms")
        if r["scenario"] == "latency" and curve:
            curves[r.get("system", "rediq")] = [(v, float(i)) for i, v in enumerate(curve)]
    out.append(line_chart("latency: enqueue to completion by queue (cumulative)", curves,
                          "milliseconds (log scale)", "percentile", log_x=True))
    skipped = [p for p in doc.get("peers") or [] if not p.get("ran")]
    if skipped:
        out.append("<p>Peers not run: " + "; ".join(
            f"{escape(p['peer'])}: {escape(p['reason'])}" for p in skipped) + "</p>")
    return out


def write_report(path: Path, doc: dict[str, Any], cells: list[list[str]]) -> None:
    """Write the report of the run ``doc`` (the JSON document) to ``path``.

    Args:
        path: the HTML file to write.
        doc: the results document (environment, results, targets, skipped).
        cells: the results table as printed in the terminal.
    """
    everything = doc["results"]
    rows = [r for r in everything if r.get("system", "rediq") == "rediq"]
    named = [(f"{r['scenario']}: {r['case']}", r["jobs_per_s"]) for r in rows if r["jobs_per_s"]]
    cpu = [(f"{r['scenario']}: {r['case']}", (r["server"] or {}).get("redis_cpu_us_per_job"))
           for r in rows if r.get("server")]
    scaling = [r for r in rows if r["scenario"] == "scaling"]
    curves: dict[str, list[tuple[float, float]]] = {}
    for r in rows:
        for name, curve in (r.get("curves") or {}).items():
            label = name.replace("_ms", "").replace("enqueue_to_", "enqueue to ")
            curves[label] = [(v, float(i)) for i, v in enumerate(curve)]
    env = doc["environment"]
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>rediq bench "
             f"{escape(doc['started'])}</title><style>{CSS}</style></head><body>",
             f"<h1>rediq bench</h1><p>{escape(doc['started'])} &middot; rediq "
             f"{escape(env['rediq_version'])} &middot; codec {escape(env['codec_implementation'])}"
             f" &middot; {escape(env['server_name'])} {escape(env['redis_version'])} "
             f"({escape(env['server'])}) &middot; Python {escape(env['python_version'])} &middot; "
             f"{escape(env['cpu_model'])}, {env['cpu_count']} cores</p>",
             "<h2>Results</h2><small>server cost per job beside every throughput figure; "
             "memory is per waiting job (or per completed job kept, for latency)</small>",
             _table(HEADERS, cells, {2, 3, 5, 6, 7, 8}),
             *_peers_section(doc, everything),
             "<h2>Targets</h2>", _targets(doc["targets"]),
             "<h2>Throughput by scenario</h2>", bar_chart("jobs/s", named, "jobs/s", log=True),
             bar_chart("Redis CPU per job", cpu, "us/job"),
             "<h2>Latency distribution</h2>",
             line_chart("enqueue to start / completion (cumulative)", curves,
                        "milliseconds (log scale)", "percentile", log_x=True),
             "<h2>Scaling</h2>",
             bar_chart("drain jobs/s", [(r["case"], r["jobs_per_s"]) for r in scaling], "jobs/s"),
             bar_chart("Redis CPU per job", [(r["case"], (r["server"] or {}).get(
                 "redis_cpu_us_per_job")) for r in scaling], "us/job")]
    if doc.get("skipped") or doc.get("failed"):
        parts.append("<h2>Skipped or failed</h2><ul>" + "".join(
            f"<li>{escape(s['scenario'])}: {escape(s['reason'])}</li>"
            for s in doc.get("skipped", []) + doc.get("failed", [])) + "</ul>")
    parts.append("<h2>Environment</h2>" + _table(("", ""), [[k, str(v)] for k, v in env.items()],
                                                 set()))
    parts.append("</body></html>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(p for p in parts if p), encoding="utf-8")
