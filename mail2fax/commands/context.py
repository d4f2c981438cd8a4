"""What the commands share with the daemon: its queue on disk and a backend built the same way."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from mail2fax.backends.base import FaxBackend
from mail2fax.backends.registry import build_backend, http_client
from mail2fax.commands import CommandError
from mail2fax.queue import registry
from mail2fax.queue.base import Store
from mail2fax.queue.files import check_owner
from mail2fax.settings import Settings


@asynccontextmanager
async def open_store(settings: Settings) -> AsyncIterator[Store]:
    """The daemon's queue. It must exist: a mistyped data directory must not look like an empty queue."""
    database = settings.database_path
    await asyncio.to_thread(check_owner, database, settings.spool_dir)
    if settings.database_url is None and not database.is_file():
        raise CommandError(
            f"no queue at {database}: set MAIL2FAX_DATA_DIR to the daemon's data directory "
            "(or start the daemon once to create it)"
        )
    store = await registry.open_store(settings)
    try:
        yield store
    finally:
        await store.close()


@asynccontextmanager
async def open_backend(settings: Settings) -> AsyncIterator[FaxBackend]:
    """The configured fax backend with its own HTTP client, closed (session revoked) on exit."""
    async with http_client(settings) as client:
        backend = build_backend(settings, client)
        try:
            yield backend
        finally:
            await backend.aclose()
