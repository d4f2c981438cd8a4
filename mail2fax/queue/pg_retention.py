"""The PostgreSQL store's retention: purging documents and forgetting finished jobs."""

from __future__ import annotations

from datetime import datetime

from mail2fax.queue.pg_base import FINAL, PostgresBase
from mail2fax.queue.schema import (
    FINAL_CONDITION,
)


class PostgresRetention(PostgresBase):
    async def expired_documents(self, *, finished_before: datetime, max_failures: int) -> list[str]:
        rows = await self._execute(
            f"SELECT id FROM jobs WHERE {FINAL_CONDITION} AND documents_purged_at IS NULL "  # noqa: S608
            "AND (notified_at IS NOT NULL OR notify = 0) AND finished_at < %s AND failures < %s",
            (finished_before.timestamp(), max_failures),
        )
        return [row[0] for row in rows]

    async def delete_documents(self, job_id: str, *, now: datetime) -> None:
        await self._execute(
            "WITH purged AS (UPDATE jobs SET documents_purged_at = %(now)s WHERE id = %(id)s "
            "AND documents_purged_at IS NULL RETURNING id) "
            "DELETE FROM document_chunks WHERE job_id IN (SELECT id FROM purged)",
            {"now": now.timestamp(), "id": job_id},
        )
        await self._cache.forget(job_id)

    async def delete_jobs(self, *, finished_before: datetime) -> int:
        rows = await self._execute(
            "WITH gone AS (DELETE FROM jobs WHERE state = ANY(%(final)s) AND finished_at < %(before)s "
            "AND (notified_at IS NOT NULL OR notify = 0) RETURNING id), "
            "keys AS (DELETE FROM duplicate_keys WHERE job_id IN (SELECT id FROM gone)) "
            "SELECT id FROM gone",
            {"final": FINAL, "before": finished_before.timestamp()},
        )
        for (job_id,) in rows:
            await self._cache.forget(job_id)
        return len(rows)

    async def remove_orphans(self) -> int:
        """Nothing is half-written in the database; remove the caches of dead processes here."""
        return await self._cache.remove_abandoned()
