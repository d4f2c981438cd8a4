"""The SQLite store's reads: jobs, documents and history, for the stages and the commands."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import UTC, datetime

from mail2fax.models import Actor, Job, JobEvent, JobState, StoredDocument
from mail2fax.queue.quota_reserve import sqlite_count
from mail2fax.queue.schema import (
    DUE_CONDITION,
    FINAL_CONDITION,
    TRACKED_CONDITION,
    moment,
    translate,
)
from mail2fax.queue.sqlite_base import SqliteBase

BACKLOG = (
    "SELECT COUNT(*), MIN(finished_at) FROM jobs INDEXED BY jobs_awaiting_notification "  # noqa: S608
    f"WHERE notified_at IS NULL AND {FINAL_CONDITION}"
)


class SqliteReads(SqliteBase):
    async def get(self, job_id: str) -> Job | None:
        jobs = await self._fetch_jobs("WHERE id = ?", (job_id,))
        return jobs[0] if jobs else None

    async def due(self, now: datetime, limit: int) -> list[Job]:
        """The due jobs; nothing to claim, since one process owns this queue."""
        return await self._fetch_jobs(
            f"INDEXED BY jobs_due WHERE {DUE_CONDITION} AND next_attempt_at <= ? "
            "ORDER BY next_attempt_at, created_at LIMIT ?",
            (now.timestamp(), limit),
        )

    async def next_due_at(self) -> datetime | None:
        value = await self._scalar(
            f"SELECT MIN(next_attempt_at) FROM jobs INDEXED BY jobs_due WHERE {DUE_CONDITION}"  # noqa: S608
        )
        return moment(value)

    async def interrupted(self, now: datetime) -> list[Job]:
        """Every job left in ``submitting``: one process owns this queue, and it is not sending."""
        return await self.in_states([JobState.SUBMITTING])

    async def in_states(self, states: Iterable[JobState], limit: int = 10_000) -> list[Job]:
        values = [s.value for s in states]
        marks = ", ".join("?" for _ in values)
        return await self._fetch_jobs(
            f"WHERE state IN ({marks}) ORDER BY created_at LIMIT ?",
            (*values, limit),
        )

    async def tracked(self, now: datetime) -> list[Job]:
        """Every fax at the backend: one process owns this queue, and it tracks them all."""
        return await self._fetch_jobs(
            f"INDEXED BY jobs_tracked WHERE {TRACKED_CONDITION} ORDER BY created_at LIMIT ?", (10_000,)
        )

    async def list_jobs(self, states: Iterable[JobState] | None = None, limit: int = 1000) -> list[Job]:
        if states is None:
            return await self._fetch_jobs("ORDER BY created_at DESC LIMIT ?", (limit,))
        values = [s.value for s in states]
        marks = ", ".join("?" for _ in values)
        return await self._fetch_jobs(
            f"WHERE state IN ({marks}) ORDER BY created_at DESC LIMIT ?",
            (*values, limit),
        )

    async def count_by_state(self) -> dict[str, int]:
        """How many jobs are in each state (states without jobs are left out)."""
        try:
            async with self._db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state") as cursor:
                rows = await cursor.fetchall()
        except (sqlite3.Error, OSError) as exc:
            raise translate(exc) from exc
        return {state: int(count) for state, count in rows}

    async def documents(self, job_id: str) -> list[StoredDocument]:
        try:
            async with self._db.execute(
                "SELECT position, filename, content_type, size, path, pages FROM documents "
                "WHERE job_id = ? ORDER BY position",
                (job_id,),
            ) as cursor:
                rows = await cursor.fetchall()
        except (sqlite3.Error, OSError) as exc:
            raise translate(exc) from exc
        return [StoredDocument(*row) for row in rows]

    async def local_documents(self, job_id: str) -> list[StoredDocument]:
        return await self.documents(job_id)

    async def events(self, job_id: str) -> list[JobEvent]:
        try:
            async with self._db.execute(
                "SELECT at, state, detail, actor FROM events WHERE job_id = ? ORDER BY id", (job_id,)
            ) as cursor:
                rows = await cursor.fetchall()
        except (sqlite3.Error, OSError) as exc:
            raise translate(exc) from exc
        return [
            JobEvent(
                datetime.fromtimestamp(at, UTC), JobState(state), detail, Actor(actor) if actor else None
            )
            for at, state, detail, actor in rows
        ]

    async def backend_ids_submitted_since(self, since: datetime) -> set[str]:
        """The backend ids of jobs handed to the backend at or after ``since``."""
        try:
            async with self._db.execute(
                "SELECT backend_id FROM jobs WHERE backend_id IS NOT NULL AND submitted_at >= ?",
                (since.timestamp(),),
            ) as cursor:
                rows = await cursor.fetchall()
        except (sqlite3.Error, OSError) as exc:
            raise translate(exc) from exc
        return {row[0] for row in rows}

    async def count_numbers(self, *, since: datetime, sender: str | None = None) -> int:
        value = await self._scalar(*sqlite_count(since, sender))
        return int(value or 0)

    async def status_mail_backlog(self) -> tuple[int, datetime | None]:
        try:
            async with self._db.execute(BACKLOG) as cursor:
                row = await cursor.fetchone()
        except (sqlite3.Error, OSError) as exc:
            raise translate(exc) from exc
        count, oldest = row if row else (0, None)
        return int(count), moment(oldest)
