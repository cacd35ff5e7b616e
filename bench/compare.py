"""``--compare OLD.json``: the change of every figure between two runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .output import fmt, print_table

__all__ = ["load", "flatten", "compare", "print_comparison"]

ENV_KEYS = ("rediq_version", "codec_implementation", "redis_version", "server_name",
            "python_version", "cpu_model", "cpu_count", "server")
SKIP = {"curves", "notes", "by_command_per_job", "idle_by_command", "raw", "mem_kind", "workers",
        "cut_short_after_s",
        # settings of the run, not measurements
        "processes", "concurrency", "queues", "batch", "rate_max", "rate_period_s",
        "rate_configured", "configured_per_s", "idle_seconds", "server_records_read", "bytes"}


def load(path: str | Path) -> dict[str, Any]:
    """Read a results file written by ``rediq bench --json``.

    Raises:
        ValueError: the file is not a rediq bench results file.
    """
    doc = json.loads(Path(path).read_text())
    if not isinstance(doc, dict) or "results" not in doc:
        raise ValueError(f"{path} is not a rediq bench results file (no 'results')")
    return doc


def _walk(prefix: str, value: Any, out: dict[str, float]) -> None:
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, (int, float)):
        out[prefix] = float(value)
    elif isinstance(value, dict):
        for k, v in value.items():
            if k not in SKIP:
                _walk(f"{prefix}.{k}" if prefix else str(k), v, out)


def flatten(doc: dict[str, Any]) -> dict[str, float]:
    """{"scenario | case | figure": value} for every number of every row."""
    out: dict[str, float] = {}
    for row in doc["results"]:
        system = row.get("system", "rediq")
        key = f"{row['scenario']} | {row['case']}"
        if system != "rediq":
            key = f"{system}: {key}"
        if row.get("jobs_per_s") is not None:
            out[f"{key} | jobs_per_s"] = float(row["jobs_per_s"])
        figures: dict[str, float] = {}
        _walk("", row.get("figures") or {}, figures)
        out.update({f"{key} | {name}": value for name, value in figures.items()})
        server = row.get("server") or {}
        for name in ("commands_per_job", "script_calls_per_job", "redis_cpu_us_per_job",
                     "script_usec_per_job", "mem_bytes_per_job"):
            if server.get(name) is not None:
                out[f"{key} | server.{name}"] = float(server[name])
    return out


def compare(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Return the environment differences and, per figure, old, new and the change."""
    env = {k: (old.get("environment", {}).get(k), new.get("environment", {}).get(k))
           for k in ENV_KEYS
           if old.get("environment", {}).get(k) != new.get("environment", {}).get(k)}
    a, b = flatten(old), flatten(new)
    figures = []
    for key in [k for k in b if k in a] + [k for k in a if k not in b] + [k for k in b if k not in a]:
        o, n = a.get(key), b.get(key)
        change = None
        if o is not None and n is not None and o != 0:
            change = round((n - o) / abs(o) * 100, 1)
        figures.append({"figure": key, "old": o, "new": n, "change_pct": change})
    return {"environment": env, "figures": figures}


def print_comparison(old_path: str, new_path: str, old: dict[str, Any], new: dict[str, Any]) -> None:
    """Print the comparison of two runs (new relative to old)."""
    diff = compare(old, new)
    print(f"\ncompare: old {old_path} ({old.get('started', '?')}) -> "
          f"new {new_path} ({new.get('started', '?')})")
    for key, (o, n) in diff["environment"].items():
        print(f"  environment differs: {key}: {o} -> {n}")
    cells = []
    for f in diff["figures"]:
        ch = f["change_pct"]
        cells.append([f["figure"], fmt(f["old"], 2), fmt(f["new"], 2),
                      "-" if ch is None else f"{ch:+.1f} %"])
    print_table("change of every figure (new vs old)", ("figure", "old", "new", "change"), cells,
                right={1, 2, 3})
