"""What the parts of the PostgreSQL store share: the pool, this bridge's name and lease, and
running SQL."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from mail2fax.clock import WallClock, utcnow
from mail2fax.models import FINAL_STATES, Job, JobState
from mail2fax.queue.group_commit import GroupCommit
from mail2fax.queue.pg_documents import DocumentCache
from mail2fax.queue.pg_schema import translate
from mail2fax.queue.quota_reserve import lock_quotas
from mail2fax.queue.schema import JOB_COLUMNS, job_from_row

SUBMITTING = JobState.SUBMITTING.value
FINAL = [s.value for s in FINAL_STATES]
# Jobs moved out of ``submitting`` only by the bridge holding their lease.
HOLDER_ONLY = f"(state <> '{SUBMITTING}' OR lease_owner IS NULL OR lease_owner = %(me)s)"
# Jobs moved into ``submitting`` only by the bridge holding their claim (or lease), or, from
# ``queued``/``deferred``, when nobody holds a live claim on them: a live claim is never stolen.
CLAIM_HOLDER = (
    "(lease_owner IS NULL OR lease_owner = %(me)s "
    f"OR (state <> '{SUBMITTING}' AND lease_expires_at < %(stamp)s))"
)


class PostgresBase:
    """The pool and this bridge's identity; ``queue.postgres.PostgresStore`` combines the parts."""

    def __init__(
        self,
        pool: AsyncConnectionPool[psycopg.AsyncConnection[tuple[Any, ...]]],
        cache: DocumentCache,
        *,
        lease: float,
        on_transition: Callable[[Job], None] | None = None,
        wall: WallClock = utcnow,
    ):
        self._pool = pool
        self._cache = cache
        self.lease = lease
        self._wall = wall
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self._on_transition = on_transition
        self._group = GroupCommit(self._pipelined_transaction, self._group_fetch, serialise=lock_quotas)
        self._renewer: asyncio.Task[None] | None = None
        self._started = wall().timestamp()
        self.heartbeat = False  # the renewer writes this bridge's row in ``bridges``

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[psycopg.AsyncConnection[tuple[Any, ...]]]:
        try:
            async with self._pool.connection() as conn, conn.transaction():
                yield conn
        except psycopg.Error as exc:
            raise translate(exc) from exc

    @asynccontextmanager
    async def _pipelined_transaction(self) -> AsyncIterator[psycopg.AsyncConnection[tuple[Any, ...]]]:
        """A transaction whose statements are sent without waiting for each answer: the client
        waits only where it reads a result, and at the commit."""
        try:
            async with self._pool.connection() as conn, conn.transaction(), conn.pipeline():
                yield conn
        except psycopg.Error as exc:
            raise translate(exc) from exc

    async def _execute(self, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        try:
            async with self._pool.connection() as conn:
                cursor = await conn.execute(sql, params)
                return await cursor.fetchall() if cursor.description else []
        except psycopg.Error as exc:
            raise translate(exc) from exc

    async def _fetch_jobs(self, where: str, params: Any = ()) -> list[Job]:
        rows = await self._execute(f"SELECT {JOB_COLUMNS} FROM jobs {where}", params)  # noqa: S608
        return [job_from_row(row) for row in rows]

    async def _fetch_claimed(self, sql: str, params: dict[str, Any]) -> list[Job]:
        jobs = [job_from_row(row) for row in await self._execute(sql, params)]
        return sorted(jobs, key=lambda job: (job.finished_at or job.created_at, job.created_at))

    async def _group_fetch(self, where: str, params: Sequence[Any]) -> list[Job]:
        return await self._fetch_jobs(where.replace("?", "%s"), params)
