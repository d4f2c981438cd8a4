"""The SQLite store's retention: purging documents and forgetting finished jobs."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import datetime

from mail2fax.models import FINAL_STATES
from mail2fax.queue.schema import (
    FINAL_CONDITION,
    translate,
)
from mail2fax.queue.sqlite_base import SqliteBase


class SqliteRetention(SqliteBase):
    async def expired_documents(self, *, finished_before: datetime, max_failures: int) -> list[str]:
        """Final jobs whose sender was told, finished before the given time, that still hold
        documents, leaving out those that failed to be purged ``max_failures`` times."""
        try:
            async with self._db.execute(
                "SELECT id FROM jobs INDEXED BY jobs_holding_documents "  # noqa: S608
                f"WHERE documents_purged_at IS NULL AND {FINAL_CONDITION} "
                "AND (notified_at IS NOT NULL OR notify = 0) AND finished_at < ? AND failures < ?",
                (finished_before.timestamp(), max_failures),
            ) as cursor:
                return [row[0] for row in await cursor.fetchall()]
        except (sqlite3.Error, OSError) as exc:
            raise translate(exc) from exc

    async def delete_documents(self, job_id: str, *, now: datetime) -> None:
        """Delete one job's documents; its record and history stay."""
        await asyncio.to_thread(self._spool.remove, job_id)
        async with self._transaction() as db:
            await db.execute(
                "UPDATE jobs SET documents_purged_at = ? WHERE id = ? AND documents_purged_at IS NULL",
                (now.timestamp(), job_id),
            )

    async def delete_jobs(self, *, finished_before: datetime) -> int:
        """Forget final jobs whose sender was told (operator purge): rows, history and documents."""
        values = [s.value for s in FINAL_STATES]
        marks = ", ".join("?" for _ in values)
        async with self._transaction() as db:
            cursor = await db.execute(
                f"SELECT id FROM jobs WHERE state IN ({marks}) AND finished_at < ? "  # noqa: S608
                "AND (notified_at IS NOT NULL OR notify = 0)",
                (*values, finished_before.timestamp()),
            )
            job_ids = [row[0] for row in await cursor.fetchall()]
            await db.executemany("DELETE FROM jobs WHERE id = ?", [(job_id,) for job_id in job_ids])
        for job_id in job_ids:
            await asyncio.to_thread(self._spool.remove, job_id)
        return len(job_ids)

    async def remove_orphans(self) -> int:
        """Delete spool directories that no committed job owns (left by a crash before commit)."""
        try:
            async with self._db.execute("SELECT id FROM jobs WHERE documents_purged_at IS NULL") as cursor:
                owned = {row[0] for row in await cursor.fetchall()}
        except (sqlite3.Error, OSError) as exc:
            raise translate(exc) from exc
        return await asyncio.to_thread(self._spool.remove_except, owned)
