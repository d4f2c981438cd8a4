"""The store the settings choose, opened for the daemon and for the commands."""

from __future__ import annotations

from collections.abc import Callable

from mail2fax.models import Job
from mail2fax.queue.base import Store
from mail2fax.queue.sqlite import SqliteStore
from mail2fax.settings import Settings


async def open_store(settings: Settings, *, on_transition: Callable[[Job], None] | None = None) -> Store:
    """Open (and create or migrate) the queue of these settings."""
    return await SqliteStore.open(settings.database_path, settings.spool_dir, on_transition=on_transition)
