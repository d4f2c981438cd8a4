"""Failed SMTP logins, counted per client address, and how long to hold back the next reply.

Kept in memory: a restart forgets the count, which costs a guesser only the few free attempts.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from mail2fax.smtp.peers import IPAddress

FIRST_DELAY = 1.0  # seconds added to the first throttled failure; each further one doubles it
FORGET_AFTER = 3600.0  # seconds without a failure after which a client address starts afresh
MAX_TRACKED = 65536  # client addresses remembered at once; the least recently seen are forgotten


@dataclass
class _Record:
    failures: int = 0
    last_failure: float = 0.0
    users: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def throttle_key(address: IPAddress | None) -> str:
    """What failures are counted against: an IPv4 address, or an IPv6 /64 (one host's usual share)."""
    if address is None:
        return "-"
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


class LoginThrottle:
    """Counts failed logins per client address and says how long to hold back the next reply.

    The first ``free_failures`` cost nothing; after that each failure waits 1, 2, 4 … seconds,
    at most ``max_delay``. Attempts from one address take turns, so parallel connections do not
    get around the delay. An address is forgotten an hour after its last failure.
    """

    def __init__(
        self,
        *,
        free_failures: int,
        max_delay: float,
        clock: Callable[[], float] = time.monotonic,
        forget_after: float = FORGET_AFTER,
        max_tracked: int = MAX_TRACKED,
    ):
        self._free = free_failures
        self._max_delay = max_delay
        self._clock = clock
        self._forget_after = forget_after
        self._max_tracked = max_tracked
        self._records: OrderedDict[str, _Record] = OrderedDict()

    @asynccontextmanager
    async def turn(self, key: str) -> AsyncIterator[None]:
        """Wait until no other attempt from this address is in progress."""
        record = self._records.get(key)
        if record is None:
            record = self._records[key] = _Record()
        record.users += 1
        try:
            async with record.lock:
                yield
        finally:
            record.users -= 1
            self._tidy()

    def failures(self, key: str) -> int:
        record = self._records.get(key)
        if record is None or self._clock() - record.last_failure > self._forget_after:
            return 0
        return record.failures

    def failed(self, key: str) -> float:
        """Count a failure; returns the seconds to wait before replying."""
        count = self.failures(key) + 1
        record = self._records.get(key) or _Record()
        record.failures = count
        record.last_failure = self._clock()
        self._records[key] = record
        self._records.move_to_end(key)
        excess = count - self._free
        if excess <= 0:
            return 0.0
        return min(self._max_delay, FIRST_DELAY * 2.0 ** min(excess - 1, 32))

    def _tidy(self) -> None:
        now = self._clock()
        stale = [
            key
            for key, record in self._records.items()
            if record.users == 0 and (record.failures == 0 or now - record.last_failure > self._forget_after)
        ]
        for key in stale:
            del self._records[key]
        while len(self._records) > self._max_tracked:
            oldest = next((k for k, r in self._records.items() if r.users == 0), None)
            if oldest is None:
                break
            del self._records[oldest]
