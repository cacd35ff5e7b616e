"""``rediq bench``: the benchmark suite (installed as the package ``rediq_bench``).

Runs against ``--url`` / ``$REDIS_URL``, else against a throwaway embedded server it
starts on a free port and stops afterwards. Every run prints and records the codec
implementation, the Redis, Python and rediq versions and the CPU; writes every figure to a
JSON file and an HTML report; and checks the targets of issue 5.

Example::

    rediq bench --quick
    rediq bench --scenarios drain,latency --compare bench/results/old.json
    rediq bench --peers rq,arq,saq,dramatiq,huey,taskiq,celery,bullmq
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable

__all__ = ["main", "SCENARIOS"]

SCENARIOS = ("enqueue", "enqueue_many", "drain", "latency", "rate_limit", "scaling", "payload",
             "codec")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rediq bench", description=(
        "Benchmark rediq: throughput, latency and the server-side cost per job "
        "(Redis commands, script calls, Redis CPU and memory), from INFO before and after."))
    p.add_argument("--url", help="Redis URL (default $REDIS_URL, else a throwaway embedded server)")
    p.add_argument("--scenarios", default=",".join(SCENARIOS),
                   help=f"comma list (default all): {','.join(SCENARIOS)}")
    p.add_argument("--quick", action="store_true", help="CI-sized run (about 20 s)")
    p.add_argument("--jobs", type=int, help="jobs per drain (default 20000, --quick 5000); "
                   "enqueue uses as many, enqueue_many 10x, scaling 1/2, payload 1/4 and 1/20")
    p.add_argument("--workers", type=int, help="worker processes of the drain scenario (default 1)")
    p.add_argument("--concurrency", type=int, help="jobs at once per worker process (default 16)")
    p.add_argument("--batch", type=int, help="jobs per enqueue_many call (default 1000)")
    p.add_argument("--rate", type=float, help="latency scenario: jobs enqueued per second (200)")
    p.add_argument("--seconds", type=float, help="latency scenario: seconds of enqueueing (10)")
    p.add_argument("--json", metavar="PATH", help="results file (default bench/results/<time>.json)")
    p.add_argument("--report", metavar="PATH", help="HTML report (default: beside the JSON file)")
    p.add_argument("--compare", nargs="+", metavar="JSON", help="OLD.json: compare this run with "
                   "it; OLD.json NEW.json: compare two files without running")
    p.add_argument("--no-progress", action="store_true", help="no progress output")
    p.add_argument("--fail-on-missed", action="store_true", help="exit 1 when a target is missed")
    p.add_argument("--peers", metavar="LIST", help="also run the enqueue, enqueue_many, drain "
                   "and latency scenarios through these queues on the same server, with the "
                   "same concurrency (rediq[peers] installs them): "
                   "rq,arq,saq,dramatiq,huey,taskiq,celery,bullmq or all")
    p.add_argument("--peer-python", action="append", metavar="[PEER=]PYTHON",
                   help="interpreter that runs the peers (default this one), or one peer "
                   "(e.g. arq=/venv-arq/bin/python for a peer whose requirements clash); "
                   "repeatable")
    p.add_argument("--peer-seconds", type=float, help="longest wait for a peer's drain to "
                   "finish (default 60, --quick 15); a slower peer's row covers the jobs done")
    return p


def _sizes(args: argparse.Namespace) -> Any:
    from .runner import Sizes

    sizes = Sizes.quick() if args.quick else Sizes()
    for opt, attr in (("jobs", "jobs"), ("workers", "workers"), ("concurrency", "concurrency"),
                      ("batch", "batch"), ("rate", "latency_rate"), ("seconds", "latency_seconds"),
                      ("peer_seconds", "peer_seconds")):
        value = getattr(args, opt)
        if value is not None:
            if value <= 0:
                raise SystemExit(f"rediq bench: --{opt.replace('_', '-')} must be positive")
            setattr(sizes, attr, value)
    return sizes


def _default_json() -> Path:
    """bench/results/ of the checkout (git-ignored), else ./rediq-bench-results/."""
    here = Path(__file__).resolve().parent
    if "site-packages" not in here.parts and "dist-packages" not in here.parts:
        base = here / "results"
    elif (Path.cwd() / "bench" / "__init__.py").is_file():
        base = Path.cwd() / "bench" / "results"
    else:
        base = Path.cwd() / "rediq-bench-results"
    return base / time.strftime("%Y%m%d-%H%M%S.json")


def _scenario_functions() -> dict[str, Callable[..., Any]]:
    from . import scenarios, timing

    return {"enqueue": scenarios.enqueue, "enqueue_many": scenarios.enqueue_many,
            "drain": scenarios.drain, "latency": timing.latency, "rate_limit": timing.rate_limit,
            "scaling": scenarios.scaling, "payload": scenarios.payload, "codec": scenarios.codec}


def _check_peers(url: str, args: argparse.Namespace, sizes: Any, doc: dict[str, Any]) -> list[Any]:
    """Check the peers of ``--peers``; record and print which run and why others do not."""
    from .peers.run import PEER_SCENARIOS, PeerSetup, check, parse_peers, parse_pythons

    names, pythons = parse_peers(args.peers), parse_pythons(args.peer_python)
    env = doc["environment"]
    scenarios = [n.strip() for n in args.scenarios.split(",")]
    if not any(sc in scenarios for sc in PEER_SCENARIOS):
        why = f"none of the peer scenarios ({', '.join(PEER_SCENARIOS)}) was selected"
        setups = [PeerSetup(n, "", reason=why) for n in names]
    elif env.get("redis_mode") == "cluster" or not url.startswith(("redis://", "rediss://")):
        why = "the peers need a plain redis:// or rediss:// server (not a cluster or sentinel)"
        setups = [PeerSetup(n, "", reason=why) for n in names]
    else:
        setups = check(names, pythons, url, sizes)
    doc["peers"] = [s.describe() for s in setups]
    ran = [f"{s.name} {s.versions.get(s.name, '?')}" for s in setups if s.ok]
    print(f"peers: {', '.join(ran) or 'none can run'}", flush=True)
    for s in setups:
        if not s.ok:
            doc["skipped"].append({"scenario": f"peer {s.name}", "reason": s.reason})
            print(f"  skipped peer {s.name}: {s.reason}", flush=True)
    return setups


def _run_all(url: str, server_binary: str | None, names: list[str], args: argparse.Namespace,
             doc: dict[str, Any], results: list[Any]) -> None:
    """Run the scenarios ``names``, appending their rows to ``results`` as they finish.

    Then, with ``--peers``, run the peers through the peer scenarios among ``names``.
    """
    import rediq
    import redis

    from . import output
    from .runner import PREFIX, Bench, BenchError
    from .scenarios import Skipped
    from .serverstats import environment

    stats = redis.Redis.from_url(url)
    client = rediq.Client.from_url(url, prefix=PREFIX)
    doc["environment"] = environment(stats, url, server_binary)
    output.print_environment(doc["environment"])
    setups = _check_peers(url, args, _sizes(args), doc) if args.peers else []
    functions = _scenario_functions()
    with output.progress(not args.no_progress) as progress:
        bench = Bench(url, client, stats, _sizes(args), progress)
        doc["sizes"] = {k: getattr(bench.sizes, k) for k in bench.sizes.__slots__}
        for name in names:
            try:
                results += functions[name](bench)
            except Skipped as exc:
                doc["skipped"].append({"scenario": name, "reason": str(exc)})
            except (BenchError, redis.RedisError, rediq.RediqError) as exc:
                doc["failed"].append({"scenario": name, "reason": f"{type(exc).__name__}: {exc}"})
            except Exception as exc:  # noqa: BLE001 - a bug in one scenario spares the others
                traceback.print_exc()
                doc["failed"].append({"scenario": name, "reason": f"{type(exc).__name__}: {exc}"})
            finally:
                bench.cleanup()
        if any(s.ok for s in setups):
            from .peers.run import run_peers

            results += run_peers(bench, setups, names, server_binary is not None, doc)
    client.close()
    stats.close()


def _clean(value: Any) -> Any:
    """``value`` with NaN and infinities turned into None (strict JSON has neither)."""
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def _write(doc: dict[str, Any], results: list[Any], args: argparse.Namespace) -> str:
    """Write the JSON file and the HTML report, print the tables; return the JSON path."""
    from . import output
    from .report import write_report
    from .targets import evaluate

    doc["results"] = _clean([r.as_dict() for r in results])
    doc["targets"] = _clean(evaluate(results))
    table = output.comparison(results, doc) if doc.get("peers") else []
    if len(table) > 1:  # rediq and at least one peer
        doc["comparison"] = _clean(table)
    doc["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    json_path = Path(args.json) if args.json else _default_json()
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(doc, indent=1, default=str, allow_nan=False), encoding="utf-8")
    report_path = Path(args.report) if args.report else json_path.with_suffix(".html")
    cells = output.rows(output.ordered(results))
    write_report(report_path, doc, cells)
    markdown = None
    if doc.get("comparison"):
        markdown = json_path.with_suffix(".peers.md")
        markdown.write_text(output.comparison_markdown(doc["comparison"], doc["environment"],
                                                       doc.get("sizes") or {}), encoding="utf-8")
    output.print_results(results)
    if doc.get("comparison"):
        output.print_comparison_table(doc["comparison"])
    output.print_targets(doc["targets"])
    for item in doc["skipped"]:
        print(f"skipped {item['scenario']}: {item['reason']}")
    for item in doc["failed"]:
        print(f"FAILED {item['scenario']}: {item['reason']}")
    print(f"results: {json_path}\nreport:  {report_path}")
    if markdown is not None:
        print(f"peers:   {markdown} (the comparison as Markdown)")
    return str(json_path)


def main(argv: list[str] | None = None) -> int:
    """Run the suite; return the process exit code (0 ok, 1 a scenario failed, 2 usage)."""
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    from .compare import load, print_comparison

    if args.compare and len(args.compare) == 2:
        print_comparison(args.compare[0], args.compare[1], load(args.compare[0]),
                         load(args.compare[1]))
        return 0
    if args.compare and len(args.compare) > 2:
        print("rediq bench: --compare takes OLD.json, or OLD.json NEW.json", file=sys.stderr)
        return 2
    old = load(args.compare[0]) if args.compare else None
    if args.peers:
        try:
            from .peers.run import parse_peers, parse_pythons
        except ImportError as exc:
            print(f"rediq bench: --peers needs the package rediq_bench.peers, which this "
                  f"installation lacks ({exc})", file=sys.stderr)
            return 2
        try:
            parse_peers(args.peers)
            parse_pythons(args.peer_python)
        except ValueError as exc:
            print(f"rediq bench: {exc}", file=sys.stderr)
            return 2
    names = [n.strip() for n in args.scenarios.split(",") if n.strip()]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown or not names:
        print(f"rediq bench: unknown scenario(s) {', '.join(unknown) or '(none given)'}; "
              f"choose from {', '.join(SCENARIOS)}", file=sys.stderr)
        return 2
    from rediq._server import EmbeddedServer
    from rediq.errors import ServerNotFound

    url = args.url or os.environ.get("REDIS_URL")
    server = None
    if not url:
        try:
            server = EmbeddedServer(tcp=True)
        except ServerNotFound as exc:
            print(f"rediq bench: {exc}", file=sys.stderr)
            return 2
    doc: dict[str, Any] = {"schema": 1, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                           "argv": list(argv or []), "skipped": [], "failed": []}
    results: list[Any] = []
    try:
        if server is not None:
            server.start()
            url = server.url
        assert url is not None
        _run_all(url, server.binary if server else None, names, args, doc, results)
    except KeyboardInterrupt:
        print("\nrediq bench: interrupted; writing what finished", file=sys.stderr)
        doc["failed"].append({"scenario": "-", "reason": "interrupted"})
        if "environment" in doc:
            _write(doc, results, args)
        return 130
    finally:
        if server is not None:
            server.stop()
    json_path = _write(doc, results, args)
    if old is not None:
        print_comparison(args.compare[0], json_path, old, doc)
    missed = any(t["met"] is False for t in doc["targets"])
    return 1 if doc["failed"] or (args.fail_on_missed and missed) else 0
