"""The worker: one claim loop serving many queues, handlers on threads.

Per queue: claim only for free slots (no prefetch), finish a batch of jobs and claim
the next ones in one script call, renew every lease in one call per queue from a
keeper thread, and block on the queues' wake keys (a separate thread and connection)
when there is nothing to claim.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import itertools
import logging
import os
import queue
import random
import signal
import socket
import threading
import time
import traceback
import uuid
from typing import Any, Callable, Mapping, Sequence

import redis

from . import codec
from . import commands as C
from ._asyncio_side import AsyncSide
from ._pool import ThreadPool
from ._waiter import MAX_BLOCK, Waiter, wait_connection, wait_group
from .client import Client
from .config import QueueConfig
from .context import AsyncJobContext, JobContext
from .errors import Code, DecodeError, EncodeError, RediqError

__all__ = ["Worker"]

log = logging.getLogger("rediq.worker")
ERROR_LIMIT = 4000


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


def _is_async_handler(fn: Callable[..., Any]) -> bool:
    """True for ``async def`` functions, objects with ``async def __call__`` and
    ``functools.wraps`` wrappers of either."""
    fn = inspect.unwrap(fn)
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(getattr(fn, "__call__", None))


class _Run:
    __slots__ = ("job", "token", "deadline", "timed_out", "lost")

    def __init__(self, job: C.Claimed, token: str, deadline: float | None) -> None:
        self.job, self.token, self.deadline = job, token, deadline
        self.timed_out = self.lost = False


class _QueueState:
    """Claim-loop bookkeeping for one queue (touched by the loop thread only)."""

    def __init__(self, client: Client, name: str, config: QueueConfig) -> None:
        self.q = client.queue(name)
        self.config = config
        # keyed by (job id, token): a timed-out run whose thread is still busy and the
        # retry of the same job on this worker are two runs, each holding a slot
        self.running: dict[tuple[str, str], _Run] = {}
        self.done: list[tuple[str, str, bytes]] = []
        self.failed: list[tuple[_Run, str, bool]] = []
        self.ready = True          # worth claiming now
        self.retry_at = 0.0        # monotonic time a claim may succeed again

    @property
    def free(self) -> int:
        return self.config.concurrency - len(self.running)


class Worker:
    """Run registered handlers for jobs of the given queues.

    Args:
        client: a sync :class:`rediq.Client`.
        handlers: {name: callable(job) -> result}; only these ever run.
        queues: {name: QueueConfig}, or a list of names (default config).
        grace: seconds running jobs may finish after a stop before they are handed back.
        name: the worker's id in logs and lease tokens (default host:pid:random). Tokens
            also carry a random part of their own, so workers given the same name
            (replicas, a restart) never issue the same token.
    """

    def __init__(self, client: Client, handlers: Mapping[str, Callable[..., Any]],
                 queues: Mapping[str, QueueConfig] | Sequence[str], *, grace: float = 30.0,
                 name: str | None = None) -> None:
        if not isinstance(client, Client):
            raise TypeError(f"client must be a rediq.Client, not {type(client).__name__}")
        if not isinstance(handlers, Mapping) or not handlers:
            raise TypeError("handlers must be a non-empty dict of {name: callable}")
        for hname, fn in handlers.items():
            if not isinstance(hname, str) or not callable(fn):
                raise TypeError(f"handler {hname!r} must be a callable registered under a str name")
        if not isinstance(queues, Mapping):
            queues = {q: QueueConfig() for q in queues}
        if not queues:
            raise ValueError("a worker needs at least one queue")
        for qname, cfg in queues.items():
            if not isinstance(cfg, QueueConfig):
                raise TypeError(f"queue {qname!r}: config must be a rediq.QueueConfig, "
                                f"not {type(cfg).__name__}")
        self.client = client
        self.handlers = dict(handlers)
        self.grace = grace
        self.id = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._queues = [_QueueState(client, n, c) for n, c in queues.items()]
        self._by_wake = {qs.q.keys.wake: qs for qs in self._queues}
        self._events: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._tokens = itertools.count(1)
        self._token_prefix = f"{self.id}:{uuid.uuid4().hex[:8]}"
        self._stopping = threading.Event()
        self._stop_deadline = float("inf")
        self._lock = threading.Lock()   # guards every QueueState.running for the keeper
        self._is_async = {n: _is_async_handler(fn) for n, fn in self.handlers.items()}
        self._loop_given: asyncio.AbstractEventLoop | None = None
        self._async: AsyncSide | None = None
        self._task: asyncio.Future[None] | None = None
        self.processed = 0

    # -- public ---------------------------------------------------------------------------
    def stop(self, grace: float | None = None) -> None:
        """Stop gracefully: claim no more, let running jobs finish for ``grace`` seconds,
        then hand the rest back. Safe from any thread or a handler; a second call
        hands everything back at once."""
        grace = self.grace if grace is None else grace
        if self._stopping.is_set():
            grace = 0.0
        self._stop_deadline = min(self._stop_deadline, time.monotonic() + grace)
        self._stopping.set()
        self._events.put(("stop", None))

    def run(self) -> None:
        """Run until stopped (SIGTERM/SIGINT when run in the main thread, or :meth:`stop`)."""
        restore = self._install_signals()
        try:
            self._run()
        finally:
            for sig, old in restore.items():
                signal.signal(sig, old)

    async def run_async(self) -> None:
        """Run until stopped, embedded in the running event loop: async handlers run on
        this loop, the claim loop and sync handlers on threads. Cancelling it stops the
        worker gracefully."""
        self._loop_given = asyncio.get_running_loop()
        fut = asyncio.ensure_future(asyncio.to_thread(self._run))
        try:
            await asyncio.shield(fut)
        except asyncio.CancelledError:
            self.stop()
            await fut
            raise

    async def __aenter__(self) -> Worker:
        self._task = asyncio.ensure_future(self.run_async())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop()
        if self._task is not None:
            await self._task

    # -- setup ----------------------------------------------------------------------------
    def _install_signals(self) -> dict[int, Any]:
        if threading.current_thread() is not threading.main_thread():
            return {}
        old: dict[int, Any] = {}
        for sig in (signal.SIGTERM, signal.SIGINT):
            old[sig] = signal.signal(sig, lambda *_: self.stop())
        return old

    def _setup(self) -> None:
        pool: Any = getattr(self.client.redis, "connection_pool", None)   # none on a cluster client
        need = sum(qs.config.concurrency for qs in self._queues) + 8
        if getattr(pool, "max_connections", None) is not None and pool.max_connections < need:
            pool.max_connections = need
        for qs in self._queues:
            wanted = qs.config.meta_settings()
            changed = qs.q.configure(wanted)
            if changed:   # INFO when another worker had set other values; first use is DEBUG
                level = logging.INFO if any(changed.values()) else logging.DEBUG
                log.log(level, "rediq: queue %r settings updated by this worker: %s", qs.q.name,
                        ", ".join(f"{k} {v or 'unset'} -> {wanted[k] or 'unset'}"
                                  for k, v in changed.items()))
        log.info("rediq worker %s: queues %s, codec %s", self.id,
                 ", ".join(f"{qs.q.name}(x{qs.config.concurrency})" for qs in self._queues),
                 codec.IMPLEMENTATION)

    def _run(self) -> None:
        self._setup()
        self._pool = ThreadPool(sum(qs.config.concurrency for qs in self._queues))
        r = self.client.redis
        groups: dict[int, list[_QueueState]] = {}
        for qs in self._queues:
            groups.setdefault(wait_group(r, qs.q.keys.wake), []).append(qs)
        self._waiters = [
            (Waiter(functools.partial(wait_connection, r, members[0].q.keys.wake), self._events), members)
            for members in groups.values()]
        if any(self._is_async.values()):
            self._async_side()
        self._loop_done = threading.Event()
        keeper = threading.Thread(target=self._keep, name="rediq-keeper", daemon=True)
        keeper.start()
        try:
            self._loop()
        finally:
            self._stopping.set()
            self._loop_done.set()
            for waiter, _ in self._waiters:
                waiter.close()
            self._pool.shutdown()
            if self._async is not None:
                self._async.close()
            keeper.join(2)

    # -- the claim loop -------------------------------------------------------------------
    def _loop(self) -> None:
        backoff = 0.0
        while True:
            timeout = self._next_timeout() if backoff == 0 else backoff
            try:
                first = self._events.get(timeout=timeout) if timeout > 0 else self._events.get_nowait()
                self._handle(first)
            except queue.Empty:
                pass
            while True:
                try:
                    self._handle(self._events.get_nowait())
                except queue.Empty:
                    break
            try:
                self._check_timeouts()
                for qs in self._queues:
                    self._sync(qs)
                backoff = 0.0
            except (redis.RedisError, RediqError) as exc:
                # also error replies (OOM, BUSY, a record another client broke): the
                # worker keeps running and retries rather than dying
                backoff = min(max(backoff * 2, 0.1), 2.0)
                log.warning("rediq: Redis call failed (%s: %s); retrying in %.1f s",
                            type(exc).__name__, exc, backoff)
                continue
            if self._stopping.is_set() and self._finish_stop():
                return
            self._wait_idle()

    def _handle(self, event: tuple[str, Any]) -> None:
        kind, value = event
        if kind == "done":
            qs, run, ok, payload, final = value
            with self._lock:
                qs.running.pop((run.job.id, run.token), None)
            if run.timed_out or run.lost:
                log.warning("rediq: job %s (%s) ended after its lease/timeout was gone; "
                            "its outcome is dropped", run.job.id, qs.q.name)
            elif ok:
                qs.done.append((run.job.id, run.token, payload))
            else:
                qs.failed.append((run, payload, final))
            qs.ready = True
        elif kind == "wake" and value is not None:
            qs = self._by_wake.get(value)
            if qs is not None:
                qs.ready = True
                try:
                    if qs.free <= 0 and self.client.redis.llen(value) == 0:
                        self.client.redis.rpush(value, "1")  # not ours to use: pass it on
                except redis.RedisError as exc:
                    log.warning("rediq: could not pass a wake-up on (%s)", exc)

    def _check_timeouts(self) -> None:
        now = time.monotonic()
        for qs in self._queues:
            for run in list(qs.running.values()):
                if run.deadline is not None and now >= run.deadline and not run.timed_out:
                    run.timed_out = True
                    secs = run.job.timeout_ms / 1000
                    self._fail(qs, run, f"TimeoutError: job timed out after {secs:g} s", False)

    def _sync(self, qs: _QueueState) -> None:
        while qs.failed:
            run, error, final = qs.failed[0]
            self._fail(qs, run, error, final)
            qs.failed.pop(0)
        want = 0 if self._stopping.is_set() else qs.free
        claim = want if want > 0 and (qs.ready or time.monotonic() >= qs.retry_at) else 0
        if not qs.done and not claim:
            return
        token = f"{self._token_prefix}:{next(self._tokens)}"
        lease = qs.config.lease_ms
        if qs.done:
            codes, res = C.parse_complete(self.client.run(
                C.build_complete(qs.q.keys, qs.done, claim, token, lease)))
            for (job_id, _, _), code in zip(qs.done, codes):
                if code in (Code.LEASE_LOST, Code.JOB_MISSING):
                    log.warning("rediq: completion of job %s refused (%s): its lease was lost",
                                job_id, Code(code).name)
            self.processed += len(qs.done)
            qs.done = []
        else:
            res = C.parse_claim(self.client.run(C.build_claim(qs.q.keys, claim, token, lease)))
        if claim:
            self._dispatch(qs, res, token)
            qs.ready = len(res.jobs) == claim
            qs.retry_at = time.monotonic() + res.next_ms / 1000 if res.next_ms >= 0 else float("inf")

    def _fail(self, qs: _QueueState, run: _Run, error: str, final: bool) -> None:
        call = C.build_fail(qs.q.keys, run.job.id, run.token, error[:ERROR_LIMIT], random.random(), final)
        res = C.parse_fail(self.client.run(call))
        if res.code in (Code.LEASE_LOST, Code.JOB_MISSING):
            log.warning("rediq: failure of job %s refused (%s)", run.job.id, Code(res.code).name)

    def _dispatch(self, qs: _QueueState, res: C.ClaimResult, token: str) -> None:
        now = time.monotonic()
        for job in res.jobs:
            is_async = self._is_async.get(job.runs, False)
            # async runs time out inside the event loop (the coroutine is cancelled)
            deadline = now + job.timeout_ms / 1000 if job.timeout_ms and not is_async else None
            run = _Run(job, token, deadline)
            with self._lock:
                qs.running[(job.id, token)] = run
            if is_async and self._async is not None:
                self._async.submit(self._execute_async(qs, run))
            else:
                self._pool.submit(self._execute, qs, run)

    def _next_timeout(self) -> float:
        now = time.monotonic()
        t = now + MAX_BLOCK
        for qs in self._queues:
            if qs.free > 0 and not self._stopping.is_set():
                t = min(t, qs.retry_at)
            for run in qs.running.values():
                if run.deadline is not None and not run.timed_out:
                    t = min(t, run.deadline)
        if self._stopping.is_set():
            t = min(t, self._stop_deadline)
        return max(t - now, 0.0)

    def _wait_idle(self) -> None:
        stopping = self._stopping.is_set()
        for waiter, members in self._waiters:   # one wait per server (per slot on a cluster)
            idle = [] if stopping else [qs for qs in members if qs.free > 0 and not qs.ready]
            keys = tuple(qs.q.keys.wake for qs in idle)
            deadline = min([qs.retry_at for qs in idle] + [time.monotonic() + MAX_BLOCK])
            waiter.want(keys, deadline if keys else 0.0)

    def _finish_stop(self) -> bool:
        if not any(qs.running or qs.done or qs.failed for qs in self._queues):
            log.info("rediq worker %s stopped (%d jobs processed)", self.id, self.processed)
            return True
        if time.monotonic() < self._stop_deadline:
            return False
        for qs in self._queues:
            with self._lock:
                held = [(r.job.id, r.token, True) for r in qs.running.values() if not r.timed_out]
                for r in qs.running.values():
                    r.lost = True
            if held:
                C.parse_codes(self.client.run(C.build_release(qs.q.keys, held)))
                log.warning("rediq: grace period over; handed back %d running job(s) of %r",
                            len(held), qs.q.name)
        return True

    # -- handler threads ------------------------------------------------------------------
    def _prepare(self, qs: _QueueState, run: _Run, client: Any = None) -> JobContext | str:
        """Return the handler's context, or the error that fails the job before it runs."""
        job = run.job
        if job.runs not in self.handlers:
            return (f"no handler registered for {job.runs!r} on worker {self.id} "
                    f"(registered: {', '.join(sorted(self.handlers))})")
        try:
            data = codec.decode(job.data)
        except DecodeError as exc:
            return f"payload cannot be decoded: {exc}"
        cls = JobContext if client is None else AsyncJobContext
        return cls(qs.q, job.id, job.runs, data, job.attempt,
                   job.timeout_ms / 1000 if job.timeout_ms else None, run.token, client)

    def _report(self, qs: _QueueState, run: _Run, result: Any = None,
                exc: BaseException | None = None) -> None:
        """Post a run's outcome to the claim loop (encoding the result here, off the loop)."""
        ok, payload = False, ""
        if exc is None:
            try:
                payload, ok = codec.encode(result), True
            except EncodeError as err:
                payload = f"result of handler {run.job.runs!r} cannot be encoded: {err}"
        else:
            trace = "".join(traceback.format_exception(exc)[-20:]).strip()
            payload = f"{type(exc).__name__}: {exc}\n{trace}"
        self._events.put(("done", (qs, run, ok, payload, False)))

    def _execute(self, qs: _QueueState, run: _Run) -> None:
        ctx = self._prepare(qs, run)
        if isinstance(ctx, str):
            self._events.put(("done", (qs, run, False, ctx, ctx.startswith("payload"))))
            return
        try:
            result = self.handlers[run.job.runs](ctx)
            if result is not None and inspect.isawaitable(result):   # a wrapper of an async handler
                result = asyncio.run_coroutine_threadsafe(_awaited(result), self._async_side().loop).result()
        except BaseException as exc:  # noqa: BLE001 - a broken job fails alone
            self._report(qs, run, exc=exc)
        else:
            self._report(qs, run, result)

    def _async_side(self) -> AsyncSide:
        with self._lock:
            if self._async is None:
                self._async = AsyncSide(self.client, self._loop_given)
            return self._async

    async def _execute_async(self, qs: _QueueState, run: _Run) -> None:
        ctx = self._prepare(qs, run, self._async_side().async_client())
        if isinstance(ctx, str):
            self._events.put(("done", (qs, run, False, ctx, ctx.startswith("payload"))))
            return
        try:
            coro = self.handlers[run.job.runs](ctx)
            if ctx.timeout is None:
                result = await coro
            else:
                try:
                    result = await asyncio.wait_for(coro, ctx.timeout)
                except asyncio.TimeoutError:
                    raise TimeoutError(f"job timed out after {ctx.timeout:g} s (cancelled)") from None
        except BaseException as exc:  # noqa: BLE001 - a broken job fails alone
            self._report(qs, run, exc=exc)
        else:
            self._report(qs, run, result)

    # -- keeper thread: leases, stall recovery, retention ---------------------------------
    def _keep(self) -> None:
        lease = min(qs.config.lease for qs in self._queues)
        keep = min([s for qs in self._queues for s in (qs.config.keep_completed, qs.config.keep_failed) if s]
                   or [120.0])
        trim_every = min(max(keep / 2, 0.1), 60.0)
        beat, recover_every = min(lease / 3, trim_every), lease / 2
        next_recover = next_trim = 0.0
        # runs until the claim loop has returned (everything finished or handed back),
        # so running jobs keep their leases through a stop's grace period, at the same pace
        while not self._loop_done.wait(beat):
            try:
                self._heartbeat()
                if time.monotonic() >= next_recover:
                    self._recover()
                    next_recover = time.monotonic() + recover_every
                if time.monotonic() >= next_trim:
                    for qs in self._queues:   # retention on queues that went quiet
                        self.client.run(C.build_trim(qs.q.keys))
                    next_trim = time.monotonic() + trim_every
            except (redis.RedisError, RediqError) as exc:
                log.warning("rediq: lease renewal failed (%s); retrying", exc)

    def _heartbeat(self) -> None:
        for qs in self._queues:
            with self._lock:
                held = {r.job.id: r for r in qs.running.values() if not (r.timed_out or r.lost)}
            if not held:
                continue
            call = C.build_heartbeat(qs.q.keys, qs.config.lease_ms, [(i, r.token) for i, r in held.items()])
            for job_id in C.parse_ids(self.client.run(call)):
                run = held[job_id]
                with self._lock:   # a run completed meanwhile is not lost, only finished
                    if qs.running.get((job_id, run.token)) is not run:
                        continue
                    run.lost = True
                log.warning("rediq: lease of job %s (%s) was lost; its outcome will be dropped",
                            job_id, qs.q.name)

    def _recover(self) -> None:
        for qs in self._queues:
            call = C.build_recover_stalled(qs.q.keys, 1000, qs.config.max_stalls)
            back, failed = C.parse_recover_stalled(self.client.run(call))
            if back or failed:
                log.warning("rediq: %r: %d stalled job(s) back to waiting, %d failed for stalling: %s",
                            qs.q.name, len(back), len(failed), ", ".join((back + failed)[:10]))
