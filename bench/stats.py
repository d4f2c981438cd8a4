"""Small summaries: percentiles, medians and spread over rounds."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (``fraction`` in 0..1) of ``values``; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def spread(values: Sequence[float], digits: int = 1, scale: float = 1.0) -> str:
    """``median (min-max)`` of per-round figures, scaled and rounded for a table cell."""
    if not values:
        return "n/a"
    scaled = [value * scale for value in values]
    if len(scaled) == 1:
        return f"{scaled[0]:.{digits}f}"
    return f"{median(scaled):.{digits}f} ({min(scaled):.{digits}f}-{max(scaled):.{digits}f})"
