"""What a handler receives: the job's data and identity, progress reporting, a client."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import codec
from . import commands as C

if TYPE_CHECKING:
    from .client import Client, Queue

__all__ = ["AsyncJobContext", "JobContext"]


class JobContext:
    """The job a handler runs.

    Attributes:
        id: the job id.
        queue: the queue's name.
        runs: the handler name the job asked for.
        data: the decoded payload.
        attempt: this run's number, from 1 (a re-run after a failure or stall is the next).
        timeout: seconds this run may take (None: no limit).
        client: a client to enqueue more jobs (fan-out); an ``AsyncClient`` in async handlers.
    """

    __slots__ = ("id", "queue", "runs", "data", "attempt", "timeout", "client", "_token", "_queue")

    def __init__(self, queue: Queue, job_id: str, runs: str, data: Any, attempt: int,
                 timeout: float | None, token: str, client: Any = None) -> None:
        self._queue = queue
        self.queue = queue.name
        self.id = job_id
        self.runs = runs
        self.data = data
        self.attempt = attempt
        self.timeout = timeout
        self.client: Client = client if client is not None else queue.client
        self._token = token

    def __repr__(self) -> str:
        return f"<JobContext {self.id} queue={self.queue!r} runs={self.runs!r} attempt={self.attempt}>"

    def progress(self, value: Any) -> bool:
        """Store a progress value on the job record (progress-1).

        Returns:
            False when this run no longer holds the job's lease (its result will be dropped).
        """
        call = C.build_progress(self._queue.keys, self.id, self._token, codec.encode(value))
        return int(self._queue.client.run(call)) == 0


class AsyncJobContext(JobContext):
    """The job an ``async def`` handler runs: ``client`` is an ``AsyncClient`` and
    :meth:`progress` is awaited."""

    __slots__ = ()

    async def progress(self, value: Any) -> bool:  # type: ignore[override]
        """Store a progress value on the job record (progress-1); False if the lease is gone."""
        call = C.build_progress(self._queue.keys, self.id, self._token, codec.encode(value))
        return int(await self.client.run(call)) == 0
