"""The pieces every scenario uses: sizes, the bench context, results, worker processes."""

from __future__ import annotations

import multiprocessing
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from .serverstats import Cost, Snapshot, snapshot
from .worker import WorkerSpec, serve

__all__ = ["Sizes", "Bench", "Result", "WorkerGroup", "Progress", "BenchError"]

PREFIX = "rediq-bench"


class BenchError(RuntimeError):
    """A scenario could not run (a worker died, a run timed out)."""


@dataclass(slots=True)
class Sizes:
    """How big each scenario is (``--quick`` and the size options set these).

    Attributes:
        jobs: jobs per drain; the other scenarios scale from it (see ``bench --help``).
        workers: worker processes of the ``drain`` scenario.
        concurrency: jobs run at once per worker process (per queue).
        batch: jobs per ``enqueue_many`` call.
        latency_rate: jobs per second enqueued by the latency scenario.
        latency_seconds: how long the latency scenario enqueues.
        idle_seconds: how long idle workers are watched after the latency run.
        rate_max: rate-limit scenario: starts allowed per window.
        rate_period: rate-limit scenario: window length in seconds.
        rate_windows: rate-limit scenario: windows' worth of jobs enqueued.
        codec_seconds: seconds per (codec, operation, size) cell of the codec micro-benchmark.
        peer_seconds: ``--peers``: the longest a peer's drain (or the catch-up after its
            latency run) is waited for; a slower peer's row covers the jobs done by then.
    """

    jobs: int = 20_000
    workers: int = 1
    concurrency: int = 16
    batch: int = 1000
    latency_rate: float = 200.0
    latency_seconds: float = 10.0
    idle_seconds: float = 3.0
    rate_max: int = 50
    rate_period: float = 0.5
    rate_windows: int = 10
    codec_seconds: float = 0.25
    peer_seconds: float = 60.0

    @classmethod
    def quick(cls) -> Sizes:
        """A CI-sized run (about 20 s in all)."""
        return cls(jobs=5000, latency_seconds=2.0, idle_seconds=1.0, rate_max=20,
                   rate_period=0.25, rate_windows=6, codec_seconds=0.05, peer_seconds=15.0)


@dataclass(slots=True)
class Result:
    """One row of the results: a scenario's case, its throughput and its server cost.

    Attributes:
        scenario: the scenario name.
        case: what varies within the scenario ("1 proc x16", "64 KB", ...).
        jobs: jobs the row is about.
        throughput: the headline figure (jobs per second), or None.
        figures: every other figure of the row (name: value).
        cost: server-side cost of the measured window (None: no Redis involved).
        notes: remarks worth printing.
        curves: {name: quantile curve (101 points, ms)} for the report's plots.
        system: "rediq", or the peer queue the row measured (``--peers``).
    """

    scenario: str
    case: str
    jobs: int
    throughput: float | None
    figures: dict[str, Any] = field(default_factory=dict)
    cost: Cost | None = None
    notes: list[str] = field(default_factory=list)
    curves: dict[str, list[float]] = field(default_factory=dict)
    system: str = "rediq"

    def as_dict(self) -> dict[str, Any]:
        """The row as plain JSON data."""
        return {"system": self.system, "scenario": self.scenario, "case": self.case, "jobs": self.jobs,
                "jobs_per_s": None if self.throughput is None else round(self.throughput, 1),
                "figures": self.figures, "server": self.cost.as_dict() if self.cost else None,
                "notes": self.notes, "curves": self.curves}


class Progress:
    """Where a scenario reports how far it got (the CLI passes a rich or plain one)."""

    def start(self, label: str, total: int) -> None:
        """Begin a step of ``total`` units."""

    def update(self, done: int) -> None:
        """Say ``done`` units of the current step are done."""


@dataclass
class Bench:
    """What a scenario runs against.

    Attributes:
        url: the measured server's URL.
        client: a rediq client (prefix ``rediq-bench``) for enqueueing.
        stats: a redis-py client used only for bookkeeping (INFO, reading records).
        sizes: the sizes of this run.
        progress: where progress goes.
    """

    url: str
    client: Any
    stats: Any
    sizes: Sizes
    progress: Progress = field(default_factory=Progress)
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    _made: list[str] = field(default_factory=list)

    def queue_name(self, label: str) -> str:
        """A fresh queue name for this run; it is obliterated by :meth:`cleanup`."""
        name = f"{label}-{self.run_id}-{len(self._made)}"
        self._made.append(name)
        return name

    def snapshot(self) -> Snapshot:
        """Read the server's counters (bookkeeping: not counted)."""
        return snapshot(self.stats)

    def spec(self, queues: list[str], handler: str = "noop", rate: tuple[int, float] | None = None
             ) -> WorkerSpec:
        """A worker spec for ``queues`` with this run's concurrency."""
        rate_max, period = rate or (0, 1.0)
        return WorkerSpec(self.url, PREFIX, tuple(queues), self.sizes.concurrency, handler,
                          rate_max, period)

    def cleanup(self) -> None:
        """Delete every queue this run made (outside any measured window)."""
        try:
            self.stats.ping()  # no retries: a server that is gone is not waited for
        except Exception:  # noqa: BLE001
            self._made.clear()
            return
        for name in self._made:
            try:
                self.client.queue(name).obliterate(force=True)
            except Exception:  # noqa: BLE001 - best effort; the server may be gone
                pass
        self._made.clear()


class WorkerGroup:
    """Worker processes serving one spec; always stopped (terminate, then kill) on exit.

    Args:
        spec: what every process serves.
        processes: how many processes.
        progress: told how many jobs are done while :meth:`wait_for` waits.
    """

    def __init__(self, spec: WorkerSpec, processes: int, progress: Progress | None = None) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.processes = processes
        self.progress = progress or Progress()
        self.counts = ctx.Array("q", processes, lock=False)
        self.ready = ctx.Array("b", processes, lock=False)
        pipes = [ctx.Pipe() for _ in range(processes)]
        self.conns = [parent for parent, _ in pipes]
        self._child_conns = [child for _, child in pipes]
        self.procs = [ctx.Process(target=serve, name=f"rediq-bench-worker-{i}", daemon=True,
                                  args=(spec, i, self.counts, self.ready, child))
                      for i, (_, child) in enumerate(pipes)]
        self._told: set[tuple[int, str]] = set()

    def __enter__(self) -> WorkerGroup:
        try:
            for p, child in zip(self.procs, self._child_conns):
                p.start()
                child.close()  # the child holds its end; EOF then means it is gone
            deadline = time.monotonic() + 60
            while sum(self.ready) < self.processes:
                self._check_alive()
                if time.monotonic() > deadline:
                    raise BenchError("worker processes did not start within 60 s")
                time.sleep(0.01)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_alive(self) -> None:
        for p, conn in zip(self.procs, self.conns):
            if p.is_alive():
                continue
            detail = ""
            try:
                if conn.poll():
                    item = conn.recv()
                    if item[0] == "error":
                        detail = item[1].strip().splitlines()[-1]
            except (EOFError, OSError):
                pass
            raise BenchError(f"worker process {p.name} exited (code {p.exitcode})"
                             + (f": {detail}" if detail else ""))

    def _tell(self, word: str) -> None:
        """Send ``word`` ("go" or "stop") to every worker, once each."""
        for i, conn in enumerate(self.conns):
            if (i, word) not in self._told:
                self._told.add((i, word))
                try:
                    conn.send(word)
                except OSError:  # that worker is gone already
                    pass

    def start(self) -> float:
        """Let the workers run; return the wall-clock time of the start."""
        t0 = time.time()
        self._tell("go")
        return t0

    def done(self) -> int:
        """Jobs completed so far (read from local shared memory, not from Redis)."""
        return int(sum(self.counts))

    def wait_for(self, n: int, timeout: float, poll: float = 0.0005) -> None:
        """Wait until ``n`` jobs are done.

        Raises:
            BenchError: a worker died, or ``timeout`` seconds passed.
        """
        deadline = time.monotonic() + timeout
        next_report = 0.0
        while (done := self.done()) < n:
            now = time.monotonic()
            if now > next_report:
                self.progress.update(done)
                self._check_alive()
                next_report = now + 0.1
            if now > deadline:
                raise BenchError(f"only {done} of {n} jobs done after {timeout:.0f} s")
            time.sleep(poll)
        self.progress.update(n)

    def stop(self) -> tuple[list[float], list[tuple[float, float, float]]]:
        """Stop the workers gracefully; return every end time and every timed record."""
        self._tell("stop")
        ends: list[float] = []
        timed: list[tuple[float, float, float]] = []
        for p, conn in zip(self.procs, self.conns):
            try:
                if not conn.poll(30):
                    raise BenchError(f"worker process {p.name} did not report after stopping")
                item = conn.recv()
            except (EOFError, OSError) as exc:
                raise BenchError(f"worker process {p.name} exited without reporting") from exc
            if item[0] == "error":
                raise BenchError(f"worker process failed: {item[1].strip().splitlines()[-1]}")
            ends += item[1]
            timed += item[2]
        self.close()
        return sorted(ends), sorted(timed, key=lambda t: t[1])

    def close(self, grace: float = 5.0) -> None:
        """Stop every process still running: SIGTERM, then SIGKILL after ``grace`` seconds."""
        self._tell("go")
        self._tell("stop")
        deadline = time.monotonic() + grace
        started = [p for p in self.procs if p.pid is not None]
        for p in started:
            p.join(max(deadline - time.monotonic(), 0.0))
        for p in started:
            if p.is_alive():
                p.terminate()
                p.join(2.0)
            if p.is_alive():
                p.kill()
                p.join()
        for conn in self.conns:
            conn.close()
