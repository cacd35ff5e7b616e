"""Errors raised by rediq, and the reply codes the Lua scripts return.

``Code`` mirrors ``lua/includes/codes.lua``; ``tests/unit/test_codes.py`` keeps them in sync.
"""

from __future__ import annotations

import enum

from .codec import CodecError, DecodeError, EncodeError

__all__ = [
    "Code",
    "CodecError",
    "DecodeError",
    "EncodeError",
    "InvalidQueueName",
    "JobFailed",
    "JobNotFound",
    "JobTimeout",
    "ProtocolMismatch",
    "RediqError",
    "RedisUnavailable",
    "ReplicationTimeout",
    "ServerNotFound",
]


class Code(enum.IntEnum):
    """Reply codes of the Lua scripts (``lua/includes/codes.lua``)."""

    OK = 0
    JOB_EXISTS = 1
    ALREADY_FINISHED = 2
    JOB_MISSING = -1
    LEASE_LOST = -2
    QUEUE_PAUSED = -3
    RATE_LIMITED = -4
    CONCURRENCY_LIMITED = -5
    JOB_ACTIVE = -6
    NOT_FAILED = -7


class RediqError(Exception):
    """Base class of rediq's own errors."""


class InvalidQueueName(RediqError, ValueError):
    """A queue name that cannot be used (empty, too long, or with reserved characters)."""


class ProtocolMismatch(RediqError):
    """The queue in Redis was created by a client speaking another protocol version."""


class JobNotFound(RediqError, LookupError):
    """No job with this id is stored (never enqueued, removed, or past retention)."""


class JobFailed(RediqError):
    """The job ended in the failed set; ``error`` is the text the worker recorded."""

    def __init__(self, job_id: str, error: str) -> None:
        super().__init__(f"job {job_id} failed: {error}")
        self.job_id = job_id
        self.error = error


class JobTimeout(RediqError, TimeoutError):
    """Waiting for a job's outcome took longer than the caller allowed."""


class RedisUnavailable(RediqError, ConnectionError):
    """Redis could not be reached within the client's retry budget."""


class ReplicationTimeout(RediqError):
    """An enqueue was stored on the master but fewer replicas than asked confirmed it
    within the timeout (``Client(wait_replicas=...)``); it may be lost on a failover."""

    def __init__(self, acked: int, wanted: int, timeout_ms: int) -> None:
        super().__init__(f"enqueue stored on the master, but only {acked} of {wanted} replica(s) "
                         f"confirmed it within {timeout_ms} ms (WAIT); a failover now could lose it")
        self.acked, self.wanted = acked, wanted


class ServerNotFound(RediqError, FileNotFoundError):
    """No redis-server (or valkey-server) binary was found for an embedded server."""
