"""Who gets an SMTP session: the session limits, counted per client address, and their log lines.

Over ``MAIL2FAX_SMTP__MAX_SESSIONS`` open sessions, or ``MAIL2FAX_SMTP__MAX_SESSIONS_PER_CLIENT``
from one client address (an IPv6 /64 counts as one; ``MAIL2FAX_TRUSTED_NETWORKS`` have no
per-client limit), a new connection is answered ``421 4.7.0`` and closed before a session is set
up. Refusals, and connections the system could not accept at all (no file descriptors left),
are logged at once and then once a minute with a count, never once each.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mail2fax.smtp.peers import TrustedNetworks, peer_address
from mail2fax.smtp.throttle import throttle_key

log = logging.getLogger("mail2fax.listener")

REPORT_INTERVAL = 60.0  # seconds between log lines about refused connections or failed accepts
ACCEPT_FAILED = "socket.accept() out of system resource"  # asyncio's words for EMFILE and the like
ACCEPT_RESTART = "_start_serving"  # the callback in which asyncio starts accepting again
TOO_MANY = b"421 4.7.0 Too many connections to the fax gateway, please try again later\r\n"
TOO_MANY_FROM_YOU = b"421 4.7.0 Too many connections from your address, please try again later\r\n"
_TRUSTED = "trusted"


@dataclass(frozen=True, slots=True)
class SessionLimits:
    total: int
    per_client: int
    exempt: TrustedNetworks = field(default_factory=lambda: TrustedNetworks(()))  # no per-client limit


class Occasional:
    """Reports a recurring event at once, then at most once per interval with how often it happened."""

    def __init__(self, interval: float = REPORT_INTERVAL, clock: Callable[[], float] = time.monotonic):
        self._interval = interval
        self._clock = clock
        self._last: float | None = None
        self._unreported = 0

    def happened(self, report: Callable[[int], None]) -> None:
        """Count the event; call ``report`` with the count since the last report when one is due."""
        self._unreported += 1
        now = self._clock()
        if self._last is not None and now - self._last < self._interval:
            return
        self._last = now
        count, self._unreported = self._unreported, 0
        report(count)


class Admission:
    """Counts the open sessions in all and per client, and refuses those over the limits."""

    def __init__(self, limits: SessionLimits):
        self._limits = limits
        self._open = 0
        self._per_client: Counter[str] = Counter()
        self._client_of: dict[object, str] = {}
        self._refused = Occasional()

    @property
    def open(self) -> int:
        return self._open

    def refusal(self, peer: Any) -> bytes | None:
        """The ``421`` for a new connection from ``peer``, or None to admit it."""
        client = self._client(peer)
        if self._open >= self._limits.total:
            self._report(client, "MAIL2FAX_SMTP__MAX_SESSIONS", self._limits.total)
            return TOO_MANY
        if client != _TRUSTED and self._per_client[client] >= self._limits.per_client:
            self._report(client, "MAIL2FAX_SMTP__MAX_SESSIONS_PER_CLIENT", self._limits.per_client)
            return TOO_MANY_FROM_YOU
        return None

    def enter(self, session: object, peer: Any) -> None:
        client = self._client(peer)
        self._client_of[session] = client
        self._per_client[client] += 1
        self._open += 1

    def leave(self, session: object) -> None:
        """A session has ended (or never started): it no longer counts. Safe to call twice."""
        client = self._client_of.pop(session, None)
        if client is None:
            return
        self._open -= 1
        self._per_client[client] -= 1
        if self._per_client[client] <= 0:
            del self._per_client[client]

    def _client(self, peer: Any) -> str:
        address = peer_address(peer)
        return _TRUSTED if address in self._limits.exempt else throttle_key(address)

    def _report(self, client: str, setting: str, limit: int) -> None:
        self._refused.happened(
            lambda count: log.warning(
                "smtp connections refused with 421",
                extra={"client": client, "limit": limit, "setting": setting, "refused": count},
            )
        )


def quiet_accept_failures(loop: asyncio.AbstractEventLoop, closing: Callable[[], bool]) -> None:
    """Failed accepts (no file descriptors left) become one log line a minute, not one each.

    After such a failure asyncio stops accepting for a second and then starts again; if the
    listener was closed meanwhile (``closing()``), that restart fails on the closed socket, which
    is expected at shutdown and not worth a traceback.
    """
    previous = loop.get_exception_handler()
    if getattr(previous, "quiets_accept_failures", False):
        return
    failures = Occasional()

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if closing() and ACCEPT_RESTART in repr(context.get("handle")):
            log.debug("smtp listener closed before accepting could start again")
            return
        if context.get("message") != ACCEPT_FAILED:
            if previous is not None:
                previous(loop, context)
            else:
                loop.default_exception_handler(context)
            return
        error = context.get("exception")
        failures.happened(
            lambda count: log.error(
                "smtp cannot accept connections: raise LimitNOFILE or lower MAIL2FAX_SMTP__MAX_SESSIONS",
                extra={"error": str(error), "failures": count},
            )
        )

    handle.quiets_accept_failures = True  # type: ignore[attr-defined]
    loop.set_exception_handler(handle)
