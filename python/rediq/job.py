"""Job records and handles: what ``Queue.get`` returns, what ``enqueue`` returns."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import codec
from .errors import DecodeError, JobFailed, JobNotFound, JobTimeout

if TYPE_CHECKING:
    from .client import Queue

__all__ = ["Job", "JobInfo", "STATES", "parse_job_info", "result_poll_delays"]

STATES = ("waiting", "delayed", "active", "completed", "failed")
_UNSET: Any = object()


def _int(raw: dict[bytes, bytes], name: str) -> int:
    value = raw.get(name.encode())
    try:
        return int(value) if value is not None else 0
    except ValueError:
        return 0


def _ms(raw: dict[bytes, bytes], name: str) -> float | None:
    value = _int(raw, name)
    return value / 1000.0 if value else None


def _str(raw: dict[bytes, bytes], name: str) -> str | None:
    value = raw.get(name.encode())
    return None if value is None else value.decode("utf-8", "replace")


@dataclass(slots=True)
class JobInfo:
    """A snapshot of one job record (times in seconds since the epoch, server clock).

    ``data``, ``result`` and ``progress`` are decoded on access; a record written by
    another client with an undecodable payload raises :class:`DecodeError` naming the
    job there, and nothing else about the snapshot is lost.
    """

    id: str
    queue: str
    state: str
    runs: str
    attempts: int
    attempts_made: int
    failures: int
    stalls: int
    priority: int
    created_at: float | None
    started_at: float | None
    finished_at: float | None
    run_at: float | None
    error: str | None
    raw_data: bytes | None = field(repr=False)
    raw_result: bytes | None = field(repr=False)
    raw_progress: bytes | None = field(repr=False)

    def _decode(self, raw: bytes | None, what: str) -> Any:
        if raw is None:
            return None
        try:
            return codec.decode(raw)
        except DecodeError as exc:
            raise DecodeError(f"job {self.id} in queue {self.queue!r}: {what} cannot be decoded: {exc}") from None

    @property
    def data(self) -> Any:
        """The decoded payload."""
        return self._decode(self.raw_data, "payload")

    @property
    def result(self) -> Any:
        """The decoded handler result (None until completed)."""
        return self._decode(self.raw_result, "result")

    @property
    def progress(self) -> Any:
        """The last progress value the handler reported, decoded."""
        return self._decode(self.raw_progress, "progress")


def parse_job_info(queue: str, job_id: str, raw: dict[Any, Any]) -> JobInfo:
    """Build a :class:`JobInfo` from an HGETALL reply; tolerate fields other clients mangled.

    Raises:
        JobNotFound: the record does not exist.
    """
    if not raw:
        raise JobNotFound(f"no job {job_id} in queue {queue!r}")
    state = _str(raw, "state") or "unknown"
    return JobInfo(
        id=job_id, queue=queue, state=state, runs=_str(raw, "runs") or "",
        attempts=_int(raw, "attempts") or 1, attempts_made=_int(raw, "attempts_made"),
        failures=_int(raw, "failures"), stalls=_int(raw, "stalls"), priority=_int(raw, "priority"),
        created_at=_ms(raw, "created_ms"), started_at=_ms(raw, "started_ms"),
        finished_at=_ms(raw, "finished_ms"), run_at=_ms(raw, "run_at_ms"),
        error=_str(raw, "error"), raw_data=raw.get(b"data"), raw_result=raw.get(b"result"),
        raw_progress=raw.get(b"progress"),
    )


def result_poll_delays(timeout: float | None) -> Any:
    """Yield poll delays (seconds): 1 ms doubling to 200 ms, until ``timeout`` runs out."""
    deadline = None if timeout is None else time.monotonic() + timeout
    delay = 0.001
    while True:
        if deadline is None:
            yield delay
        else:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            yield min(delay, left)
        delay = min(delay * 2, 0.2)


def outcome(info: JobInfo) -> Any:
    """Return the job's result if completed; raise :class:`JobFailed` if failed; else _UNSET."""
    if info.state == "completed":
        return info.result
    if info.state == "failed":
        raise JobFailed(info.id, info.error or "unknown error")
    return _UNSET


class Job:
    """A handle on an enqueued job.

    Attributes:
        id: the job id.
        queue: the queue's name.
        existed: True when enqueue found a job with this id already stored (nothing changed).
    """

    __slots__ = ("id", "queue", "existed", "_queue")

    def __init__(self, queue: Queue, job_id: str, existed: bool = False) -> None:
        self._queue = queue
        self.queue = queue.name
        self.id = job_id
        self.existed = existed

    def __repr__(self) -> str:
        return f"<Job {self.id} queue={self.queue!r}{' existed' if self.existed else ''}>"

    def info(self) -> JobInfo:
        """Return the job's current record (HGETALL of its hash)."""
        return self._queue.get(self.id)

    def result(self, timeout: float | None = 10.0) -> Any:
        """Wait for the job to finish and return its result (polls with back-off).

        Raises:
            JobFailed: the job ended in the failed set.
            JobTimeout: it did not finish within ``timeout`` seconds.
            JobNotFound: the job is not stored (removed, or past retention).
        """
        for delay in result_poll_delays(timeout):
            value = outcome(self.info())
            if value is not _UNSET:
                return value
            time.sleep(delay)
        value = outcome(self.info())
        if value is not _UNSET:
            return value
        raise JobTimeout(f"job {self.id} did not finish within {timeout} s")
