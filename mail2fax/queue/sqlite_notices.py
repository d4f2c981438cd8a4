"""The SQLite store's status mails and the count of a job's unexpected errors."""

from __future__ import annotations

import logging
from datetime import datetime

from mail2fax.models import Actor, Job, JobState
from mail2fax.queue.schema import (
    FINAL_CONDITION,
)
from mail2fax.queue.sqlite_base import SqliteBase

log = logging.getLogger("mail2fax.store")


class SqliteNotices(SqliteBase):
    async def awaiting_notification(self, now: datetime, limit: int) -> list[Job]:
        return await self._fetch_jobs(
            f"INDEXED BY jobs_awaiting_notification WHERE notified_at IS NULL AND {FINAL_CONDITION} "
            "AND (notify_next_at IS NULL OR notify_next_at <= ?) ORDER BY finished_at LIMIT ?",
            (now.timestamp(), limit),
        )

    async def mark_notified(self, job_id: str, now: datetime, detail: str) -> None:
        async with self._transaction() as db:
            await db.execute(
                "UPDATE jobs SET notified_at = ?, failures = 0 WHERE id = ?", (now.timestamp(), job_id)
            )
            await db.execute(
                "INSERT INTO events (job_id, at, state, detail, actor) "
                "SELECT id, ?, state, ?, ? FROM jobs WHERE id = ?",
                (now.timestamp(), detail, Actor.NOTIFY.value, job_id),
            )
        log.info("status mail done", extra={"job": job_id, "detail": detail})

    async def postpone_notification(self, job_id: str, until: datetime) -> None:
        async with self._transaction() as db:
            await db.execute("UPDATE jobs SET notify_next_at = ? WHERE id = ?", (until.timestamp(), job_id))

    async def record_failure(
        self, job_id: str, *, actor: Actor, now: datetime, detail: str, retry_at: datetime | None
    ) -> int:
        """Count an unexpected error against the job, note it in its history, and return the count.

        ``retry_at`` is when its stage may look at it again: the next attempt of an unfinished
        job (whose last error ``detail`` becomes), the next status mail of a final one.
        """
        async with self._transaction() as db:
            async with db.execute("SELECT state, failures FROM jobs WHERE id = ?", (job_id,)) as cursor:
                row = await cursor.fetchone()
            if row is None:
                return 0
            state, count = JobState(row[0]), int(row[1]) + 1
            retry = None if retry_at is None else retry_at.timestamp()
            if state.is_final:  # its last_error is what the status mail tells the sender
                await db.execute(
                    "UPDATE jobs SET failures = ?, notify_next_at = coalesce(?, notify_next_at) WHERE id = ?",
                    (count, retry, job_id),
                )
            else:
                await db.execute(
                    "UPDATE jobs SET failures = ?, next_attempt_at = coalesce(?, next_attempt_at), "
                    "last_error = ? WHERE id = ?",
                    (count, retry, detail, job_id),
                )
            await db.execute(
                "INSERT INTO events (job_id, at, state, detail, actor) VALUES (?, ?, ?, ?, ?)",
                (job_id, now.timestamp(), state.value, detail, actor.value),
            )
        return count

    async def flush_notifications(self, now: datetime) -> int:
        """Make every postponed status mail due now; returns how many there were."""
        async with self._transaction() as db:
            cursor = await db.execute(
                "UPDATE jobs INDEXED BY jobs_awaiting_notification SET notify_next_at = ? "  # noqa: S608
                f"WHERE notified_at IS NULL AND {FINAL_CONDITION} AND notify_next_at > ?",
                (now.timestamp(), now.timestamp()),
            )
            return int(cursor.rowcount)
