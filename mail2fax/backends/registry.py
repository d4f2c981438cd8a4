"""The fax backends by name: ``MAIL2FAX_BACKEND`` chooses one, built here for the daemon and the commands."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from mail2fax.backends.base import FaxBackend
from mail2fax.backends.pacing import PacingJournal
from mail2fax.clock import WallClock, utcnow
from mail2fax.errors import ConfigError
from mail2fax.settings import Settings


def http_client(settings: Settings) -> httpx.AsyncClient:
    """The one HTTP client a process gives its backend: RingCentral's timeout, a short connect."""
    return httpx.AsyncClient(timeout=httpx.Timeout(settings.ringcentral.timeout, connect=15.0))


def build_backend(
    settings: Settings,
    client: httpx.AsyncClient,
    *,
    on_response: Callable[[str, int], None] | None = None,
    journal: PacingJournal | None = None,
    wall: WallClock = utcnow,
) -> FaxBackend:
    """The backend ``settings`` choose; ``journal`` keeps RingCentral's rate-limit windows."""
    if settings.backend == "dry-run":
        from mail2fax.backends.dryrun import DryRunBackend

        return DryRunBackend(settings.outbox_dir, wall=wall)
    if settings.backend == "ringcentral":
        from mail2fax.backends.ringcentral import RingCentralBackend

        return RingCentralBackend(
            settings.ringcentral, client, on_response=on_response, journal=journal, wall=wall
        )
    if settings.backend == "faxout":
        from mail2fax.backends.faxout import FaxOutBackend

        return FaxOutBackend(settings.faxout, client, wall=wall)
    raise ConfigError(f"MAIL2FAX_BACKEND: unknown backend {settings.backend!r}")
