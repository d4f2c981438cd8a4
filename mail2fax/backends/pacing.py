"""Client-side pacing for RingCentral's rate-limit groups, shared by every worker of one process.

RingCentral counts requests per user, app and group (Heavy, Medium, Light, Auth). A client that
goes over a limit gets ``429`` and a penalty, and every request made during the penalty starts
it again. So the pacer keeps one state per group and makes callers wait *before* they send:

* a sliding window of recent request times: at most ``limit`` requests in any ``window``
  seconds. A request is stamped when its slot is taken and stamped again when its answer
  arrives (``Permit.finish``), so time spent in flight never makes the count too optimistic;
* the server's own word: ``X-Rate-Limit-Limit`` and ``-Window`` tighten the configured
  limit (never loosen it), and ``X-Rate-Limit-Remaining: 0`` closes the group until the oldest
  of our requests in the window has left it (a whole window when none of ours is in it);
* after a ``429`` the group is closed until ``Retry-After`` (or one window) has passed.

Time comes from an injectable ``clock`` and waiting from an injectable ``sleep``, so the
arithmetic can be tested without waiting.

With a ``journal`` (the queue's store), the requests and pauses of the groups worth
remembering (Heavy and Auth) are written down as they happen and read back before the first
request of a new process, so a restart in the middle of a burst continues the window instead of
starting a fresh one and running into ``429``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from mail2fax.clock import WallClock, utcnow
from mail2fax.errors import StoreError
from mail2fax.models import RateSlot, RateWindow
from mail2fax.settings import RingCentralSettings

log = logging.getLogger(__name__)

HEAVY = "heavy"
MEDIUM = "medium"
LIGHT = "light"
AUTH = "auth"

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[object]]
REMEMBERED = (HEAVY, AUTH)
# How far back a journal is read: longer than any window or Retry-After the pacer accepts.
JOURNAL_HORIZON = timedelta(hours=1)


class PacingJournal(Protocol):
    """Where the requests and pauses of a rate-limit group outlive the process (the store)."""

    async def record_rate_request(self, group: str, at: datetime) -> None: ...

    async def record_rate_pause(self, group: str, until: datetime) -> None: ...

    async def rate_window(self, group: str, since: datetime) -> RateWindow: ...

    async def take_rate_slot(self, group: str, at: datetime, limit: int, window: float) -> RateSlot: ...

    async def finish_rate_slot(self, slot: int, at: datetime) -> None: ...


@dataclass(slots=True)
class _Stamp:
    at: float


@dataclass(slots=True)
class _Group:
    configured_limit: int
    configured_window: float
    limit: int
    window: float
    stamps: list[_Stamp] = field(default_factory=list)
    closed_until: float = 0.0
    penalties: int = 0
    server: dict[str, str] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class Permit:
    """A taken slot. Call ``finish()`` when the answer has arrived to restamp it at that time.

    ``slot`` is the id of the slot taken in the journal, when the group's slots are shared.
    """

    __slots__ = ("_clock", "_stamp", "slot")

    def __init__(self, stamp: _Stamp, clock: Clock, slot: int | None = None) -> None:
        self._stamp = stamp
        self._clock = clock
        self.slot = slot

    def finish(self) -> None:
        self._stamp.at = max(self._stamp.at, self._clock())


def _number(headers: Mapping[str, str], name: str) -> float | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if 0 <= number < math.inf else None


class RatePacer:
    """One waiting room per rate-limit group; ``limits`` maps a group to ``(limit, window)``."""

    def __init__(
        self,
        limits: Mapping[str, tuple[int, float]],
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        journal: PacingJournal | None = None,
        wall: WallClock = utcnow,
        remembered: Collection[str] = REMEMBERED,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._journal = journal
        self._wall = wall
        self._groups = {
            name: _Group(limit, window, limit, window) for name, (limit, window) in limits.items()
        }
        self._remembered = frozenset(group for group in remembered if group in self._groups)
        self._restored = journal is None
        self._restore_lock = asyncio.Lock()
        self._journal_failing = False

    @classmethod
    def from_settings(
        cls,
        settings: RingCentralSettings,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        journal: PacingJournal | None = None,
        wall: WallClock = utcnow,
    ) -> RatePacer:
        window = settings.limit_window
        limits = {
            HEAVY: (settings.heavy_limit, window),
            MEDIUM: (settings.medium_limit, window),
            LIGHT: (settings.light_limit, window),
            AUTH: (settings.auth_limit, window),
        }
        return cls(limits, clock=clock, sleep=sleep, journal=journal, wall=wall)

    def _group(self, name: str) -> _Group:
        try:
            return self._groups[name]
        except KeyError:
            raise KeyError(f"unknown rate-limit group {name!r}") from None

    def window(self, group: str) -> float:
        """The group's current window in seconds: the default wait after an unexplained 429."""
        return self._group(group).window

    def wait_time(self, group: str) -> float:
        """Seconds until a request in ``group`` may start; 0 when a slot is free now."""
        state = self._group(group)
        now = self._clock()
        horizon = now - state.window
        state.stamps = [stamp for stamp in state.stamps if stamp.at > horizon]
        wait = state.closed_until - now
        if len(state.stamps) >= state.limit:
            times = sorted(stamp.at for stamp in state.stamps)
            # The slot frees when enough old requests have left the window.
            wait = max(wait, times[len(times) - state.limit] + state.window - now)
        return max(wait, 0.0)

    async def acquire(self, group: str) -> Permit:
        """Wait for a free slot in ``group`` and take it. Callers are served in arrival order."""
        state = self._group(group)
        await self.restore()
        async with state.lock:
            while True:
                while (wait := self.wait_time(group)) > 0:
                    log.debug("%s: waiting %.1fs for a free slot", group, wait)
                    await self._sleep(wait)
                taken = await self._take_shared(group, state)
                if taken.wait <= 0:
                    break
                log.debug("%s: waiting %.1fs for a slot shared with other processes", group, taken.wait)
                await self._sleep(taken.wait)
            stamp = _Stamp(self._clock())
            state.stamps.append(stamp)
            return Permit(stamp, self._clock, taken.slot)

    async def _take_shared(self, group: str, state: _Group) -> RateSlot:
        """Take the slot in the journal too, where every process on the same store counts its
        requests (the remembered groups only); a failing journal leaves pacing to this process."""
        if self._journal is None or group not in self._remembered:
            return RateSlot(None)
        try:
            return await self._journal.take_rate_slot(group, self._wall(), state.limit, state.window)
        except StoreError as exc:
            if not self._journal_failing:
                log.warning("cannot take a shared %s rate-limit slot from the queue: %s", group, exc)
            self._journal_failing = True
            return RateSlot(None)

    async def restore(self) -> None:
        """Read the journal once: the remembered groups' recent requests and pauses."""
        if self._restored or self._journal is None:
            return
        async with self._restore_lock:
            if self._restored:
                return
            wall, now = self._wall(), self._clock()
            for group in sorted(self._remembered):
                try:
                    window = await self._journal.rate_window(group, wall - JOURNAL_HORIZON)
                except StoreError as exc:
                    log.warning("cannot read the %s rate-limit window from the queue: %s", group, exc)
                    continue
                state = self._groups[group]
                state.stamps.extend(_Stamp(now - (wall - at).total_seconds()) for at in window.requests)
                if window.paused_until is not None and window.paused_until > wall:
                    self._close(state, (window.paused_until - wall).total_seconds())
                if window.requests or window.paused_until:
                    log.info(
                        "rate-limit group %s continues from the queue: %d recent requests, wait %.0fs",
                        group,
                        len(window.requests),
                        self.wait_time(group),
                    )
            self._restored = True

    async def remember_request(self, group: str, permit: Permit | None = None) -> None:
        """Write to the journal that a request of ``group`` has just been answered (or failed).

        The time written is the later one, when the answer came, as ``Permit.finish`` restamps:
        a slot taken in the journal is restamped, otherwise the request is recorded now.
        """
        if group in self._remembered:
            at = self._wall()
            slot = permit.slot if permit is not None else None
            if slot is not None:
                await self._write(lambda journal: journal.finish_rate_slot(slot, at))
            else:
                await self._write(lambda journal: journal.record_rate_request(group, at))

    async def remember_pause(self, group: str) -> None:
        """Write the group's current pause (after a 429) to the journal."""
        state = self._group(group)
        seconds = state.closed_until - self._clock()
        if group in self._remembered and seconds > 0:
            until = self._wall() + timedelta(seconds=seconds)
            await self._write(lambda journal: journal.record_rate_pause(group, until))

    async def _write(self, step: Callable[[PacingJournal], Awaitable[None]]) -> None:
        """A journal write; a failing queue is logged once and pacing goes on in memory."""
        if self._journal is None:
            return
        try:
            await step(self._journal)
        except StoreError as exc:
            if not self._journal_failing:
                log.warning("cannot write the rate-limit window to the queue: %s", exc)
            self._journal_failing = True
        else:
            self._journal_failing = False

    def observe(self, group: str, headers: Mapping[str, str]) -> None:
        """Learn from an answer's ``X-Rate-Limit-*`` headers (any mapping with lower-case keys)."""
        state = self._group(group)
        limit = _number(headers, "x-rate-limit-limit")
        remaining = _number(headers, "x-rate-limit-remaining")
        window = _number(headers, "x-rate-limit-window")
        for name, value in (("limit", limit), ("remaining", remaining), ("window", window)):
            if value is not None:
                state.server[name] = f"{value:g}"
        if limit is not None and limit >= 1:
            state.limit = min(state.configured_limit, int(limit))
        if window is not None and window > 0:
            state.window = max(state.configured_window, window)
        if remaining is not None and remaining < 1:
            self._exhausted(state)

    def _exhausted(self, state: _Group) -> None:
        """The server has no slot left: wait until our oldest request in its window ages out.

        Our own sliding window usually says the same. When it counts fewer requests than the
        server (a request at the window's edge, or another client on the same credentials), the
        group still waits for the oldest of ours to leave the window, or a whole window if we
        have none in it.
        """
        now = self._clock()
        recent = [stamp.at for stamp in state.stamps if stamp.at > now - state.window]
        reopens = min(recent) + state.window if recent else now + state.window
        state.closed_until = max(state.closed_until, reopens)

    def penalize(self, group: str, retry_after: float | None) -> float:
        """Close ``group`` after a 429 for ``retry_after`` seconds (one window if not given)."""
        state = self._group(group)
        seconds = retry_after if retry_after is not None and retry_after > 0 else state.window
        state.penalties += 1
        self._close(state, seconds)
        return seconds

    def _close(self, state: _Group, seconds: float) -> None:
        state.closed_until = max(state.closed_until, self._clock() + seconds)

    def snapshot(self) -> dict[str, dict[str, object]]:
        """Each group's limit, window, wait, 429 count and the last rate-limit headers seen."""
        report: dict[str, dict[str, object]] = {}
        for name, state in self._groups.items():
            report[name] = {
                "limit": state.limit,
                "window": state.window,
                "wait": round(self.wait_time(name), 3),
                "penalties": state.penalties,
                "server": dict(state.server),
            }
        return report
