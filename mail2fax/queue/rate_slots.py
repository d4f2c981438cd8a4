"""The arithmetic of a shared rate-limit slot, the same for every store.

A store takes a slot inside one transaction: it reads the group's recent requests and latest
pause, asks :func:`slot_wait` whether a request may leave now, and records one only if so.
"""

from __future__ import annotations

from collections.abc import Sequence

# Seconds a rate-limit entry is kept: longer than any window or pause the pacer accepts.
RATE_HORIZON = 3600.0


def slot_wait(
    requests: Sequence[float], paused_until: float | None, now: float, limit: int, window: float
) -> float:
    """Seconds until a request may leave: 0 when fewer than ``limit`` of ``requests`` (times, in
    seconds, oldest first) lie in the ``window`` before ``now`` and no pause lasts past ``now``."""
    wait = 0.0 if paused_until is None else paused_until - now
    recent = sorted(at for at in requests if at > now - window)
    if limit >= 1 and len(recent) >= limit:
        wait = max(wait, recent[len(recent) - limit] + window - now)
    elif limit < 1:
        wait = max(wait, window)
    return max(wait, 0.0)
