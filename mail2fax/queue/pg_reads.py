"""The PostgreSQL store's reads: jobs, documents and history, for the stages and the commands."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

import psycopg

from mail2fax.models import Actor, Job, JobEvent, JobState, StoredDocument
from mail2fax.queue.pg_base import PostgresBase
from mail2fax.queue.pg_schema import translate
from mail2fax.queue.quota_reserve import postgres_count
from mail2fax.queue.schema import FINAL_CONDITION, moment


class PostgresReads(PostgresBase):
    async def get(self, job_id: str) -> Job | None:
        jobs = await self._fetch_jobs("WHERE id = %s", (job_id,))
        return jobs[0] if jobs else None

    async def in_states(self, states: Iterable[JobState], limit: int = 10_000) -> list[Job]:
        return await self._fetch_jobs(
            "WHERE state = ANY(%s) ORDER BY created_at LIMIT %s", ([s.value for s in states], limit)
        )

    async def list_jobs(self, states: Iterable[JobState] | None = None, limit: int = 1000) -> list[Job]:
        if states is None:
            return await self._fetch_jobs("ORDER BY created_at DESC LIMIT %s", (limit,))
        return await self._fetch_jobs(
            "WHERE state = ANY(%s) ORDER BY created_at DESC LIMIT %s", ([s.value for s in states], limit)
        )

    async def count_by_state(self) -> dict[str, int]:
        rows = await self._execute("SELECT state, count(*) FROM jobs GROUP BY state")
        return {state: int(count) for state, count in rows}

    async def documents(self, job_id: str) -> list[StoredDocument]:
        rows = await self._execute(
            "SELECT position, filename, content_type, size, pages FROM documents "
            "WHERE job_id = %s ORDER BY position",
            (job_id,),
        )
        return [
            StoredDocument(
                position, filename, content_type, size, str(self._cache.path(job_id, position)), pages
            )
            for position, filename, content_type, size, pages in rows
        ]

    async def local_documents(self, job_id: str) -> list[StoredDocument]:
        """The job's documents as files of this bridge's cache, streamed from the database."""
        stored = await self.documents(job_id)
        try:
            async with self._pool.connection() as conn:
                await self._cache.fetch(conn, job_id, stored)
        except psycopg.Error as exc:
            raise translate(exc) from exc
        except OSError as exc:
            raise translate(exc) from exc
        return stored

    async def events(self, job_id: str) -> list[JobEvent]:
        rows = await self._execute(
            "SELECT at, state, detail, actor FROM events WHERE job_id = %s ORDER BY id", (job_id,)
        )
        return [
            JobEvent(
                datetime.fromtimestamp(at, UTC), JobState(state), detail, Actor(actor) if actor else None
            )
            for at, state, detail, actor in rows
        ]

    async def backend_ids_submitted_since(self, since: datetime) -> set[str]:
        rows = await self._execute(
            "SELECT backend_id FROM jobs WHERE backend_id IS NOT NULL AND submitted_at >= %s",
            (since.timestamp(),),
        )
        return {row[0] for row in rows}

    async def count_numbers(self, *, since: datetime, sender: str | None = None) -> int:
        rows = await self._execute(*postgres_count(since, sender))
        return int(rows[0][0] or 0)

    async def status_mail_backlog(self) -> tuple[int, datetime | None]:
        rows = await self._execute(
            f"SELECT count(*), min(finished_at) FROM jobs WHERE {FINAL_CONDITION} AND notified_at IS NULL"  # noqa: S608
        )
        count, oldest = rows[0] if rows else (0, None)
        return int(count), moment(oldest)
