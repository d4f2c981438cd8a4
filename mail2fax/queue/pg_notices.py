"""The PostgreSQL store's status mails, each claimed by one bridge, and the count of a job's
unexpected errors."""

from __future__ import annotations

import logging
from datetime import datetime

from mail2fax.models import Actor, Job
from mail2fax.queue.pg_base import PostgresBase
from mail2fax.queue.schema import (
    FINAL_CONDITION,
    JOB_COLUMNS,
)

log = logging.getLogger("mail2fax.store")


class PostgresNotices(PostgresBase):
    async def awaiting_notification(self, now: datetime, limit: int) -> list[Job]:
        """Claim the final jobs whose status mail is due and that no other bridge is mailing."""
        return await self._fetch_claimed(
            "UPDATE jobs SET notify_owner = %(me)s, notify_lease_until = %(until)s WHERE id IN ("  # noqa: S608
            f"SELECT id FROM jobs WHERE {FINAL_CONDITION} AND notified_at IS NULL "
            "AND (notify_next_at IS NULL OR notify_next_at <= %(now)s) AND (notify_owner IS NULL "
            "OR notify_owner = %(me)s OR notify_lease_until < %(now)s) ORDER BY finished_at "
            f"LIMIT %(limit)s FOR UPDATE SKIP LOCKED) RETURNING {JOB_COLUMNS}",
            {"me": self.owner, "until": now.timestamp() + self.lease, "now": now.timestamp(), "limit": limit},
        )

    async def mark_notified(self, job_id: str, now: datetime, detail: str) -> None:
        await self._execute(
            "WITH marked AS (UPDATE jobs SET notified_at = %(at)s, failures = 0, notify_owner = NULL, "
            "notify_lease_until = NULL WHERE id = %(id)s RETURNING id, state) "
            "INSERT INTO events (job_id, at, state, detail, actor) "
            "SELECT id, %(at)s, state, %(detail)s, %(actor)s FROM marked",
            {"at": now.timestamp(), "id": job_id, "detail": detail, "actor": Actor.NOTIFY.value},
        )
        log.info("status mail done", extra={"job": job_id, "detail": detail})

    async def postpone_notification(self, job_id: str, until: datetime) -> None:
        await self._execute(
            "UPDATE jobs SET notify_next_at = %s, notify_owner = NULL, notify_lease_until = NULL "
            "WHERE id = %s",
            (until.timestamp(), job_id),
        )

    async def record_failure(
        self, job_id: str, *, actor: Actor, now: datetime, detail: str, retry_at: datetime | None
    ) -> int:
        """Count an unexpected error against the job, note it in its history, and return the count.

        A final job's status-mail claim is let go, so that it is retried at ``retry_at``.
        """
        retry = None if retry_at is None else retry_at.timestamp()
        rows = await self._execute(
            f"WITH counted AS (UPDATE jobs SET failures = failures + 1, "  # noqa: S608
            f"last_error = CASE WHEN {FINAL_CONDITION} THEN last_error ELSE %(detail)s END, "
            f"next_attempt_at = CASE WHEN {FINAL_CONDITION} THEN next_attempt_at "
            "ELSE coalesce(%(retry)s, next_attempt_at) END, "
            f"notify_next_at = CASE WHEN {FINAL_CONDITION} THEN coalesce(%(retry)s, notify_next_at) "
            "ELSE notify_next_at END, "
            f"notify_owner = CASE WHEN {FINAL_CONDITION} THEN NULL ELSE notify_owner END, "
            f"notify_lease_until = CASE WHEN {FINAL_CONDITION} THEN NULL ELSE notify_lease_until END "
            "WHERE id = %(id)s RETURNING id, state, failures), "
            "history AS (INSERT INTO events (job_id, at, state, detail, actor) "
            "SELECT id, %(at)s, state, %(detail)s, %(actor)s FROM counted) "
            "SELECT failures FROM counted",
            {"retry": retry, "id": job_id, "at": now.timestamp(), "detail": detail, "actor": actor.value},
        )
        return int(rows[0][0]) if rows else 0

    async def flush_notifications(self, now: datetime) -> int:
        rows = await self._execute(
            f"UPDATE jobs SET notify_next_at = %(now)s WHERE {FINAL_CONDITION} "  # noqa: S608
            "AND notified_at IS NULL AND notify_next_at > %(now)s RETURNING id",
            {"now": now.timestamp()},
        )
        return len(rows)
