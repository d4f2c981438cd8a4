"""``mail2fax store copy``: move an installation's SQLite queue into PostgreSQL, for several bridges."""

from __future__ import annotations

from pathlib import Path

from mail2fax.commands import CommandError, Report
from mail2fax.queue.copy import copy_sqlite_to_postgres
from mail2fax.settings import Settings


async def copy_store(settings: Settings, source: Path | None, target: str | None) -> Report:
    """Copy the SQLite queue (default: the data directory's) into PostgreSQL (default: the
    configured MAIL2FAX_DATABASE_URL)."""
    sqlite_path = source or settings.database_path
    url = target or (settings.database_url.get_secret_value() if settings.database_url else None)
    if not url:
        raise CommandError("no PostgreSQL queue to copy to: give --to URL or set MAIL2FAX_DATABASE_URL")
    if not url.startswith(("postgresql://", "postgres://")):
        raise CommandError("--to must be a postgresql:// URL")
    result = await copy_sqlite_to_postgres(sqlite_path, url, settings.data_dir)
    text = (
        f"copied {result.jobs} jobs and {result.documents} documents ({result.bytes} bytes) "
        f"from {sqlite_path}"
    )
    if result.missing:
        text += f"; documents missing from the spool: {', '.join(result.missing)}"
    data = {
        "jobs": result.jobs,
        "documents": result.documents,
        "bytes": result.bytes,
        "missing": list(result.missing),
    }
    return Report(text, data)
