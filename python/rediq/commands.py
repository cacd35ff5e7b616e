"""Sans-I/O core: for each Lua script a pure ``build_<op>`` and ``parse_<op>``.

``build_*`` validates arguments and returns a :class:`Call` (script, KEYS, ARGV);
``parse_*`` turns the raw reply into typed results. The sync and asyncio clients only
run the call. Durations here are already milliseconds; ``now`` is the documented clock
override (tests only; ``None`` means the server clock).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, NamedTuple, Sequence

from . import codec
from .config import Backoff, seconds_to_ms
from .errors import Code, EncodeError
from .keys import QueueKeys

__all__ = [
    "Call", "ClaimResult", "Claimed", "FailResult", "JobSpec", "make_job_spec", "new_job_id",
    "build_enqueue", "parse_enqueue", "build_claim", "parse_claim", "build_complete",
    "parse_complete", "build_fail", "parse_fail", "build_heartbeat", "parse_ids",
    "build_recover_stalled", "parse_recover_stalled", "build_release", "build_pause",
    "build_configure", "parse_configure", "build_counts", "parse_counts", "build_retry_failed",
    "build_remove", "build_obliterate", "build_progress", "parse_codes", "spec_chunks",
    "parse_retry_failed", "build_trim", "check_wait_option", "parse_remove", "parse_obliterate",
    "build_leased",
]

ENQUEUE_CHUNK = 1000
MAX_PRIORITY = 2**20
MAX_ID = 256
DEFAULT_MAX_PAYLOAD = 1 << 20


class Call(NamedTuple):
    """One script invocation: dist file stem (``claim-7``), KEYS and ARGV."""

    script: str
    keys: list[str]
    args: list[Any]


class JobSpec(NamedTuple):
    """A validated job, ready for the enqueue script's ARGV."""

    id: str
    runs: str
    data: bytes
    priority: int
    attempts: int
    backoff: str
    timeout_ms: int
    delay_ms: int


@dataclass(slots=True)
class Claimed:
    """One job of a claim reply: everything a worker needs to run it."""

    id: str
    runs: str
    data: bytes
    attempt: int
    timeout_ms: int


@dataclass(slots=True)
class ClaimResult:
    """A claim reply: status code, ms until a new claim may succeed (-1 unknown), jobs."""

    status: int
    next_ms: int
    jobs: list[Claimed]


class FailResult(NamedTuple):
    """A fail reply: code, the job's new state, retry delay in ms."""

    code: int
    state: str
    delay_ms: int


def _now(now: int | None) -> str:
    return "" if now is None else str(int(now))


def new_job_id() -> str:
    """Return a fresh random job id (client side, so a retried enqueue is idempotent)."""
    return uuid.uuid4().hex


def _text(value: object, what: str, limit: int) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, not {type(value).__name__}")
    if not value or len(value) > limit:
        raise ValueError(f"{what} must be 1 to {limit} characters, not {len(value)}")
    return value


def make_job_spec(
    runs: object, data: object, *, job_id: object = None, delay: object = None,
    priority: object = 0, attempts: object = 1, backoff: object = None, timeout: object = None,
    max_payload: int = DEFAULT_MAX_PAYLOAD,
) -> JobSpec:
    """Validate one job's arguments and encode its payload.

    Raises:
        TypeError / ValueError: an option of the wrong type or out of range (named).
        EncodeError: the payload cannot be encoded, or is larger than ``max_payload``.
    """
    _text(runs, "handler name (runs)", 200)
    jid = new_job_id() if job_id is None else _text(job_id, "job_id", MAX_ID)
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise TypeError(f"priority must be an int, not {type(priority).__name__}")
    if not -MAX_PRIORITY <= priority <= MAX_PRIORITY:
        raise ValueError(f"priority must be from {-MAX_PRIORITY} to {MAX_PRIORITY}, not {priority}")
    if isinstance(attempts, bool) or not isinstance(attempts, int):
        raise TypeError(f"attempts must be an int, not {type(attempts).__name__}")
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, not {attempts}")
    if backoff is None:
        spec = ""
    elif isinstance(backoff, Backoff):
        spec = backoff.spec()
    elif isinstance(backoff, (int, float)) and not isinstance(backoff, bool):
        spec = Backoff.fixed(backoff).spec()
    else:
        raise TypeError(f"backoff must be a rediq.Backoff, a number of seconds or None, "
                        f"not {type(backoff).__name__}")
    timeout_ms = 0 if timeout is None else seconds_to_ms(timeout, "timeout", allow_zero=False)
    delay_ms = 0 if delay is None else seconds_to_ms(delay, "delay")
    try:
        payload = codec.encode(data)
    except EncodeError as exc:
        raise EncodeError(f"payload of job {jid} ({runs}) cannot be encoded: {exc}") from None
    if len(payload) > max_payload:
        raise EncodeError(f"payload of job {jid} ({runs}) is {len(payload)} bytes encoded; "
                          f"the limit is {max_payload} (Client(max_payload=...))")
    return JobSpec(jid, runs, payload, priority, attempts, spec, timeout_ms, delay_ms)  # type: ignore[arg-type]


def spec_chunks(items: Iterable[Sequence[Any]], defaults: dict[str, Any], max_payload: int,
                size: int = ENQUEUE_CHUNK) -> Iterator[list[JobSpec]]:
    """Validate ``(runs, data)`` / ``(runs, data, options)`` items; yield lists of ``size`` specs.

    Every item is validated before the first chunk is yielded, so a bad item stores nothing.
    """
    specs = []
    for item in items:
        if not isinstance(item, (tuple, list)) or len(item) not in (2, 3):
            raise TypeError(f"enqueue_many items must be (runs, data) or (runs, data, options), "
                            f"not {item!r:.80}")
        options = defaults | (item[2] if len(item) == 3 else {})
        specs.append(make_job_spec(item[0], item[1], max_payload=max_payload, **options))
    for i in range(0, len(specs), size):
        yield specs[i:i + size]


def check_wait_option(r: Any, replicas: object, timeout: object) -> tuple[int, int]:
    """Validate ``wait_replicas``/``wait_timeout``; return (replicas, timeout in ms).

    Raises:
        TypeError / ValueError: wrong types or ranges; a cluster client with replicas > 0.
    """
    if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 0:
        raise TypeError(f"wait_replicas must be an int >= 0, not {replicas!r}")
    timeout_ms = seconds_to_ms(timeout, "wait_timeout")
    if replicas and type(r).__name__ == "RedisCluster":
        raise ValueError("wait_replicas is not supported on Redis Cluster clients")
    return replicas, timeout_ms


def build_enqueue(k: QueueKeys, jobs: Sequence[JobSpec], now: int | None = None) -> Call:
    """Enqueue ``jobs`` in one call (enqueue-5)."""
    args: list[Any] = [_now(now), len(jobs)]
    for j in jobs:
        args += [j.id, j.runs, j.data, j.priority, j.attempts, j.backoff, j.timeout_ms, j.delay_ms]
    return Call("enqueue-5", [k.meta, k.wait, k.prio, k.delayed, k.wake], args)


def parse_enqueue(reply: Sequence[int]) -> list[bool]:
    """Return, per job, whether it already existed."""
    return [int(c) == Code.JOB_EXISTS for c in reply]


def _claim_keys(k: QueueKeys) -> list[str]:
    return [k.meta, k.wait, k.prio, k.delayed, k.active, k.wake, k.limit]


def build_claim(k: QueueKeys, max_jobs: int, token: str, lease_ms: int, now: int | None = None) -> Call:
    """Claim up to ``max_jobs`` jobs under lease ``token`` (claim-7)."""
    return Call("claim-7", _claim_keys(k), [_now(now), max_jobs, token, lease_ms])


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def parse_claim(reply: Sequence[Any]) -> ClaimResult:
    """Turn a claim reply into a :class:`ClaimResult`."""
    jobs = [
        Claimed(_s(reply[i]), _s(reply[i + 1]), reply[i + 2], int(reply[i + 3]), int(reply[i + 4]))
        for i in range(2, len(reply), 5)
    ]
    return ClaimResult(int(reply[0]), int(reply[1]), jobs)


def build_complete(
    k: QueueKeys, done: Sequence[tuple[str, str, bytes]], max_jobs: int, token: str,
    lease_ms: int, now: int | None = None,
) -> Call:
    """Complete ``done`` (id, token, encoded result) and claim up to ``max_jobs`` (complete-8)."""
    args: list[Any] = [_now(now), max_jobs, token, lease_ms]
    for item in done:
        args += item
    return Call("complete-8", _claim_keys(k) + [k.completed], args)


def parse_complete(reply: Sequence[Any]) -> tuple[list[int], ClaimResult]:
    """Return the per-job codes and the claim part of a complete reply."""
    return [int(c) for c in reply[0]], parse_claim(reply[1])


def build_fail(
    k: QueueKeys, job_id: str, token: str, error: str, rand: float, final: bool = False,
    now: int | None = None,
) -> Call:
    """Record a failed run of one job (fail-7)."""
    return Call("fail-7", [k.meta, k.wait, k.prio, k.delayed, k.active, k.wake, k.failed],
                [_now(now), job_id, token, error, repr(float(rand)), "1" if final else "0"])


def parse_fail(reply: Sequence[Any]) -> FailResult:
    """Turn a fail reply into a :class:`FailResult`."""
    return FailResult(int(reply[0]), _s(reply[1]), int(reply[2]))


def build_heartbeat(k: QueueKeys, lease_ms: int, held: Sequence[tuple[str, str]],
                    now: int | None = None) -> Call:
    """Extend the leases of ``held`` (id, token) pairs (heartbeat-1)."""
    args: list[Any] = [_now(now), lease_ms]
    for job_id, token in held:
        args += (job_id, token)
    return Call("heartbeat-1", [k.active], args)


def parse_ids(reply: Sequence[Any]) -> list[str]:
    """Decode a reply that is a list of job ids."""
    return [_s(x) for x in reply]


def build_recover_stalled(k: QueueKeys, limit: int, max_stalls: int, now: int | None = None) -> Call:
    """Recover up to ``limit`` expired leases (recover_stalled-6)."""
    return Call("recover_stalled-6", [k.meta, k.wait, k.prio, k.active, k.failed, k.wake],
                [_now(now), limit, max_stalls])


def parse_recover_stalled(reply: Sequence[Any]) -> tuple[list[str], list[str]]:
    """Return (ids back to waiting, ids failed for stalling too often)."""
    return parse_ids(reply[0]), parse_ids(reply[1])


def build_release(k: QueueKeys, items: Sequence[tuple[str, str, bool]]) -> Call:
    """Hand (id, token, started) jobs back to the head of waiting (release-5)."""
    args: list[Any] = [""]
    for job_id, token, started in items:
        args += (job_id, token, "1" if started else "0")
    return Call("release-5", [k.meta, k.wait, k.prio, k.active, k.wake], args)


def parse_codes(reply: Sequence[Any]) -> list[int]:
    """Decode a reply that is one code per job."""
    return [int(c) for c in reply]


def build_pause(k: QueueKeys, paused: bool) -> Call:
    """Pause or resume the queue (pause-2)."""
    return Call("pause-2", [k.meta, k.wake], ["1" if paused else "0"])


def build_configure(k: QueueKeys, settings: dict[str, str]) -> Call:
    """Store queue-wide settings in meta (configure-1)."""
    args: list[Any] = []
    for field, value in settings.items():
        args += (field, value)
    return Call("configure-1", [k.meta], args)


def parse_configure(reply: Sequence[Any]) -> dict[str, str]:
    """Return {field: old value} for every setting that changed."""
    return {_s(reply[i]): _s(reply[i + 1]) for i in range(0, len(reply), 2)}


def build_counts(k: QueueKeys) -> Call:
    """Snapshot the per-state counts (counts-7)."""
    return Call("counts-7", [k.meta, k.wait, k.prio, k.delayed, k.active, k.completed, k.failed], [])


def parse_counts(reply: Sequence[Any]) -> dict[str, int]:
    """Return the counts as a dict (waiting, delayed, active, completed, failed, paused, stalled)."""
    names = ("waiting", "delayed", "active", "completed", "failed", "paused", "stalled")
    return {n: int(v) for n, v in zip(names, reply)}


def build_retry_failed(k: QueueKeys, ids: Sequence[str] = (), limit: int = 1000) -> Call:
    """Move failed jobs back to waiting (retry_failed-5)."""
    return Call("retry_failed-5", [k.meta, k.wait, k.prio, k.failed, k.wake], [limit, *ids])


def parse_retry_failed(reply: Sequence[Any], given_ids: bool) -> tuple[int, bool]:
    """Return (jobs moved, whether to call again): without ids, until none are left."""
    moved = int(reply[0])
    return moved, not given_ids and moved > 0 and int(reply[1]) > 0


def build_remove(k: QueueKeys, job_id: str, force: bool = False) -> Call:
    """Delete one job (remove-6)."""
    return Call("remove-6", [k.wait, k.prio, k.delayed, k.active, k.completed, k.failed],
                [job_id, "1" if force else "0"])


def parse_remove(reply: Any, job_id: str) -> bool:
    """Return True if removed, False if no such job. Raises ValueError for an active job."""
    if int(reply) == Code.JOB_ACTIVE:
        raise ValueError(f"job {job_id} is active; remove(force=True) to remove it anyway")
    return int(reply) == Code.OK


def build_obliterate(k: QueueKeys, force: bool = False, chunk: int = 1000) -> Call:
    """Delete the queue, ``chunk`` jobs per call (obliterate-9)."""
    return Call("obliterate-9", [k.meta, k.wait, k.prio, k.delayed, k.active, k.completed,
                                 k.failed, k.wake, k.limit], ["1" if force else "0", chunk])


def parse_obliterate(reply: Sequence[Any], queue: str) -> bool:
    """Return True while jobs are left (call again). Raises ValueError if jobs are active."""
    code, more = int(reply[0]), int(reply[1])
    if code == Code.JOB_ACTIVE:
        raise ValueError(f"queue {queue!r} has {more} active jobs; obliterate(force=True) "
                         "to delete it anyway")
    return more == 1


def build_trim(k: QueueKeys, now: int | None = None) -> Call:
    """Apply completed/failed retention on a quiet queue (trim-3)."""
    return Call("trim-3", [k.meta, k.completed, k.failed], [_now(now)])


def build_leased(k: QueueKeys, token: str, limit: int, now: int | None = None) -> Call:
    """List the active jobs leased under ``token``, among ``limit`` live leases (leased-1)."""
    return Call("leased-1", [k.active], [_now(now), token, limit])


def build_progress(k: QueueKeys, job_id: str, token: str, value: bytes) -> Call:
    """Store a running job's progress (progress-1)."""
    return Call("progress-1", [k.active], [job_id, token, value])
