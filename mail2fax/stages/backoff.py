"""When to try a job again: exponential backoff between two bounds, with jitter, honouring Retry-After."""

from __future__ import annotations

import random as random_module
from collections.abc import Callable


def retry_delay(
    attempts: int,
    *,
    minimum: float,
    maximum: float,
    retry_after: float | None = None,
    random: Callable[[], float] = random_module.random,
) -> float:
    """Seconds to wait after the ``attempts``-th failed attempt (1 for the first failure).

    The base doubles from ``minimum`` up to ``maximum``; jitter draws the delay from the upper half
    of the base so that many deferred jobs do not wake together. The service's own ``Retry-After``
    is a floor, never shortened, but still capped at ``maximum`` unless it asks for more.
    """
    exponent = max(attempts - 1, 0)
    base = min(maximum, minimum * float(2 ** min(exponent, 32)))
    delay = base / 2 + random() * base / 2
    delay = max(delay, min(minimum, maximum))
    if retry_after is not None and retry_after > delay:
        delay = retry_after
    return delay
