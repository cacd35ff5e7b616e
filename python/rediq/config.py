"""Value objects for queue and job options. Durations are seconds (float)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

__all__ = ["Backoff", "QueueConfig", "RateLimit", "seconds_to_ms"]


def seconds_to_ms(value: object, what: str, *, allow_zero: bool = True) -> int:
    """Convert a duration in seconds (int, float or timedelta) to whole milliseconds.

    Raises:
        TypeError: not a number or timedelta.
        ValueError: negative, NaN/infinite, or zero where zero is not allowed.
    """
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{what} must be a number of seconds, not {type(value).__name__}")
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{what} must be a {'non-negative' if allow_zero else 'positive'} "
                         f"finite number of seconds, not {value!r}")
    return int(math.ceil(value * 1000)) if value > 0 else 0


def _check_int(value: object, what: str, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int, not {type(value).__name__}")
    if value < low or (high is not None and value > high):
        bound = f"from {low} to {high}" if high is not None else f">= {low}"
        raise ValueError(f"{what} must be {bound}, not {value}")
    return value


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most ``max`` job starts per ``period`` seconds, across all workers of a queue."""

    max: int
    period: float = 1.0

    def __post_init__(self) -> None:
        _check_int(self.max, "RateLimit.max", 1)
        seconds_to_ms(self.period, "RateLimit.period", allow_zero=False)

    @property
    def period_ms(self) -> int:
        """The window length in milliseconds."""
        return seconds_to_ms(self.period, "RateLimit.period", allow_zero=False)


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delay before a retry: ``fixed`` (always ``base``) or ``exponential``
    (``base * 2**(failures-1)``), capped at ``cap`` seconds (0 = no cap); ``jitter``
    in [0, 1] takes a random fraction up to that much off each delay."""

    kind: Literal["fixed", "exponential"] = "exponential"
    base: float = 1.0
    cap: float = 0.0
    jitter: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in ("fixed", "exponential"):
            raise ValueError(f"Backoff.kind must be 'fixed' or 'exponential', not {self.kind!r}")
        seconds_to_ms(self.base, "Backoff.base")
        seconds_to_ms(self.cap, "Backoff.cap")
        if isinstance(self.jitter, bool) or not isinstance(self.jitter, (int, float)) \
                or not 0 <= self.jitter <= 1:
            raise ValueError(f"Backoff.jitter must be a number from 0 to 1, not {self.jitter!r}")

    @classmethod
    def fixed(cls, delay: float, jitter: float = 0.0) -> Backoff:
        """Retry after the same ``delay`` every time."""
        return cls("fixed", delay, 0.0, jitter)

    @classmethod
    def exponential(cls, base: float, cap: float = 0.0, jitter: float = 0.0) -> Backoff:
        """Retry after ``base``, ``2*base``, ``4*base``... seconds, at most ``cap``."""
        return cls("exponential", base, cap, jitter)

    def spec(self) -> str:
        """The wire form the fail script reads: ``kind:base_ms:cap_ms:jitter``."""
        return (f"{self.kind}:{seconds_to_ms(self.base, 'Backoff.base')}:"
                f"{seconds_to_ms(self.cap, 'Backoff.cap')}:{float(self.jitter)!r}")


@dataclass(frozen=True, slots=True)
class QueueConfig:
    """How a worker serves one queue.

    Attributes:
        concurrency: jobs of this queue one worker runs at once.
        rate_limit: queue-wide limit on job starts (stored in Redis; every worker enforces it).
        global_concurrency: cap on active jobs of the queue across all workers (0 = none).
        lease: seconds a claimed job stays leased without a heartbeat.
        max_stalls: lease expiries a job survives before it fails.
        keep_completed: seconds a completed job stays readable (0 = delete at once).
        keep_completed_count: most completed jobs kept.
        keep_failed: seconds a failed job stays readable (0 = delete at once).
        keep_failed_count: most failed jobs kept.
    """

    concurrency: int = 1
    rate_limit: RateLimit | None = None
    global_concurrency: int = 0
    lease: float = 30.0
    max_stalls: int = 1
    keep_completed: float = 600.0
    keep_completed_count: int = 10_000
    keep_failed: float = 7 * 86400.0
    keep_failed_count: int = 100_000

    def __post_init__(self) -> None:
        _check_int(self.concurrency, "QueueConfig.concurrency", 1, 10_000)
        if self.rate_limit is not None and not isinstance(self.rate_limit, RateLimit):
            raise TypeError(f"QueueConfig.rate_limit must be a RateLimit or None, "
                            f"not {type(self.rate_limit).__name__}")
        _check_int(self.global_concurrency, "QueueConfig.global_concurrency", 0)
        if seconds_to_ms(self.lease, "QueueConfig.lease", allow_zero=False) < 100:
            raise ValueError("QueueConfig.lease must be at least 0.1 seconds")
        _check_int(self.max_stalls, "QueueConfig.max_stalls", 0)
        seconds_to_ms(self.keep_completed, "QueueConfig.keep_completed")
        _check_int(self.keep_completed_count, "QueueConfig.keep_completed_count", 0)
        seconds_to_ms(self.keep_failed, "QueueConfig.keep_failed")
        _check_int(self.keep_failed_count, "QueueConfig.keep_failed_count", 0)

    @property
    def lease_ms(self) -> int:
        """The lease in milliseconds."""
        return seconds_to_ms(self.lease, "QueueConfig.lease", allow_zero=False)

    def meta_settings(self) -> dict[str, str]:
        """The queue-wide settings this config stores in the queue's meta key."""
        rl = self.rate_limit
        return {
            "rate_max": str(rl.max) if rl else "",
            "rate_period_ms": str(rl.period_ms) if rl else "",
            "global_concurrency": str(self.global_concurrency) if self.global_concurrency else "",
            "max_stalls": str(self.max_stalls),
            "keep_completed_age_ms": str(seconds_to_ms(self.keep_completed, "keep_completed")),
            "keep_completed_count": str(self.keep_completed_count),
            "keep_failed_age_ms": str(seconds_to_ms(self.keep_failed, "keep_failed")),
            "keep_failed_count": str(self.keep_failed_count),
        }
