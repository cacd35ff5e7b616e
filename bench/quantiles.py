"""Quantiles of timing samples."""

from __future__ import annotations

__all__ = ["quantile", "quantile_curve"]


def quantile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of sorted ``values``, interpolated linearly."""
    if not values:
        return float("nan")
    pos = q * (len(values) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (pos - lo)


def quantile_curve(values: list[float], scale: float = 1.0,
                   digits: int = 4) -> list[float]:
    """101 quantiles (0%..100%) of ``values`` (sorted here), times ``scale``."""
    ordered = sorted(values)
    return [round(quantile(ordered, i / 100) * scale, digits) for i in range(101)] if ordered else []
