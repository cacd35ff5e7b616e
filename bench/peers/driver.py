"""The peer's enqueueing side, in a process of its own (the peer's interpreter).

``python -m rediq_bench.peers.driver --check NAME`` imports the peer and prints one JSON
line: {"ok": true, "versions": {...}} or {"ok": false, "reason": "..."}.

``python -m rediq_bench.peers.driver --exec PROGRAM ARGS...`` runs a peer's worker
command so that it gets SIGTERM if the bench process dies (Linux); the bench starts them
this way, so a killed bench leaves no worker behind.

``python -m rediq_bench.peers.driver NAME URL`` reads commands from stdin, one JSON
object a line, and answers on stdout the same way. A measured command answers
{"ready": true} once its warm-up is done, waits for {"op": "go"} (the bench reads the
server's counters in between), runs, and answers with its timings:

- {"op": "enqueue", "ns": NS, "n": N, "warm": K}: K unmeasured jobs, then N jobs one per
  call; answers {"seconds": s}.
- {"op": "bulk", "ns": NS, "n": N, "batch": B, "warm": K}: the same through the bulk API.
- {"op": "steady", "ns": NS, "n": N, "rate": R}: N jobs one per call at R a second, each
  carrying its enqueue time; answers {"seconds": s, "calls": [seconds per call...]}.
- {"op": "close"}.
Any failure answers {"error": "traceback"}.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import os
import sys
import time
import traceback
from typing import Any, Callable

from . import load
from .base import Peer, PeerUnavailable

__all__ = ["main"]


def _versions(cls: type[Peer]) -> dict[str, str]:
    out = {}
    for dist in cls.distributions:
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def _check(name: str) -> dict[str, Any]:
    cls = load(name)
    try:
        cls.check()
    except PeerUnavailable as exc:
        return {"ok": False, "reason": str(exc)}
    except ImportError as exc:
        return {"ok": False, "reason": f"importing it failed: {exc}"}
    return {"ok": True, "versions": _versions(cls),
            "python": sys.version.split()[0], "executable": sys.executable}


class _Driver:
    def __init__(self, name: str, url: str, out: Any) -> None:
        self.cls = load(name)
        self.url = url
        self.out = out
        self.loop = asyncio.new_event_loop() if self.cls.is_async else None
        self.peers: dict[str, Peer] = {}

    def run(self, value: Any) -> Any:
        """``value``, or what it returns when it is a coroutine (run on the driver's loop)."""
        if self.loop is not None and asyncio.iscoroutine(value):
            return self.loop.run_until_complete(value)
        return value

    def peer(self, ns: str) -> Peer:
        if ns not in self.peers:
            p = self.cls()
            self.run(p.connect(self.url, ns))
            self.peers[ns] = p
        return self.peers[ns]

    def send(self, **reply: Any) -> None:
        self.out.write(json.dumps(reply) + "\n")
        self.out.flush()

    def measured(self, warm: Callable[[], Any], body: Callable[[], Any]) -> Any:
        """Warm up, say ready, wait for "go", run ``body`` and return what it returns."""
        self.run(warm())
        self.send(ready=True)
        line = sys.stdin.readline()
        if json.loads(line or "{}").get("op") != "go":
            raise SystemExit(0)
        return self.run(body())

    # -- the loops, sync and async ------------------------------------------------------
    @staticmethod
    def _one_by_one(p: Peer, n: int, first: int) -> Any:
        if p.is_async:
            async def many() -> float:
                t = time.perf_counter()
                for i in range(first, first + n):
                    await p.enqueue(i, 0.0)
                return time.perf_counter() - t
            return many()
        t = time.perf_counter()
        for i in range(first, first + n):
            p.enqueue(i, 0.0)
        return time.perf_counter() - t

    @staticmethod
    def _in_bulk(p: Peer, n: int, batch: int, first: int) -> Any:
        chunks = [[(i, 0.0) for i in range(s, min(s + batch, first + n))]
                  for s in range(first, first + n, batch)]
        if p.is_async:
            async def many() -> float:
                t = time.perf_counter()
                for chunk in chunks:
                    await p.enqueue_bulk(chunk)
                return time.perf_counter() - t
            return many()
        t = time.perf_counter()
        for chunk in chunks:
            p.enqueue_bulk(chunk)
        return time.perf_counter() - t

    @staticmethod
    def _steady(p: Peer, n: int, rate: float) -> Any:
        period = 1.0 / rate
        calls: list[float] = []
        if p.is_async:
            async def paced() -> tuple[float, list[float]]:
                t0 = time.perf_counter()
                for i in range(n):
                    delay = t0 + i * period - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    sent = time.time()
                    await p.enqueue(i, sent)
                    calls.append(time.time() - sent)
                return time.perf_counter() - t0, calls
            return paced()
        t0 = time.perf_counter()
        for i in range(n):
            delay = t0 + i * period - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            sent = time.time()
            p.enqueue(i, sent)
            calls.append(time.time() - sent)
        return time.perf_counter() - t0, calls

    def handle(self, cmd: dict[str, Any]) -> bool:
        op = cmd.get("op")
        if op == "close":
            for p in self.peers.values():
                self.run(p.close())
            self.send(closed=True)
            return False
        p = self.peer(cmd["ns"])
        n = int(cmd["n"])
        warm = int(cmd.get("warm", 0))
        if op == "enqueue":
            secs = self.measured(lambda: self._one_by_one(p, warm, -warm),
                                 lambda: self._one_by_one(p, n, 0))
            self.send(seconds=secs)
        elif op == "bulk":
            batch = int(cmd["batch"])
            secs = self.measured(lambda: self._in_bulk(p, warm, batch, -warm) if warm else None,
                                 lambda: self._in_bulk(p, n, batch, 0))
            self.send(seconds=secs)
        elif op == "steady":
            secs, calls = self.measured(lambda: None, lambda: self._steady(p, n, float(cmd["rate"])))
            self.send(seconds=secs, calls=calls)
        else:
            raise ValueError(f"unknown op {op!r}")
        return True


def _die_with_parent() -> None:
    """Ask Linux to send SIGTERM when the process that started this one dies."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def main(argv: list[str]) -> int:
    """See the module's docstring."""
    _die_with_parent()
    if argv[:1] == ["--exec"]:
        os.execvp(argv[1], argv[1:])  # the setting survives exec
    # Libraries may print: keep the protocol on a private copy of stdout.
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    if argv[:1] == ["--check"]:
        try:
            reply = _check(argv[1])
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            reply = {"ok": False, "reason": f"{type(exc).__name__}: {exc}"}
        out.write(json.dumps(reply) + "\n")
        return 0
    driver = _Driver(argv[0], argv[1], out)
    for line in sys.stdin:
        try:
            if not driver.handle(json.loads(line)):
                break
        except Exception:  # noqa: BLE001 - the bench reports it
            driver.send(error=traceback.format_exc())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
