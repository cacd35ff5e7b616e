"""Run the peers through the suite's ``enqueue``, ``enqueue_many``, ``drain`` and ``latency``.

The same server, the same sizes, the same windows as rediq's rows: every measured window
is bracketed by two INFO snapshots and holds nothing but the peer's own work (its driver
enqueueing, its workers running). Completions come through the FIFO of
:class:`.base.Completions`, never through the measured server.

Where a peer cannot be run like rediq, the row says so:
- drain: a peer's worker is its own CLI (or worker API) process, which cannot be started
  and then held back the way rediq's bench workers are; its drain is timed from the first
  job's start to the last job's end (rediq's from "go", which includes its first claim).
  The server window opens before the peer's workers start, so it includes their start-up
  traffic.
- enqueue_many: only peers with a bulk-enqueue API; they enqueue ``jobs`` jobs in batches
  of ``batch`` (rediq's row enqueues 10x as many).
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..quantiles import quantile, quantile_curve
from ..runner import Bench, BenchError, Result
from ..serverstats import Cost, cost
from . import PEERS, load
from .base import (
    ENV_CONCURRENCY,
    ENV_FIFO,
    ENV_NS,
    ENV_PROCESSES,
    ENV_URL,
    Completions,
    Peer,
    WorkerProcesses,
)

__all__ = ["PEER_SCENARIOS", "PeerSetup", "parse_peers", "parse_pythons", "check", "run_peers"]

#: The scenarios a peer runs (when they are selected).
PEER_SCENARIOS = ("enqueue", "enqueue_many", "drain", "latency")
WARM = 20


@dataclass
class PeerSetup:
    """One requested peer and what its check said."""

    name: str
    python: str
    ok: bool = False
    reason: str = ""
    versions: dict[str, str] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        cls = load(self.name)
        return {"peer": self.name, "python": self.python, "ran": self.ok,
                "reason": self.reason, "versions": self.versions,
                "guarantee": cls.guarantee, "bulk_api": cls.bulk}


def parse_peers(text: str) -> list[str]:
    """The names of ``--peers`` ("all" means every known peer).

    Raises:
        ValueError: an unknown name.
    """
    names = [n.strip().lower() for n in text.split(",") if n.strip()]
    if names == ["all"]:
        return list(PEERS)
    unknown = [n for n in names if n not in PEERS]
    if unknown:
        raise ValueError(f"unknown peer(s) {', '.join(unknown)}; choose from {', '.join(PEERS)}")
    return list(dict.fromkeys(names))


def parse_pythons(values: list[str] | None) -> dict[str, str]:
    """``--peer-python [PEER=]PATH`` values as {peer or "": interpreter}.

    Raises:
        ValueError: an unknown peer name.
    """
    out: dict[str, str] = {}
    for value in values or []:
        name, sep, path = value.partition("=")
        if sep and name.strip().lower() in PEERS:
            out[name.strip().lower()] = path
        elif sep and "/" not in name and "\\" not in name:
            raise ValueError(f"--peer-python {value}: unknown peer {name!r}")
        else:
            out[""] = value
    return out


class _Env:
    """The directory, FIFO and environment every peer process of this run shares."""

    def __init__(self, url: str, sizes: Any) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="rediq-bench-peers-"))
        # The children import rediq_bench from here, whatever interpreter they run.
        package = Path(__file__).resolve().parent.parent
        (self.dir / "path").mkdir()
        os.symlink(package, self.dir / "path" / "rediq_bench")
        self.completions: Completions | None = None
        old = os.environ.get("PYTHONPATH")
        self.base = dict(os.environ)
        self.base["PYTHONPATH"] = str(self.dir / "path") + (os.pathsep + old if old else "")
        self.base["PYTHONUNBUFFERED"] = "1"
        self.base[ENV_URL] = url
        self.base[ENV_CONCURRENCY] = str(sizes.concurrency)
        self.base[ENV_PROCESSES] = str(sizes.workers)

    def fifo(self) -> Completions:
        if self.completions is None:
            self.completions = Completions(self.dir)
            self.base[ENV_FIFO] = str(self.completions.path)
        return self.completions

    def env(self, ns: str = "") -> dict[str, str]:
        out = dict(self.base)
        if ns:
            out[ENV_NS] = ns
        return out

    def close(self) -> None:
        if self.completions is not None:
            self.completions.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def check(names: list[str], pythons: dict[str, str], url: str, sizes: Any) -> list[PeerSetup]:
    """Ask each peer's interpreter whether the peer can run (in parallel)."""
    env = _Env(url, sizes)
    setups = [PeerSetup(n, pythons.get(n) or pythons.get("") or sys.executable) for n in names]

    def one(s: PeerSetup) -> None:
        if not (shutil.which(s.python) or Path(s.python).is_file()):
            s.reason = f"interpreter {s.python} not found"
            return
        try:
            out = subprocess.run([s.python, "-m", "rediq_bench.peers.driver", "--check", s.name],
                                 env=env.env(), cwd=env.dir, capture_output=True, text=True,
                                 timeout=120, check=False)
            reply = json.loads(out.stdout.strip().splitlines()[-1])
        except (subprocess.TimeoutExpired, OSError, ValueError, IndexError) as exc:
            s.reason = f"could not check it with {s.python}: {type(exc).__name__}"
            return
        s.ok = bool(reply.get("ok"))
        s.reason = "" if s.ok else str(reply.get("reason"))
        s.versions = dict(reply.get("versions") or {})

    try:
        threads = [threading.Thread(target=one, args=(s,)) for s in setups]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        env.close()
    return setups


class _Driver:
    """The peer's driver process (see :mod:`.driver`), spoken to through its stdin/stdout."""

    def __init__(self, python: str, name: str, url: str, env: dict[str, str], cwd: Path,
                 log: Path) -> None:
        self.log = log
        self._err = open(log, "ab")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen([python, "-m", "rediq_bench.peers.driver", name, url],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._err, env=env, cwd=cwd, text=True,
                                     start_new_session=True)
        self.replies: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.replies.put(line)
        self.replies.put("")

    def _tail(self) -> str:
        try:
            lines = self.log.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(x.strip() for x in lines[-6:])

    def send(self, **cmd: Any) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(cmd) + "\n")
            self.proc.stdin.flush()
        except OSError as exc:
            raise BenchError(f"the driver process is gone: {self._tail()}") from exc

    def reply(self, timeout: float) -> dict[str, Any]:
        try:
            line = self.replies.get(timeout=timeout)
        except queue.Empty:
            raise BenchError(f"the driver process did not answer within {timeout:.0f} s") from None
        if not line:
            raise BenchError(f"the driver process exited: {self._tail()}")
        reply = json.loads(line)
        if "error" in reply:
            raise BenchError("the peer's client failed: "
                             + reply["error"].strip().splitlines()[-1])
        return reply  # type: ignore[no-any-return]

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.send(op="close")
                self.reply(30)
            except (BenchError, ValueError):
                pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._err.close()


def _measure(b: Bench, driver: _Driver, timeout: float, **cmd: Any) -> tuple[dict[str, Any], Any]:
    """Run one measured driver command between two snapshots; return (reply, (before, after))."""
    driver.send(**cmd)
    driver.reply(120)  # ready: warmed up
    before = b.snapshot()
    driver.send(op="go")
    reply = driver.reply(timeout)
    after = b.snapshot()
    return reply, (before, after)


def _ms(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {f"p{int(q * 100)}": round(quantile(ordered, q), 3) for q in (0.5, 0.95, 0.99)} | {
        "max": round(ordered[-1], 3) if ordered else float("nan")}


class _PeerRun:
    """One peer through the selected scenarios."""

    def __init__(self, b: Bench, setup: PeerSetup, env: _Env, scenarios: list[str]) -> None:
        self.b = b
        self.setup = setup
        self.cls: type[Peer] = load(setup.name)
        self.env = env
        self.scenarios = scenarios
        self.ns = f"rediqbench{setup.name}{b.run_id}"
        self.used: list[str] = []
        self.rows: list[Result] = []
        self.workers: WorkerProcesses | None = None
        self.workers_ns = ""
        self.fifo = env.fifo()
        s = b.sizes
        self.how = self.cls.describe(s.workers, s.concurrency)

    def _row(self, scenario: str, case: str, jobs: int, rate: float | None,
             figures: dict[str, Any], c: Cost | None, notes: list[str] | None = None,
             curves: dict[str, list[float]] | None = None) -> Result:
        row = Result(scenario, case, jobs, rate, figures, c, notes or [], curves or {},
                     system=self.setup.name)
        self.rows.append(row)
        return row

    def _queue(self, ns: str) -> str:
        if ns not in self.used:
            self.used.append(ns)
        return ns

    def start_workers(self, ns: str) -> WorkerProcesses:
        s = self.b.sizes
        commands = [[self.setup.python, "-m", "rediq_bench.peers.driver", "--exec", *argv]
                    for argv in self.cls.worker_commands(self.setup.python, self.b.url, ns,
                                                         s.workers, s.concurrency)]
        self.workers = WorkerProcesses(commands, self.env.env(ns), self.env.dir / f"{self.setup.name}-workers.log",
                                       self.env.dir, self.cls.stop_signal)
        self.workers_ns = ns
        return self.workers

    def stop_workers(self) -> None:
        if self.workers is not None:
            self.workers.stop()
            self.workers = None

    def wait_for(self, target: int, timeout: float, label: str, first: int,
                 partial: bool = False) -> bool:
        """Wait until the FIFO holds ``target`` records; report progress from ``first``.

        Returns:
            True when they all came; False when ``timeout`` passed first and ``partial``
            allows it (some jobs were done by then).

        Raises:
            BenchError: a worker process died; or ``timeout`` passed (with no job done, or
                without ``partial``).
        """
        deadline = time.monotonic() + timeout
        next_check = 0.0
        while (count := self.fifo.count()) < target:
            now = time.monotonic()
            if now > next_check:
                self.b.progress.update(count - first)
                if self.workers is not None and (why := self.workers.dead()):
                    raise BenchError(f"{self.setup.name} {label}: {why}")
                next_check = now + 0.1
            if now > deadline:
                if partial and count > first:
                    return False
                raise BenchError(f"{self.setup.name} {label}: only {count - first} of "
                                 f"{target - first} jobs done after {timeout:.0f} s")
            time.sleep(0.0005)
        self.b.progress.update(target - first)
        return True

    # -- the scenarios --------------------------------------------------------------------
    def run(self, driver: _Driver) -> list[Result]:
        s, name, sc = self.b.sizes, self.setup.name, self.scenarios
        n, batch = s.jobs, s.batch
        if "enqueue_many" in sc and self.cls.bulk:
            self.b.progress.start(f"{name}: enqueue_many", n)
            bulk_ns = self._queue(self.ns + "bulk")
            reply, (before, after) = _measure(self.b, driver, max(120.0, n / 100), op="bulk",
                                              ns=bulk_ns, n=n, batch=batch, warm=batch)
            secs = reply["seconds"]
            self._row("enqueue_many", f"batches of {batch}", n, n / secs,
                      {"seconds": round(secs, 3), "batch": batch, "api": self.cls.bulk},
                      cost(before, after, n, memory="waiting"),
                      [f"{self.cls.bulk}; jobs x1 (rediq's enqueue_many row enqueues 10x)"])
        queued, fill_cost = 0, None
        if "enqueue" in sc or "drain" in sc:
            ns = self._queue(self.ns)
            bulk_fill = "enqueue" not in sc and self.cls.bulk is not None
            self.b.progress.start(f"{name}: enqueue", n)
            if bulk_fill:
                reply, (before, after) = _measure(self.b, driver, max(120.0, n / 100), op="bulk",
                                                  ns=ns, n=n, batch=batch, warm=0)
                queued = n
            else:
                reply, (before, after) = _measure(self.b, driver, max(120.0, n / 50),
                                                  op="enqueue", ns=ns, n=n, warm=WARM)
                queued = n + WARM
            fill_cost = cost(before, after, n, memory="waiting")
            secs = reply["seconds"]
            if "enqueue" in sc:
                self._row("enqueue", "1 client, 1 job/call", n, n / secs,
                          {"seconds": round(secs, 3), "us_per_call": round(secs / n * 1e6, 1)},
                          fill_cost)
        drained = False
        if "drain" in sc:
            drained = self.drain(queued, fill_cost)
        if "latency" in sc:
            self.latency(driver, drained)
        self.stop_workers()
        return self.rows

    def drain(self, queued: int, fill_cost: Cost | None) -> bool:
        """Start the workers on the filled queue and time them; return whether it emptied."""
        s, name = self.b.sizes, self.setup.name
        case = f"{s.workers} proc x{s.concurrency}"
        self.b.progress.start(f"{name}: drain {case}", queued)
        mark = self.fifo.count()
        before = self.b.snapshot()
        launched = time.time()
        self.start_workers(self.ns)
        complete = self.wait_for(mark + queued, s.peer_seconds, "drain", mark, partial=True)
        if complete:
            time.sleep(0.05)  # let the last acknowledgements reach the server
        after = self.b.snapshot()
        records = self.fifo.since(mark)[:queued]
        done = len(records)
        starts = sorted(r[1] for r in records)
        ends = sorted(r[2] for r in records)
        t0 = starts[0]
        wall = ends[-1] - t0
        c = cost(before, after, done)
        if fill_cost is not None:
            c.mem_per_job, c.mem_kind = fill_cost.mem_per_job, "waiting"
        q10, q90 = quantile(ends, 0.1), quantile(ends, 0.9)
        steady = 0.8 * done / (q90 - q10) if q90 > q10 else float("nan")
        notes = [("timed from the first job's start (the peer's worker cannot be held back "
                  "after it started); the server window includes its start-up")]
        figures: dict[str, Any] = {
            "wall_s": round(wall, 3), "steady_jobs_per_s": round(steady, 1),
            "processes": s.workers, "concurrency": s.concurrency, "queues": 1,
            "workers": self.how, "launch_to_first_start_s": round(t0 - launched, 3)}
        if not complete:
            figures |= {"completed": done, "cut_short_after_s": s.peer_seconds}
            notes.insert(0, f"cut short after {s.peer_seconds:g} s: {done:,} of {queued:,} jobs "
                            "done; rate and cost per job are over the jobs done")
        self._row("drain", case, queued, done / wall, figures, c, notes)
        return complete

    def latency(self, driver: _Driver, drained: bool) -> None:
        """Enqueue at a steady rate to idle workers (those of the drain when it emptied the
        queue, else new ones on a new queue)."""
        s, name = self.b.sizes, self.setup.name
        ns = self.ns if drained else self._queue(self.ns + "lat")
        if self.workers is None or self.workers_ns != ns:
            self.stop_workers()
            self.start_workers(ns)
        # Probe until the workers take jobs, then let them go idle.
        self.b.progress.start(f"{name}: latency warm-up", s.concurrency)
        mark = self.fifo.count()
        driver.send(op="enqueue", ns=ns, n=s.concurrency, warm=0)
        driver.reply(120)
        driver.send(op="go")
        driver.reply(120)
        self.wait_for(mark + s.concurrency, 120.0, "latency warm-up", mark)
        time.sleep(1.0)
        n = max(int(s.latency_rate * s.latency_seconds), 20)
        self.b.progress.start(f"{name}: latency {s.latency_rate:g}/s", n)
        mark = self.fifo.count()
        driver.send(op="steady", ns=ns, n=n, rate=s.latency_rate)
        driver.reply(120)
        before = self.b.snapshot()
        driver.send(op="go")
        reply = driver.reply(s.latency_seconds * 3 + 120)
        complete = self.wait_for(mark + n, min(s.peer_seconds, 60.0), "latency", mark,
                                 partial=True)
        if complete:
            time.sleep(0.05)
        after = self.b.snapshot()
        time.sleep(s.idle_seconds)
        idle_end = self.b.snapshot()
        # Only this run's jobs carry an enqueue time (warm-up and drain jobs carry 0).
        timed = [r for r in self.fifo.since(mark) if r[0] > 0][:n]
        # Jobs not done when the wait ended count as infinitely late (shown as "-").
        missing = [float("inf")] * (n - len(timed))
        to_start = [(st - sent) * 1000 for sent, st, _ in timed] + missing
        to_done = [(end - sent) * 1000 for sent, _, end in timed] + missing
        idle = cost(after, idle_end, 1)
        secs = reply["seconds"]
        figures: dict[str, Any] = {
            "rate_configured": s.latency_rate, "rate_achieved": round(n / secs, 1),
            "enqueue_to_start_ms": _ms(to_start), "enqueue_to_complete_ms": _ms(to_done),
            "enqueue_call_ms": _ms([c * 1000 for c in reply["calls"]]),
            "idle_seconds": s.idle_seconds,
            "idle_commands_per_s": round(idle.commands / max(idle.seconds, 1e-9), 2),
            "idle_script_calls_per_s": round(idle.script_calls / max(idle.seconds, 1e-9), 2),
            "idle_redis_cpu_us_per_s": round(idle.cpu_us / max(idle.seconds, 1e-9), 1),
            "idle_by_command": idle.by_command, "workers": self.how,
        }
        notes = ["completion = the task function returned (measured in the worker process)"]
        if missing:
            figures["completed"] = len(timed)
            for key in ("idle_commands_per_s", "idle_script_calls_per_s",
                        "idle_redis_cpu_us_per_s"):
                figures[key] = None  # it was still working through the backlog
            figures["idle_by_command"] = {}
            notes.insert(0, f"the peer fell behind the rate: {len(timed):,} of {n:,} jobs done "
                            f"{min(s.peer_seconds, 60.0):g} s after the last enqueue; the others "
                            "count as infinitely late")
        self._row("latency", f"{s.latency_rate:g} jobs/s, 1 proc x{s.concurrency}", n, n / secs,
                  figures, cost(before, after, max(len(timed), 1), memory="kept"), notes,
                  {} if missing else {"enqueue_to_start_ms": quantile_curve(to_start),
                                      "enqueue_to_complete_ms": quantile_curve(to_done)})

    def cleanup(self, embedded: bool) -> None:
        """Remove what the peer left on the server (outside every window)."""
        try:
            if embedded:
                self.b.stats.flushall()
            else:
                for ns in self.used:
                    self.cls.cleanup(self.b.stats, ns)
        except Exception:  # noqa: BLE001 - best effort
            pass


def run_peers(b: Bench, setups: list[PeerSetup], scenarios: list[str], embedded: bool,
              doc: dict[str, Any]) -> list[Result]:
    """Run every peer that passed its check through ``scenarios``; return their rows.

    A peer that fails is reported in ``doc["failed"]`` and the others still run.
    """
    rows: list[Result] = []
    chosen = [sc for sc in PEER_SCENARIOS if sc in scenarios]
    if not chosen:
        return rows
    env = _Env(b.url, b.sizes)
    try:
        for setup in setups:
            if not setup.ok:
                continue
            run = _PeerRun(b, setup, env, chosen)
            driver = _Driver(setup.python, setup.name, b.url, env.env(),
                             env.dir, env.dir / f"{setup.name}-driver.log")
            try:
                rows += run.run(driver)
            except BenchError as exc:
                doc["failed"].append({"scenario": f"peer {setup.name}", "reason": str(exc)})
                rows += run.rows
            finally:
                run.stop_workers()
                driver.close()
                run.cleanup(embedded)
    finally:
        env.close()
    return rows
