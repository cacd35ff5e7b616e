"""Codec benchmark: rediq's C and pure-Python MessagePack codecs against msgpack and json.

Encodes and decodes typical job payloads (dicts of strings and ints, with a list of small
item dicts) of about 100 B, 1 KB and 64 KB. Run it standalone::

    python bench/codec_bench.py [--seconds 0.5] [--sizes 100,1024,65536] [--json out.json]

or call :func:`run` (``rediq bench codec`` does). Each figure is the best of several
timed rounds, in microseconds per operation; the codecs take turns round by round so load
from other processes skews them alike. "c vs X" is how many times faster rediq's C codec is.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import string
import sys
import time
from typing import Any, Callable

SIZES = (100, 1024, 65536)
Codec = tuple[Callable[[Any], bytes], Callable[[bytes], Any]]


def payload(size: int, seed: int = 7) -> dict[str, Any]:
    """Return a job-like payload whose msgpack form is about ``size`` bytes."""
    import msgpack  # type: ignore[import-untyped, unused-ignore]

    rng = random.Random(seed)
    data: dict[str, Any] = {
        "user_id": 123456, "email": "someone@example.com", "action": "update_user", "retries": 3,
    }
    if len(msgpack.packb(data)) >= size:
        return data
    items: list[dict[str, Any]] = []
    data["items"] = items
    while len(msgpack.packb(data)) < size:
        items.append({
            "sku": "".join(rng.choices(string.ascii_letters, k=12)),
            "qty": rng.randint(1, 1000),
            "price": rng.randint(100, 10**6),
            "title": f"Item number {len(items)} in the upload",
        })
    return data


def codecs() -> dict[str, Codec]:
    """Return the codecs that are importable here, by name."""
    found: dict[str, Codec] = {}
    try:
        from rediq import _codec_c

        found["rediq-c"] = (_codec_c.encode, _codec_c.decode)
    except ImportError:
        pass
    from rediq import _codec_py

    found["rediq-python"] = (_codec_py.encode, _codec_py.decode)
    try:
        import msgpack  # type: ignore[import-untyped, unused-ignore]

        found["msgpack"] = (msgpack.packb, msgpack.unpackb)
    except ImportError:
        pass
    found["json"] = (lambda v: json.dumps(v, separators=(",", ":")).encode(), json.loads)
    return found


def _calibrate(fn: Callable[[Any], Any], arg: Any, target: float) -> int:
    """Return how many calls of ``fn(arg)`` take about ``target`` seconds."""
    number = 1
    while True:
        start = time.perf_counter()
        for _ in range(number):
            fn(arg)
        elapsed = time.perf_counter() - start
        if elapsed >= target / 4 or number >= 1 << 24:
            return max(1, int(number * target / max(elapsed, 1e-9)))
        number *= 4


Cell = tuple[Callable[[Any], Any], Any]


def _race(cells: dict[str, Cell], seconds: float, rounds: int = 7) -> dict[str, float]:
    """Time each cell's ``fn(arg)``; return the best seconds per call of each.

    The cells take turns round by round, so a burst of load on a shared machine hits all
    of them alike, and the best round of each is reported.
    """
    numbers = {name: _calibrate(fn, arg, seconds / rounds) for name, (fn, arg) in cells.items()}
    best = {name: float("inf") for name in cells}
    for _ in range(rounds):
        for name, (fn, arg) in cells.items():
            number = numbers[name]
            start = time.perf_counter()
            for _ in range(number):
                fn(arg)
            best[name] = min(best[name], (time.perf_counter() - start) / number)
    return best


def run(sizes: tuple[int, ...] = SIZES, seconds: float = 0.5) -> dict[str, Any]:
    """Time encode and decode of each codec on payloads of the given sizes.

    Args:
        sizes: Approximate msgpack sizes of the payloads, in bytes.
        seconds: Time spent per (codec, operation, size) cell.

    Returns:
        ``{"meta": {...}, "results": [{"codec", "op", "size", "bytes", "us_per_op",
        "ops_per_s"}, ...]}``; ``meta`` names Python, the platform and the codec loaded.
    """
    import msgpack  # type: ignore[import-untyped, unused-ignore]

    from rediq import codec

    results = []
    found = codecs()
    for size in sizes:
        value = payload(size)
        encoded = {name: enc(value) for name, (enc, _) in found.items()}
        for name, (_, dec) in found.items():
            if name != "json" and (dec(encoded[name]) != value or encoded[name] != msgpack.packb(value)):
                raise AssertionError(f"{name} does not match msgpack on the {size} B payload")
        for op in ("encode", "decode"):
            cells = {
                name: (enc, value) if op == "encode" else (dec, encoded[name])
                for name, (enc, dec) in found.items()
            }
            for name, per in _race(cells, seconds).items():
                results.append({
                    "codec": name, "op": op, "size": size, "bytes": len(encoded[name]),
                    "us_per_op": round(per * 1e6, 3), "ops_per_s": round(1 / per),
                })
    meta = {
        "python": sys.version.split()[0], "implementation": platform.python_implementation(),
        "platform": platform.platform(), "rediq_codec": codec.IMPLEMENTATION,
        "msgpack": ".".join(map(str, msgpack.version)), "seconds": seconds,
    }
    return {"meta": meta, "results": results}


def table(report: dict[str, Any]) -> str:
    """Format a :func:`run` report as a text table (µs per operation, lower is better)."""
    meta = report["meta"]
    rows = report["results"]
    names = list(dict.fromkeys(r["codec"] for r in rows))
    ratios = [("rediq-c", "rediq-python"), ("rediq-c", "msgpack")]
    ratios = [(a, b) for a, b in ratios if a in names and b in names]
    lines = [
        f"codec benchmark: Python {meta['python']} ({meta['implementation']}), rediq codec "
        f"{meta['rediq_codec']!r}, msgpack {meta['msgpack']}; µs per op (best round; lower is better)",
        f"{'op':<7}{'size':>7}  " + "".join(f"{n:>14}" for n in names)
        + "".join(f"{'c vs ' + b.replace('rediq-', ''):>14}" for _, b in ratios),
    ]
    for op in ("encode", "decode"):
        for size in dict.fromkeys(r["size"] for r in rows):
            cells = {r["codec"]: r["us_per_op"] for r in rows if r["op"] == op and r["size"] == size}
            line = f"{op:<7}{size:>7}  " + "".join(f"{cells.get(n, float('nan')):>14.2f}" for n in names)
            line += "".join(f"{cells[b] / cells[a]:>13.2f}x" for a, b in ratios)
            lines.append(line)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark from the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.5, help="time per cell (default 0.5)")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="payload sizes in bytes")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    args = parser.parse_args(argv)
    report = run(tuple(int(s) for s in args.sizes.split(",")), args.seconds)
    print(table(report))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(report, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
