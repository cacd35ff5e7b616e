"""The sync client: ``Client`` (a connection and a key prefix) and ``Queue`` (one queue)."""

from __future__ import annotations

import logging
import time
from typing import Any, Iterable, Sequence

import redis

from . import commands as C
from ._connect import connect
from ._lost_claims import NOT_FOUND, RELEASED, build_leased_for, build_release_of_lost, lease_token
from ._options import FAILURES, connection_options
from ._scripts import run_call, run_call_replicated
from .errors import RedisUnavailable
from .job import Job, JobInfo, parse_job_info
from .keys import QueueKeys, validate_queue_name

__all__ = ["Client", "Queue", "connection_options", "slot_moving", "SLOT_MOVING_RETRY"]

log = logging.getLogger("rediq")

SLOT_MOVING_RETRY = 10.0   # seconds a call keeps retrying while its queue's slot migrates


def slot_moving(exc: BaseException) -> bool:
    """True for a Redis Cluster error meaning the script never ran because its queue's
    slot is being migrated: TRYAGAIN (some keys moved, some not), or redirections redis-py
    stopped following ("TTL exhausted"). Such a call is safe to repeat."""
    return isinstance(exc, redis.exceptions.TryAgainError) or (
        type(exc) is redis.exceptions.ClusterError and "TTL exhausted" in str(exc))


def check_bytes_replies(r: Any) -> None:
    """Refuse a redis-py client that decodes replies (payloads are binary)."""
    pool = getattr(r, "connection_pool", None)
    kwargs = getattr(pool, "connection_kwargs", None)
    if kwargs is None and hasattr(r, "get_connection_kwargs"):   # RedisCluster
        kwargs = r.get_connection_kwargs()
    kwargs = kwargs or {}
    if kwargs.get("decode_responses"):
        raise ValueError("rediq needs a redis client with decode_responses=False "
                         "(payloads are binary MessagePack)")


class Client:
    """A connection to Redis plus the key prefix under which queues live.

    Args:
        redis_client: a ``redis.Redis`` with ``decode_responses=False``.
        prefix: key prefix; queue keys are ``{prefix:queue}:...``.
        max_payload: largest encoded payload accepted by enqueue, in bytes.
        wait_replicas: after each enqueue call, WAIT until this many replicas have the
            write (0: do not wait); fewer within ``wait_timeout`` raises ReplicationTimeout.
        wait_timeout: seconds WAIT may take.
    """

    def __init__(self, redis_client: redis.Redis, *, prefix: str = "rediq",
                 max_payload: int = C.DEFAULT_MAX_PAYLOAD, wait_replicas: int = 0,
                 wait_timeout: float = 1.0) -> None:
        check_bytes_replies(redis_client)
        self.redis = redis_client
        self.prefix = validate_queue_name(prefix, "key prefix")
        self.max_payload = max_payload
        self.url: str | None = None   # set by from_url; lets a worker build its async twin
        self.wait_replicas, self.wait_timeout_ms = C.check_wait_option(
            redis_client, wait_replicas, wait_timeout)
        self._queues: dict[str, Queue] = {}

    @classmethod
    def from_url(cls, url: str, *, prefix: str = "rediq", max_payload: int = C.DEFAULT_MAX_PAYLOAD,
                 wait_replicas: int = 0, wait_timeout: float = 1.0, **redis_kwargs: Any) -> Client:
        """Connect to a URL: ``redis://``, ``rediss://``, ``unix://``, a Redis Cluster
        (``redis+cluster://h:p[,h:p...]``) or a Sentinel-managed master
        (``redis+sentinel://h:p[,h:p...]/service_name[?db=N&sentinel_password=...]``)."""
        options = connection_options(url) | redis_kwargs
        options["decode_responses"] = False
        client = cls(connect(url, options), prefix=prefix, max_payload=max_payload,
                     wait_replicas=wait_replicas, wait_timeout=wait_timeout)
        client.url = url
        return client

    def queue(self, name: str) -> Queue:
        """Return the handle of queue ``name`` (validated; created in Redis on first enqueue)."""
        q = self._queues.get(name)
        if q is None:
            q = self._queues[name] = Queue(self, name)
        return q

    def run(self, call: C.Call, replicated: bool = False) -> Any:
        """Run one script call (EVALSHA; NOSCRIPT reloads). Raises RedisUnavailable.

        With ``replicated`` and ``wait_replicas`` set, WAIT for the replicas after it.
        On a cluster, a call refused while its slot migrates is repeated for up to
        ``SLOT_MOVING_RETRY`` seconds (it never ran, so repeating it is safe). A claim
        repeated after a connection error hands back what its first run may have
        leased (leased-1, release-5)."""
        token = lease_token(call)
        if token is None:
            return self._run(call, replicated)
        failures = FAILURES.get()
        reply = self._run(call, replicated)
        if FAILURES.get() != failures:   # repeated after a connection error
            self._release_lost(call, reply)
        return reply

    def _release_lost(self, call: C.Call, reply: Any) -> None:
        """Hand back the jobs a repeated claim's first run leased (see ``_lost_claims``)."""
        try:
            release = build_release_of_lost(call, reply, self._run(build_leased_for(call), False))
            if release is not None:
                self._run(release[0], False)
                log.warning(RELEASED, release[1])
        except (redis.RedisError, RedisUnavailable) as exc:
            log.warning(NOT_FOUND, exc)

    def _run(self, call: C.Call, replicated: bool) -> Any:
        deadline, delay = 0.0, 0.02
        while True:
            try:
                if replicated and self.wait_replicas:
                    return run_call_replicated(self.redis, call, self.wait_replicas, self.wait_timeout_ms)
                return run_call(self.redis, call)
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                raise RedisUnavailable(f"Redis unreachable after retries: {exc}") from exc
            except redis.RedisError as exc:
                now = time.monotonic()
                deadline = deadline or now + SLOT_MOVING_RETRY
                if not slot_moving(exc) or now >= deadline:
                    raise
                time.sleep(min(delay, deadline - now))
                delay = min(delay * 2, 0.5)

    def close(self) -> None:
        """Close the connection pool."""
        self.redis.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Queue:
    """One queue. Methods name the Lua script they run."""

    def __init__(self, client: Client, name: str) -> None:
        self.client = client
        self.keys = QueueKeys.of(name, client.prefix)
        self.name = name

    def __repr__(self) -> str:
        return f"<Queue {self.name!r}>"

    def enqueue(self, runs: str, data: Any = None, *, job_id: str | None = None,
                delay: float | None = None, priority: int = 0, attempts: int = 1,
                backoff: Any = None, timeout: float | None = None) -> Job:
        """Enqueue one job to run handler ``runs`` with ``data`` (enqueue-5).

        Args:
            runs: the registered handler name.
            data: the payload (MessagePack-encodable).
            job_id: a known id makes the call idempotent: an existing job is returned
                with ``existed=True`` and left unchanged.
            delay: seconds before it may run.
            priority: higher runs first (0 default, FIFO among equals).
            attempts: runs that may end in failure before the job fails.
            backoff: ``rediq.Backoff`` or seconds (fixed) between failed runs.
            timeout: seconds a run may take before it counts as failed.

        Raises:
            EncodeError: payload not encodable or too large. TypeError/ValueError: bad option.
        """
        spec = C.make_job_spec(runs, data, job_id=job_id, delay=delay, priority=priority,
                               attempts=attempts, backoff=backoff, timeout=timeout,
                               max_payload=self.client.max_payload)
        existed = C.parse_enqueue(self.client.run(C.build_enqueue(self.keys, [spec]), True))
        return Job(self, spec.id, existed[0])

    def enqueue_many(self, jobs: Iterable[Sequence[Any]], **options: Any) -> list[Job]:
        """Enqueue many jobs, 1000 per script call (enqueue-5).

        Args:
            jobs: ``(runs, data)`` or ``(runs, data, {option: value})`` items; all are
                validated before anything is stored.
            **options: defaults for every job (the keyword options of :meth:`enqueue`).
        """
        out: list[Job] = []
        for chunk in C.spec_chunks(jobs, options, self.client.max_payload):
            existed = C.parse_enqueue(self.client.run(C.build_enqueue(self.keys, chunk), True))
            out += [Job(self, s.id, e) for s, e in zip(chunk, existed)]
        return out

    def get(self, job_id: str) -> JobInfo:
        """Return a snapshot of job ``job_id`` (HGETALL of its record).

        Raises:
            JobNotFound: no such job (never enqueued, removed or past retention).
        """
        return parse_job_info(self.name, job_id, self.client.redis.hgetall(self.keys.job(job_id)))

    def job(self, job_id: str) -> Job:
        """Return a handle on a job known by id (no round trip)."""
        return Job(self, job_id)

    def counts(self) -> dict[str, int]:
        """Return {waiting, delayed, active, completed, failed} (counts-7), plus paused, stalled."""
        return C.parse_counts(self.client.run(C.build_counts(self.keys)))

    def pause(self) -> None:
        """Stop every worker from claiming jobs of this queue (pause-2)."""
        self.client.run(C.build_pause(self.keys, True))

    def resume(self) -> None:
        """Let workers claim again and wake them (pause-2)."""
        self.client.run(C.build_pause(self.keys, False))

    def configure(self, settings: dict[str, str]) -> dict[str, str]:
        """Store queue-wide settings; return {field: old value} of those changed (configure-1)."""
        return C.parse_configure(self.client.run(C.build_configure(self.keys, settings)))

    def retry_failed(self, ids: Sequence[str] | None = None) -> int:
        """Move failed jobs (all, or ``ids``) back to waiting; return how many (retry_failed-5)."""
        moved = 0
        while True:
            reply = self.client.run(C.build_retry_failed(self.keys, list(ids or ())))
            step, more = C.parse_retry_failed(reply, bool(ids))
            moved += step
            if not more:
                return moved

    def remove(self, job_id: str, force: bool = False) -> bool:
        """Delete a job; an active one only with ``force`` (remove-6).

        Returns:
            True if removed, False if there was no such job.
        Raises:
            ValueError: the job is active and ``force`` is False.
        """
        return C.parse_remove(self.client.run(C.build_remove(self.keys, job_id, force)), job_id)

    def obliterate(self, force: bool = False) -> None:
        """Delete the queue and all its jobs, in chunks (obliterate-9).

        Raises:
            ValueError: jobs are active and ``force`` is False.
        """
        while C.parse_obliterate(self.client.run(C.build_obliterate(self.keys, force)), self.name):
            pass
