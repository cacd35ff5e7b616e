"""Parent side of the fault suite: worker fleets, execution records, outcome checks.

Sizes come from the environment so CI stays small and a soak can go big:
``REDIQ_FAULT_JOBS`` (default 1500) is the workload of the main drain scenarios; the
other scenarios use fractions of it.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import redis

import rediq
from rediq import commands as C

RUNNER = Path(__file__).resolve().parent / "runner.py"
PYTHON_DIR = Path(__file__).resolve().parents[2] / "python"
QUEUE = "faults"

# every job is kept once finished, so the checks can read every outcome
KEEP_ALL = {"keep_completed": 3600.0, "keep_completed_count": 10_000_000,
            "keep_failed": 3600.0, "keep_failed_count": 10_000_000}


def fault_jobs(default: int = 1500) -> int:
    """The size of the main fault workloads (``REDIQ_FAULT_JOBS``)."""
    return int(os.environ.get("REDIQ_FAULT_JOBS", default))


def queue_config(**overrides: Any) -> dict[str, Any]:
    """QueueConfig kwargs for the workers: short lease, everything kept."""
    return {"concurrency": 4, "lease": 1.0, "max_stalls": 3, **KEEP_ALL, **overrides}


class Proc:
    """One worker process of a :class:`Fleet`."""

    def __init__(self, name: str, popen: subprocess.Popen[bytes], log: Path) -> None:
        self.name, self.popen, self.log_path = name, popen, log
        self.peak_rss_kb = 0

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            os.kill(self.pid, sig)

    def sample(self) -> None:
        """Remember the process's peak RSS (VmHWM) while it still exists."""
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    self.peak_rss_kb = max(self.peak_rss_kb, int(line.split()[1]))
        except OSError:
            pass

    def cpu_seconds(self) -> float:
        """User + system CPU time the process used so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


class Fleet:
    """Start runner processes; every one is SIGKILLed and reaped at :meth:`cleanup`."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.dir = Path(tempfile.mkdtemp(prefix="rediq-faults-"))
        self.procs: list[Proc] = []

    def start(self, queues: dict[str, dict[str, Any]] | None = None, *, name: str | None = None,
              url: str | None = None, env: dict[str, str] | None = None,
              grace: float = 5.0, compact: bool = False) -> Proc:
        name = name or f"w{len(self.procs) + 1}"
        spec = {"url": url or self.url, "name": name, "dir": str(self.dir), "grace": grace,
                "parent": os.getpid(), "queues": queues or {QUEUE: queue_config()},
                "compact": compact}
        full_env = dict(os.environ) | (env or {})
        full_env["PYTHONPATH"] = os.pathsep.join(
            [str(PYTHON_DIR)] + ([full_env["PYTHONPATH"]] if full_env.get("PYTHONPATH") else []))
        log = self.dir / f"{name}.log"
        with open(log, "ab") as out:
            popen = subprocess.Popen([sys.executable, str(RUNNER), json.dumps(spec)],
                                     stdout=out, stderr=subprocess.STDOUT, env=full_env)
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def alive(self) -> list[Proc]:
        return [p for p in self.procs if p.alive()]

    def sample(self) -> None:
        for p in self.alive():
            p.sample()

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM every live worker (graceful stop) and wait; SIGKILL what is left."""
        self.sample()
        for p in self.alive():
            p.signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for p in self.procs:
            try:
                p.popen.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                p.signal(signal.SIGKILL)
                p.popen.wait(10)

    def cleanup(self) -> None:
        for p in self.procs:
            if p.alive():
                os.kill(p.pid, signal.SIGCONT)
                os.kill(p.pid, signal.SIGKILL)
        for p in self.procs:
            try:
                p.popen.wait(10)
            except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL cannot be ignored
                pass

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} (pid {p.pid}, exit {p.popen.returncode}) ---\n{p.log()[-3000:]}"
                         for p in self.procs)

    def executions(self) -> list[dict[str, Any]]:
        """Every recorded event of every worker process, in file order."""
        evs = {"s": "start", "e": "end", "c": "cancelled"}
        out = []
        for path in sorted(self.dir.glob("exec-*.log")):
            pid = int(path.stem.split("-")[1])
            for line in path.read_text().splitlines():
                if line.startswith("{"):
                    out.append(json.loads(line))
                elif line.strip():
                    ev, jid, attempt, q = line.split(" ")
                    out.append({"ev": evs[ev], "id": jid, "attempt": int(attempt), "q": q, "pid": pid})
        return out

    def killer(self, queues: dict[str, dict[str, Any]] | None = None, every: tuple[float, float] = (1.0, 2.0),
               rng: random.Random | None = None, **start: Any) -> Callable[[], int]:
        """A step function for :func:`drain`: SIGKILL a random live worker every ``every``
        seconds and start a replacement; returns how many were killed so far."""
        rng = rng or random.Random(int(os.environ.get("REDIQ_FAULT_SEED", "0")) or None)
        state = {"next": time.monotonic() + rng.uniform(*every), "killed": 0}

        def step() -> int:
            if time.monotonic() >= state["next"]:
                live = self.alive()
                if live:
                    victim = rng.choice(live)
                    victim.sample()
                    victim.signal(signal.SIGKILL)
                    victim.popen.wait(10)
                    state["killed"] += 1
                self.start(queues, **start)
                state["next"] = time.monotonic() + rng.uniform(*every)
            return state["killed"]

        return step


def enqueue_workload(client: rediq.Client, n: int, data: Any = None, *, prefix: str = "j",
                     queue: str = QUEUE, **options: Any) -> list[str]:
    """Enqueue ``n`` jobs of handler ``rec`` with known ids; return the ids."""
    ids = [f"{prefix}{i}" for i in range(n)]
    q = client.queue(queue)
    q.enqueue_many([("rec", data if data is not None else {}, {"job_id": i}) for i in ids], **options)
    return ids


def drain(client: rediq.Client, total: int, *, timeout: float, step: Callable[[], Any] | None = None,
          queue: str = QUEUE, fleet: Fleet | None = None) -> dict[str, int]:
    """Wait until ``total`` jobs of ``queue`` are finished (completed + failed), calling
    ``step`` (fault injection) meanwhile; return the final counts."""
    q = client.queue(queue)
    deadline = time.monotonic() + timeout
    while True:
        counts = q.counts()
        if counts["completed"] + counts["failed"] >= total and counts["active"] == 0:
            return counts
        if time.monotonic() > deadline:
            raise AssertionError(f"queue did not drain within {timeout} s: {counts}"
                                 + (f"\n{fleet.logs()}" if fleet else ""))
        if step is not None:
            step()
        if fleet is not None:
            fleet.sample()
        time.sleep(0.05)


@dataclass
class Outcome:
    """What happened to a workload, per job and in total."""

    states: Counter[str] = field(default_factory=Counter)
    runs: int = 0                        # handler runs started
    duplicate_runs: int = 0              # runs beyond the first, per job, summed
    stalls: int = 0                      # stalls recorded on the job records
    stalled_jobs_never_rerun: int = 0    # stall recorded though no second run started
    failed_by_stalls: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"states {dict(self.states)}, runs {self.runs}, duplicate runs {self.duplicate_runs} "
                f"(stalls recorded {self.stalls}), failed by stalls {len(self.failed_by_stalls)}")


def check_outcomes(client: rediq.Client, ids: Iterable[str], execs: list[dict[str, Any]], *,
                   queue: str = QUEUE, may_fail: bool = False) -> Outcome:
    """Check every job of a drained workload against its execution records.

    Per job: it exists and is terminal (completed, or failed when ``may_fail`` or for
    stalling more than max_stalls); every run beyond the first is explained by a recorded
    stall or a failed run (stalls + failures >= runs - 1); no run started without a claim
    (runs <= attempts_made); a completed job's stored result names the LAST lease (its
    attempt and token), so no stale run's completion was accepted.
    """
    q = client.queue(queue)
    runs: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in execs:
        if e["ev"] == "start" and e["q"] == queue:
            runs[e["id"]].append(e)
    out = Outcome()
    pipe = client.redis.pipeline(transaction=False)
    ids = list(ids)
    for jid in ids:
        pipe.hgetall(q.keys.job(jid))
    for jid, raw in zip(ids, pipe.execute()):
        if not raw:
            out.problems.append(f"{jid}: LOST (no record)")
            continue
        info = rediq.job.parse_job_info(queue, jid, raw)
        out.states[info.state] += 1
        n = len(runs[jid])
        out.runs += n
        out.duplicate_runs += max(n - 1, 0)
        out.stalls += info.stalls
        if info.stalls and n <= 1:
            out.stalled_jobs_never_rerun += 1
        if info.state == "completed":
            res = info.result
            token = raw.get(b"token", b"").decode()
            if res["attempt"] != info.attempts_made or res["token"] != token:
                out.problems.append(f"{jid}: recorded completion is from attempt {res['attempt']} "
                                    f"token {res['token']}, but the last lease is attempt "
                                    f"{info.attempts_made} token {token}")
        elif info.state == "failed":
            if info.error and info.error.startswith("job stalled"):
                out.failed_by_stalls.append(jid)
            elif not may_fail:
                out.problems.append(f"{jid}: failed: {info.error!r:.200}")
        else:
            out.problems.append(f"{jid}: not terminal: {info.state}")
        if n > info.attempts_made:
            out.problems.append(f"{jid}: {n} runs started but only {info.attempts_made} claims")
        if n - 1 > info.stalls + info.failures:
            out.problems.append(f"{jid}: {n} runs, explained by only {info.stalls} stalls and "
                                f"{info.failures} failures")
    return out


def used_memory(r: redis.Redis) -> int:
    return int(r.info("memory")["used_memory"])


def configure(client: rediq.Client, queue: str = QUEUE, **config: Any) -> None:
    """Store a queue's settings the way a worker would (so checks can read them at once)."""
    client.queue(queue).configure(rediq.QueueConfig(**config).meta_settings())


def run_script(client: rediq.Client, call: C.Call) -> Any:
    return client.run(call)
