"""The ``rediq`` command: ``worker``, ``status`` and ``bench`` (the suite in ``bench/``).

Without ``--url`` or ``REDIS_URL`` the commands start a private throwaway server.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import sys
from typing import Any, Iterator

from ._server import EmbeddedServer
from .client import Client
from .errors import ServerNotFound
from .keys import validate_queue_name

__all__ = ["main", "redis_url"]


@contextlib.contextmanager
def redis_url(url: str | None) -> Iterator[str]:
    """Yield ``url``, else ``$REDIS_URL``, else the URL of a throwaway embedded server."""
    url = url or os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    with EmbeddedServer() as server:
        print(f"rediq: no --url or REDIS_URL; using a throwaway server ({server.binary})",
              file=sys.stderr)
        yield server.url


def _load_object(spec: str) -> Any:
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise SystemExit(f"rediq: expected module:attribute, got {spec!r}")
    sys.path.insert(0, os.getcwd())
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj() if callable(obj) and not hasattr(obj, "run") else obj


def _cmd_worker(args: argparse.Namespace) -> int:
    worker = _load_object(args.target)
    if not hasattr(worker, "run"):
        raise SystemExit(f"rediq: {args.target} is not a rediq.Worker (or a function returning one)")
    worker.run()
    return 0


def _queue_names(client: Client) -> list[str]:
    names = set()
    for key in client.redis.scan_iter(match=f"{{{client.prefix}:*}}:meta", count=1000):
        text = key.decode()
        names.add(text[len(client.prefix) + 2:text.index("}")])
    return sorted(names)


def _cmd_status(args: argparse.Namespace) -> int:
    with redis_url(args.url) as url:
        client = Client.from_url(url, prefix=args.prefix)
        names = [validate_queue_name(args.queue)] if args.queue else _queue_names(client)
        cols = ("waiting", "delayed", "active", "completed", "failed", "stalled")
        print(f"{'queue':<24}" + "".join(f"{c:>11}" for c in cols) + "  paused")
        for name in names:
            c = client.queue(name).counts()
            print(f"{name:<24}" + "".join(f"{c[k]:>11}" for k in cols) + f"  {'yes' if c['paused'] else 'no'}")
        if not names:
            print("(no queues)")
    return 0


def _cmd_bench(rest: list[str]) -> int:
    try:
        import rediq_bench  # type: ignore[import-not-found]
    except ImportError:
        print("rediq: the benchmark suite (package rediq_bench, folder bench/) is not installed",
              file=sys.stderr)
        return 2
    return int(rediq_bench.main(rest))


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``rediq`` command."""
    parser = argparse.ArgumentParser(prog="rediq", description="rediq job queue")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("worker", help="run a worker defined in your code (module:attribute)")
    w.add_argument("target", help="module:attribute naming a rediq.Worker or a function returning one")
    w.set_defaults(fn=_cmd_worker)
    s = sub.add_parser("status", help="print job counts per queue")
    s.add_argument("queue", nargs="?", help="one queue (default: all queues found)")
    s.add_argument("--url", help="Redis URL (default $REDIS_URL, else a throwaway server)")
    s.add_argument("--prefix", default="rediq", help="key prefix (default rediq)")
    s.set_defaults(fn=_cmd_status)
    sub.add_parser("bench", help="run the benchmark suite (rediq bench --help)", add_help=False)
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"]:
        return _cmd_bench(argv[1:])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.fn(args))
    except ServerNotFound as exc:
        print(f"rediq: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
