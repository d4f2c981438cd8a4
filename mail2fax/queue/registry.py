"""The store the settings choose, opened for the daemon and for the commands."""

from __future__ import annotations

from collections.abc import Callable

from mail2fax.clock import WallClock, utcnow
from mail2fax.models import Job
from mail2fax.queue.base import Store
from mail2fax.queue.postgres import PostgresStore
from mail2fax.queue.sqlite import SqliteStore
from mail2fax.settings import Settings


async def open_store(
    settings: Settings,
    *,
    on_transition: Callable[[Job], None] | None = None,
    wall: WallClock = utcnow,
    heartbeat: bool = False,
) -> Store:
    """Open (and create or migrate) the queue of these settings: PostgreSQL when
    MAIL2FAX_DATABASE_URL is set, the SQLite file in the data directory otherwise.

    ``heartbeat``: the daemon's store, which keeps this bridge's row in PostgreSQL's ``bridges``."""
    if settings.database_url is not None:
        return await PostgresStore.open(
            settings.database_url.get_secret_value(),
            settings.data_dir,
            lease=settings.lease,
            on_transition=on_transition,
            wall=wall,
            heartbeat=heartbeat,
        )
    return await SqliteStore.open(settings.database_path, settings.spool_dir, on_transition=on_transition)
