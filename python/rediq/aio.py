"""The asyncio client: ``AsyncClient``, ``AsyncQueue`` and ``AsyncJob``.

The same methods, names and behaviour as the sync client, over the very same Lua
scripts: argument building, validation and reply parsing come from ``commands`` (the
sans-I/O core); this module only awaits the I/O.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Iterable, Sequence

import redis
import redis.asyncio as aredis

from . import commands as C
from ._connect import connect_async
from ._lost_claims import NOT_FOUND, RELEASED, build_leased_for, build_release_of_lost, lease_token
from ._options import FAILURES, connection_options
from ._scripts import SCRIPTS, check_replicas, map_response_error
from .client import SLOT_MOVING_RETRY, check_bytes_replies, slot_moving
from .errors import JobTimeout, RedisUnavailable
from .job import _UNSET, JobInfo, outcome, parse_job_info, result_poll_delays
from .keys import QueueKeys, validate_queue_name

__all__ = ["AsyncClient", "AsyncQueue", "AsyncJob"]

log = logging.getLogger("rediq")


class AsyncClient:
    """An asyncio connection to Redis plus the key prefix of its queues.

    Args:
        redis_client: a ``redis.asyncio.Redis`` with ``decode_responses=False``.
        prefix: key prefix; queue keys are ``{prefix:queue}:...``.
        max_payload: largest encoded payload accepted by enqueue, in bytes.
        wait_replicas, wait_timeout: as :class:`rediq.Client` (WAIT after each enqueue call).
    """

    def __init__(self, redis_client: aredis.Redis, *, prefix: str = "rediq",
                 max_payload: int = C.DEFAULT_MAX_PAYLOAD, wait_replicas: int = 0,
                 wait_timeout: float = 1.0) -> None:
        check_bytes_replies(redis_client)
        self.redis = redis_client
        self.prefix = validate_queue_name(prefix, "key prefix")
        self.max_payload = max_payload
        self.wait_replicas, self.wait_timeout_ms = C.check_wait_option(
            redis_client, wait_replicas, wait_timeout)
        self._queues: dict[str, AsyncQueue] = {}

    @classmethod
    def from_url(cls, url: str, *, prefix: str = "rediq", max_payload: int = C.DEFAULT_MAX_PAYLOAD,
                 wait_replicas: int = 0, wait_timeout: float = 1.0, **redis_kwargs: Any) -> AsyncClient:
        """Connect to the URLs :meth:`rediq.Client.from_url` takes (plain, cluster, sentinel)."""
        options = connection_options(url, asyncio=True) | redis_kwargs
        options["decode_responses"] = False
        return cls(connect_async(url, options), prefix=prefix, max_payload=max_payload,
                   wait_replicas=wait_replicas, wait_timeout=wait_timeout)

    def queue(self, name: str) -> AsyncQueue:
        """Return the handle of queue ``name``."""
        q = self._queues.get(name)
        if q is None:
            q = self._queues[name] = AsyncQueue(self, name)
        return q

    async def run(self, call: C.Call, replicated: bool = False) -> Any:
        """Run one script call (EVALSHA; on NOSCRIPT, EVAL). Raises RedisUnavailable.

        With ``replicated`` and ``wait_replicas`` set, WAIT for the replicas after it.
        A call refused while its cluster slot migrates is repeated, and a claim repeated
        after a connection error hands back what its first run leased, as by the sync client."""
        token = lease_token(call)
        if token is None:
            return await self._run(call, replicated)
        failures = FAILURES.get()
        reply = await self._run(call, replicated)
        if FAILURES.get() != failures:   # repeated after a connection error
            try:
                leased = await self._run(build_leased_for(call), False)
                release = build_release_of_lost(call, reply, leased)
                if release is not None:
                    await self._run(release[0], False)
                    log.warning(RELEASED, release[1])
            except (redis.RedisError, RedisUnavailable) as exc:
                log.warning(NOT_FOUND, exc)
        return reply

    async def _run(self, call: C.Call, replicated: bool) -> Any:
        deadline, delay = 0.0, 0.02
        while True:
            try:
                return await self._run_once(call, replicated)
            except redis.RedisError as exc:
                now = time.monotonic()
                deadline = deadline or now + SLOT_MOVING_RETRY
                if not slot_moving(exc) or now >= deadline:
                    raise
                await asyncio.sleep(min(delay, deadline - now))
                delay = min(delay * 2, 0.5)

    async def _run_once(self, call: C.Call, replicated: bool) -> Any:
        script = SCRIPTS[call.script]
        try:
            if replicated and self.wait_replicas:
                return await self._run_replicated(call)
            try:
                return await self.redis.evalsha(script.sha, script.nkeys, *call.keys, *call.args)
            except redis.exceptions.NoScriptError:
                # as the sync client: EVAL runs it and caches it in one step, so a SCRIPT
                # FLUSH between a SCRIPT LOAD and a retried EVALSHA cannot fail the call
                return await self.redis.eval(script.source, script.nkeys, *call.keys, *call.args)
        except redis.ResponseError as exc:
            raise map_response_error(exc) from None
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise RedisUnavailable(f"Redis unreachable after retries: {exc}") from exc

    async def _run_replicated(self, call: C.Call) -> Any:
        script = SCRIPTS[call.script]
        for use_sha in (True, False):
            pipe = self.redis.pipeline(transaction=False)
            if use_sha:
                pipe.evalsha(script.sha, script.nkeys, *call.keys, *call.args)
            else:
                pipe.eval(script.source, script.nkeys, *call.keys, *call.args)
            pipe.execute_command("WAIT", self.wait_replicas, self.wait_timeout_ms)
            reply, acked = await pipe.execute(raise_on_error=False)
            if use_sha and isinstance(reply, redis.exceptions.NoScriptError):
                continue
            if isinstance(reply, Exception):
                raise reply
            check_replicas(acked, self.wait_replicas, self.wait_timeout_ms)
            return reply
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.redis.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class AsyncQueue:
    """One queue, asyncio flavour. Methods name the Lua script they run."""

    def __init__(self, client: AsyncClient, name: str) -> None:
        self.client = client
        self.keys = QueueKeys.of(name, client.prefix)
        self.name = name

    def __repr__(self) -> str:
        return f"<AsyncQueue {self.name!r}>"

    async def enqueue(self, runs: str, data: Any = None, *, job_id: str | None = None,
                      delay: float | None = None, priority: int = 0, attempts: int = 1,
                      backoff: Any = None, timeout: float | None = None) -> AsyncJob:
        """Enqueue one job (enqueue-5); the options are those of :meth:`rediq.Queue.enqueue`."""
        spec = C.make_job_spec(runs, data, job_id=job_id, delay=delay, priority=priority,
                               attempts=attempts, backoff=backoff, timeout=timeout,
                               max_payload=self.client.max_payload)
        existed = C.parse_enqueue(await self.client.run(C.build_enqueue(self.keys, [spec]), True))
        return AsyncJob(self, spec.id, existed[0])

    async def enqueue_many(self, jobs: Iterable[Sequence[Any]], **options: Any) -> list[AsyncJob]:
        """Enqueue many jobs, 1000 per script call (enqueue-5)."""
        out: list[AsyncJob] = []
        for chunk in C.spec_chunks(jobs, options, self.client.max_payload):
            existed = C.parse_enqueue(await self.client.run(C.build_enqueue(self.keys, chunk), True))
            out += [AsyncJob(self, s.id, e) for s, e in zip(chunk, existed)]
        return out

    async def get(self, job_id: str) -> JobInfo:
        """Return a snapshot of job ``job_id`` (HGETALL). Raises JobNotFound."""
        return parse_job_info(self.name, job_id, await self.client.redis.hgetall(self.keys.job(job_id)))

    def job(self, job_id: str) -> AsyncJob:
        """Return a handle on a job known by id (no round trip)."""
        return AsyncJob(self, job_id)

    async def counts(self) -> dict[str, int]:
        """Return the per-state counts (counts-7)."""
        return C.parse_counts(await self.client.run(C.build_counts(self.keys)))

    async def pause(self) -> None:
        """Stop every worker from claiming jobs of this queue (pause-2)."""
        await self.client.run(C.build_pause(self.keys, True))

    async def resume(self) -> None:
        """Let workers claim again and wake them (pause-2)."""
        await self.client.run(C.build_pause(self.keys, False))

    async def configure(self, settings: dict[str, str]) -> dict[str, str]:
        """Store queue-wide settings; return {field: old value} of those changed (configure-1)."""
        return C.parse_configure(await self.client.run(C.build_configure(self.keys, settings)))

    async def retry_failed(self, ids: Sequence[str] | None = None) -> int:
        """Move failed jobs (all, or ``ids``) back to waiting; return how many (retry_failed-5)."""
        moved = 0
        while True:
            reply = await self.client.run(C.build_retry_failed(self.keys, list(ids or ())))
            step, more = C.parse_retry_failed(reply, bool(ids))
            moved += step
            if not more:
                return moved

    async def remove(self, job_id: str, force: bool = False) -> bool:
        """Delete a job; an active one only with ``force`` (remove-6)."""
        return C.parse_remove(await self.client.run(C.build_remove(self.keys, job_id, force)), job_id)

    async def obliterate(self, force: bool = False) -> None:
        """Delete the queue and all its jobs, in chunks (obliterate-9)."""
        while C.parse_obliterate(await self.client.run(C.build_obliterate(self.keys, force)), self.name):
            pass


class AsyncJob:
    """A handle on an enqueued job (``existed``: enqueue found it already stored)."""

    __slots__ = ("id", "queue", "existed", "_queue")

    def __init__(self, queue: AsyncQueue, job_id: str, existed: bool = False) -> None:
        self._queue = queue
        self.queue = queue.name
        self.id = job_id
        self.existed = existed

    def __repr__(self) -> str:
        return f"<AsyncJob {self.id} queue={self.queue!r}{' existed' if self.existed else ''}>"

    async def info(self) -> JobInfo:
        """Return the job's current record."""
        return await self._queue.get(self.id)

    async def result(self, timeout: float | None = 10.0) -> Any:
        """Wait for the job to finish and return its result (polls with back-off).

        Raises:
            JobFailed, JobTimeout, JobNotFound: as :meth:`rediq.Job.result`.
        """
        for delay in result_poll_delays(timeout):
            value = outcome(await self.info())
            if value is not _UNSET:
                return value
            await asyncio.sleep(delay)
        value = outcome(await self.info())
        if value is not _UNSET:
            return value
        raise JobTimeout(f"job {self.id} did not finish within {timeout} s")
