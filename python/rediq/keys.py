"""Key names of a queue: every key shares the hash tag ``{prefix:queue}``.

See ``lua/PROTOCOL.md`` for the schema. Pure functions; no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import InvalidQueueName

__all__ = ["QueueKeys", "validate_queue_name", "MAX_QUEUE_NAME"]

MAX_QUEUE_NAME = 200
_NAME = re.compile(r"[A-Za-z0-9_.\-]+")


def validate_queue_name(name: object, what: str = "queue name") -> str:
    """Return ``name`` if it is usable as a queue name (or key prefix).

    Raises:
        InvalidQueueName: not a str, empty, longer than 200 characters, or holding
            characters other than letters, digits, ``_``, ``.`` and ``-``.
    """
    if not isinstance(name, str):
        raise InvalidQueueName(f"{what} must be a str, not {type(name).__name__}")
    if not name or len(name) > MAX_QUEUE_NAME or not _NAME.fullmatch(name):
        raise InvalidQueueName(
            f"invalid {what} {name!r}: use 1-{MAX_QUEUE_NAME} letters, digits, '_', '.' or '-'"
        )
    return name


@dataclass(frozen=True, slots=True)
class QueueKeys:
    """All keys of one queue (hash tag ``{prefix:name}``)."""

    name: str
    prefix: str
    base: str
    meta: str
    wait: str
    prio: str
    delayed: str
    active: str
    wake: str
    limit: str
    completed: str
    failed: str

    @classmethod
    def of(cls, name: str, prefix: str = "rediq") -> QueueKeys:
        """Build the keys of queue ``name`` under ``prefix`` (both validated)."""
        validate_queue_name(name)
        validate_queue_name(prefix, "key prefix")
        base = "{%s:%s}" % (prefix, name)
        return cls(
            name, prefix, base, f"{base}:meta", f"{base}:wait", f"{base}:prio",
            f"{base}:delayed", f"{base}:active", f"{base}:wake", f"{base}:limit",
            f"{base}:completed", f"{base}:failed",
        )

    @classmethod
    def of_key(cls, key: str) -> QueueKeys:
        """The keys of the queue that ``key`` (any of its keys, ``{prefix:queue}:...``) belongs to."""
        prefix, _, name = key[1:key.index("}")].partition(":")   # neither may contain ':'
        return cls.of(name, prefix)

    def job(self, job_id: str) -> str:
        """Return the key of one job record."""
        return f"{self.base}:job:{job_id}"
