"""A pure-Python reference model of one rediq queue, written from the script contracts.

It answers every operation with the same typed results as ``rediq.commands.parse_*``
and keeps the same observable state (which structure holds each job, in which order,
lease deadlines, counters), so a test can run the real Lua scripts and this model on
the same operations and compare them step by step. Time is an explicit integer clock
in milliseconds (the scripts' documented ``now`` override).

What it models: waiting (FIFO list for priority 0, ordered set for other priorities,
hand-back to the head), delayed jobs (promoted by every claim/complete call), leases
(token + deadline), attempts/failures/backoff, stalls and ``max_stalls``, the
sliding-window rate limit on starts, the global concurrency cap, pause, retention of
completed/failed jobs (count and age, trimmed when jobs finish), retry_failed, remove.
What it does not model: wake-up tokens (checked separately: at most one is stored).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from rediq.commands import ClaimResult, Claimed, FailResult
from rediq.errors import Code

__all__ = ["MJob", "QueueModel", "backoff_delay", "TRIM_BUDGET"]

TRIM_BUDGET = 100          # retention removes at most this many (+ just added) per call
CLAIM_CAP = 1000           # claim takes at most this many jobs per call
PRIO_SPAN = 4294967296     # priority zset score = -priority * 2^32 + sequence

DEFAULTS = {
    "keep_completed_age_ms": 600_000, "keep_completed_count": 10_000,
    "keep_failed_age_ms": 604_800_000, "keep_failed_count": 100_000,
}


@dataclass
class MJob:
    """One job record as the model keeps it."""

    id: str
    runs: str
    data: bytes
    priority: int
    attempts: int
    backoff: str
    timeout_ms: int
    created_ms: int
    state: str = "waiting"
    attempts_made: int = 0
    failures: int = 0
    stalls: int = 0
    token: str | None = None
    run_at_ms: int | None = None
    started_ms: int | None = None
    finished_ms: int | None = None
    error: str | None = None
    result: bytes | None = None


def backoff_delay(spec: str, failures: int, rand: float) -> int:
    """Retry delay in ms after the ``failures``-th failure (the fail script's rule)."""
    if not spec:
        return 0
    kind, base_s, cap_s, jitter_s = spec.split(":")
    base, cap, jitter = int(base_s), int(cap_s), float(jitter_s)
    d: float = base
    if kind == "exponential":
        d = base * math.pow(2, min(failures - 1, 40))
    if cap > 0 and d > cap:
        d = cap
    if jitter > 0:
        d = d * (1 - min(jitter, 1) * rand)
    return math.floor(d)


@dataclass
class QueueModel:
    """The whole observable state of one queue."""

    jobs: dict[str, MJob] = field(default_factory=dict)
    wait: list[str] = field(default_factory=list)          # head first
    prio: dict[str, int] = field(default_factory=dict)     # id -> score (lower runs first)
    prio_seq: int = 0
    delayed: dict[str, int] = field(default_factory=dict)  # id -> run_at ms
    active: dict[str, int] = field(default_factory=dict)   # id -> lease deadline ms
    completed: dict[str, int] = field(default_factory=dict)  # id -> finished ms
    failed: dict[str, int] = field(default_factory=dict)
    limit: list[int] = field(default_factory=list)         # start times in the rate window
    paused: bool = False
    settings: dict[str, int] = field(default_factory=dict)  # meta fields set by configure
    stalled_total: int = 0
    starts: list[int] = field(default_factory=list)        # every start (for rate checks)

    # -- helpers ---------------------------------------------------------------------------
    def setting(self, name: str, default: int) -> int:
        return self.settings.get(name, default)

    def _push_waiting(self, job: MJob, front: bool) -> None:
        job.state = "waiting"
        if job.priority == 0:
            if front:
                self.wait.insert(0, job.id)
            else:
                self.wait.append(job.id)
        else:
            self.prio_seq += 1
            seq = -self.prio_seq if front else self.prio_seq
            self.prio[job.id] = -job.priority * PRIO_SPAN + seq

    def prio_order(self) -> list[str]:
        return [i for i, _ in sorted(self.prio.items(), key=lambda kv: (kv[1], kv[0]))]

    @staticmethod
    def _by_score(zset: dict[str, int]) -> list[str]:
        return [i for i, _ in sorted(zset.items(), key=lambda kv: (kv[1], kv[0]))]

    def _trim(self, zset: dict[str, int], now: int, max_age: int, max_count: int, added: int) -> None:
        budget = TRIM_BUDGET + added
        if max_count >= 0:
            excess = len(zset) - max_count
            for jid in self._by_score(zset)[:max(0, min(excess, budget))]:
                del zset[jid]
                del self.jobs[jid]
        if max_age >= 0:
            old = [j for j in self._by_score(zset) if zset[j] <= now - max_age][:budget]
            for jid in old:
                del zset[jid]
                del self.jobs[jid]

    def _keep_failed(self, job: MJob, now: int) -> None:
        age = self.setting("keep_failed_age_ms", DEFAULTS["keep_failed_age_ms"])
        count = self.setting("keep_failed_count", DEFAULTS["keep_failed_count"])
        if age == 0 or count == 0:
            del self.jobs[job.id]
        else:
            self.failed[job.id] = now
            self._trim(self.failed, now, age, count, 1)

    # -- operations ------------------------------------------------------------------------
    def enqueue(self, now: int, specs: list[tuple]) -> list[bool]:
        """specs: (id, runs, data, priority, attempts, backoff, timeout_ms, delay_ms)."""
        out = []
        for jid, runs, data, priority, attempts, backoff, timeout_ms, delay_ms in specs:
            if jid in self.jobs:
                out.append(True)
                continue
            job = MJob(jid, runs, data, priority, attempts, backoff, timeout_ms, now)
            self.jobs[jid] = job
            if delay_ms > 0:
                job.state, job.run_at_ms = "delayed", now + delay_ms
                self.delayed[jid] = now + delay_ms
            else:
                self._push_waiting(job, front=False)
            out.append(False)
        return out

    def _promote(self, now: int) -> None:
        due = [j for j in self._by_score(self.delayed) if self.delayed[j] <= now][:CLAIM_CAP]
        for jid in due:
            del self.delayed[jid]
            if jid in self.jobs:
                self._push_waiting(self.jobs[jid], front=False)

    def claim(self, now: int, max_jobs: int, token: str, lease_ms: int) -> ClaimResult:
        self._promote(now)
        if self.paused:
            return ClaimResult(Code.QUEUE_PAUSED, -1, [])
        if max_jobs <= 0:
            return ClaimResult(Code.OK, -1, [])
        n = min(max_jobs, CLAIM_CAP)
        gc = self.setting("global_concurrency", 0)
        if gc > 0:
            free = gc - len(self.active)
            if free <= 0:
                return ClaimResult(Code.CONCURRENCY_LIMITED, -1, [])
            n = min(n, free)
        rmax, period = self.setting("rate_max", 0), self.setting("rate_period_ms", 0)
        if rmax > 0:
            while self.limit and self.limit[0] <= now - period:
                self.limit.pop(0)
            free = rmax - len(self.limit)
            if free <= 0:
                return ClaimResult(Code.RATE_LIMITED, self.limit[0] + period - now, [])
            n = min(n, free)
        # positive priorities first, then the FIFO list (priority 0), then negative ones
        order = self.prio_order()
        high = [j for j in order if self.prio[j] < 0][:n]
        fifo = self.wait[:n - len(high)]
        del self.wait[:len(fifo)]
        low = [j for j in order if self.prio[j] >= 0][:n - len(high) - len(fifo)]
        for jid in high + low:
            del self.prio[jid]
        ids = high + fifo + low
        next_ms, jobs = -1, []
        for jid in ids:
            job = self.jobs.get(jid)
            if job is None:
                continue
            job.state, job.token, job.started_ms = "active", token, now
            job.attempts_made += 1
            self.active[jid] = now + lease_ms
            self.starts.append(now)
            jobs.append(Claimed(jid, job.runs, job.data, job.attempts_made, job.timeout_ms))
        if rmax > 0 and jobs:
            self.limit += [now] * len(jobs)
            if len(self.limit) >= rmax:
                next_ms = self.limit[0] + period - now
        if len(ids) != min(max_jobs, CLAIM_CAP) and next_ms == -1 and self.delayed:
            next_ms = max(min(self.delayed.values()) - now, 1)
        return ClaimResult(Code.OK, next_ms, jobs)

    def complete(self, now: int, done: list[tuple[str, str, bytes]], max_jobs: int, token: str,
                 lease_ms: int) -> tuple[list[int], ClaimResult]:
        age = self.setting("keep_completed_age_ms", DEFAULTS["keep_completed_age_ms"])
        count = self.setting("keep_completed_count", DEFAULTS["keep_completed_count"])
        codes, finished = [], 0
        for jid, tok, result in done:
            job = self.jobs.get(jid)
            if job is None:
                codes.append(Code.JOB_MISSING)
            elif job.token != tok:
                codes.append(Code.LEASE_LOST)
            elif job.state != "active":
                codes.append(Code.ALREADY_FINISHED)
            else:
                del self.active[jid]
                if age == 0 or count == 0:
                    del self.jobs[jid]
                else:
                    job.state, job.result, job.finished_ms = "completed", result, now
                    self.completed[jid] = now
                finished += 1
                codes.append(Code.OK)
        if finished and age != 0 and count != 0:
            self._trim(self.completed, now, age, count, finished)
        return codes, self.claim(now, max_jobs, token, lease_ms)

    def fail(self, now: int, jid: str, token: str, error: str, rand: float, final: bool) -> FailResult:
        job = self.jobs.get(jid)
        if job is None:
            return FailResult(Code.JOB_MISSING, "", 0)
        if job.token != token:
            return FailResult(Code.LEASE_LOST, job.state, 0)
        if job.state != "active":
            return FailResult(Code.ALREADY_FINISHED, job.state, 0)
        del self.active[jid]
        job.failures += 1
        job.error = error
        if final or job.failures >= job.attempts:
            job.state, job.finished_ms = "failed", now
            self._keep_failed(job, now)
            return FailResult(Code.OK, "failed", 0)
        delay = backoff_delay(job.backoff, job.failures, rand)
        if delay > 0:
            job.state, job.run_at_ms = "delayed", now + delay
            self.delayed[jid] = now + delay
            return FailResult(Code.OK, "delayed", delay)
        self._push_waiting(job, front=False)
        return FailResult(Code.OK, "waiting", 0)

    def heartbeat(self, now: int, lease_ms: int, held: list[tuple[str, str]]) -> list[str]:
        lost = []
        for jid, tok in held:
            job = self.jobs.get(jid)
            if job is not None and job.token == tok and job.state == "active":
                self.active[jid] = now + lease_ms
            else:
                lost.append(jid)
        return lost

    def recover_stalled(self, now: int, limit: int, max_stalls_arg: int) -> tuple[list[str], list[str]]:
        max_stalls = self.setting("max_stalls", max_stalls_arg)
        expired = [j for j in self._by_score(self.active) if self.active[j] <= now][:limit]
        back, failed = [], []
        for jid in expired:
            del self.active[jid]
            job = self.jobs[jid]
            job.stalls += 1
            job.token = None
            if job.stalls > max_stalls:
                job.state, job.finished_ms, job.error = "failed", now, "stalled"
                self._keep_failed(job, now)
                failed.append(jid)
            else:
                self._push_waiting(job, front=False)
                back.append(jid)
        self.stalled_total += len(expired)
        return back, failed

    def release(self, items: list[tuple[str, str, bool]]) -> list[int]:
        codes, back = [], []
        for jid, tok, started in items:
            job = self.jobs.get(jid)
            if job is None:
                codes.append(Code.JOB_MISSING)
            elif job.token != tok or job.state != "active":
                codes.append(Code.LEASE_LOST)
            else:
                del self.active[jid]
                job.token, job.state = None, "waiting"
                if not started:
                    job.attempts_made -= 1
                back.append(job)
                codes.append(Code.OK)
        for job in reversed(back):  # the jobs keep their given order at the head
            self._push_waiting(job, front=True)
        return codes

    def pause(self, paused: bool) -> int:
        changed = int(self.paused != paused)
        self.paused = paused
        return changed

    def configure(self, settings: dict[str, str]) -> dict[str, str]:
        changed = {}
        for name, value in settings.items():
            old = str(self.settings[name]) if name in self.settings else ""
            if old != value:
                if value == "":
                    del self.settings[name]
                else:
                    self.settings[name] = int(value)
                changed[name] = old
        return changed

    def retry_failed(self, ids: list[str], limit: int) -> list:
        given = bool(ids)
        if not given:
            ids = self._by_score(self.failed)[:max(limit, 0)]
        moved, codes = 0, []
        for jid in ids:
            job = self.jobs.get(jid)
            if job is None:
                codes.append(Code.JOB_MISSING)
                self.failed.pop(jid, None)
            elif job.state != "failed":
                codes.append(Code.NOT_FAILED)
            else:
                del self.failed[jid]
                job.failures = job.stalls = 0
                job.finished_ms = job.token = None
                self._push_waiting(job, front=False)
                moved += 1
                codes.append(Code.OK)
        return [moved, len(self.failed), codes if given else []]

    def remove(self, jid: str, force: bool) -> int:
        job = self.jobs.get(jid)
        if job is None:
            return Code.JOB_MISSING
        if job.state == "active" and not force:
            return Code.JOB_ACTIVE
        if jid in self.wait:
            self.wait.remove(jid)
        for zset in (self.prio, self.delayed, self.active, self.completed, self.failed):
            zset.pop(jid, None)
        del self.jobs[jid]
        return Code.OK

    def counts(self) -> dict[str, int]:
        return {"waiting": len(self.wait) + len(self.prio), "delayed": len(self.delayed),
                "active": len(self.active), "completed": len(self.completed),
                "failed": len(self.failed), "paused": int(self.paused),
                "stalled": self.stalled_total}
