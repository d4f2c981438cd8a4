"""The wall clock, in one place.

Everything whose decisions depend on the time of day (retries, lifetimes, send times, leases,
retention) takes a ``WallClock`` and defaults to :func:`utcnow`, so a test can hold time still.
Intervals are measured with ``time.monotonic`` instead, where they are measured at all.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

WallClock = Callable[[], datetime]


def utcnow() -> datetime:
    """Now, as an aware UTC datetime."""
    return datetime.now(UTC)
