"""The PostgreSQL store: one queue shared by several bridges, documents included.

Work is claimed, not assumed (``queue.pg_claims``): a due job goes to ``submitting`` only for the
bridge that claimed it, or when nobody holds a live claim. A job entering ``submitting`` carries
a lease (this bridge's owner id and an expiry) that a background task renews while the bridge
lives; only the lease holder moves the job out of ``submitting``, and another bridge claims it
for recovery only once the lease has expired. Faxes to track and status mails are claimed the
same way, so each is read and mailed by one bridge at a time.
Duplicate suppression is a unique key, so two bridges taking the same mail cannot both queue it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
from collections.abc import Callable, Iterable
from contextlib import suppress
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg

from mail2fax.clock import WallClock, utcnow
from mail2fax.errors import DuplicateMail, StoreError
from mail2fax.mail.quota import quotas_active
from mail2fax.models import (
    TRACKED_STATES,
    Actor,
    FaxRequest,
    Job,
    JobState,
    check_moves,
    hands_over,
)
from mail2fax.queue import codec
from mail2fax.queue.group_commit import PendingWrite
from mail2fax.queue.pg_base import CLAIM_HOLDER, HOLDER_ONLY
from mail2fax.queue.pg_claims import PostgresClaims
from mail2fax.queue.pg_clock import refuse_a_wrong_clock
from mail2fax.queue.pg_connect import open_pool
from mail2fax.queue.pg_documents import DocumentCache, write_documents
from mail2fax.queue.pg_notices import PostgresNotices
from mail2fax.queue.pg_rates import PostgresRates
from mail2fax.queue.pg_reads import PostgresReads
from mail2fax.queue.pg_retention import PostgresRetention
from mail2fax.queue.pg_schema import migrate, translate
from mail2fax.queue.quota_reserve import reserve_in_postgres
from mail2fax.queue.schema import (
    JOB_COLUMNS,
    UPDATABLE,
    document_pages,
    job_from_row,
    new_job_id,
    queued_facts,
)
from mail2fax.settings import QuotaSettings

log = logging.getLogger("mail2fax.store")


def duplicate_key(
    sender: str,
    message_id: str | None,
    content_digest: str,
    numbers: Iterable[str],
    options: str,
    cover_text: str,
) -> str:
    """The unique key of one mail: sender, Message-ID, documents, the numbers it goes to, options
    (as ``codec.options_to_json`` writes them) and cover text. Anything else is a new fax."""
    identity = [sender, message_id, content_digest, sorted(numbers), options, cover_text]
    return hashlib.sha256(json.dumps(identity).encode()).hexdigest()


class PostgresStore(PostgresReads, PostgresClaims, PostgresNotices, PostgresRetention, PostgresRates):
    """The shared queue. Open it with :meth:`open`; every method is safe to call concurrently."""

    @classmethod
    async def open(
        cls,
        url: str,
        cache_root: Path,
        *,
        lease: float = 60.0,
        connect_timeout: float = 15.0,
        on_transition: Callable[[Job], None] | None = None,
        wall: WallClock = utcnow,
        heartbeat: bool = False,
    ) -> PostgresStore:
        """Connect and migrate; ``wall`` is the time the leases this bridge renews run to.

        With ``heartbeat`` (a bridge's daemon, not its intake processes or a command) the lease
        renewer also writes this bridge's row in ``bridges``."""
        pool = await open_pool(url, connect_timeout)
        store = cls(pool, DocumentCache(cache_root), lease=lease, on_transition=on_transition, wall=wall)
        store.heartbeat = heartbeat
        try:
            async with pool.connection() as conn:
                await migrate(conn)
                await refuse_a_wrong_clock(conn, wall, lease)
            if heartbeat:
                await store._heartbeat()  # listed as alive from the start, not a third of a lease later
        except BaseException as exc:
            await pool.close()
            if isinstance(exc, psycopg.Error | StoreError):
                raise translate(exc) from exc
            raise
        store._renewer = asyncio.create_task(store._renew_leases())
        return store

    async def close(self) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
            with suppress(asyncio.CancelledError):
                await self._renewer
            with suppress(StoreError):
                await self._let_go()
        await self._pool.close()
        await self._cache.close()

    async def enqueue(
        self,
        request: FaxRequest,
        *,
        backend: str,
        lifetime: float,
        now: datetime,
        job_id: str | None = None,
        duplicate_since: datetime | None = None,
        actor: Actor = Actor.INTAKE,
        quota: QuotaSettings | None = None,
    ) -> Job:
        """Commit the job and its documents in one transaction: when this returns it is durable.

        The mail's key (``duplicate_key``) is claimed in ``duplicate_keys`` in the same
        transaction; with ``duplicate_since``, a key held by a job created since then makes this
        raise DuplicateMail instead. With ``quota``, the transaction first takes the quota lock and
        counts the mail's numbers against it (``queue.quota_reserve``).
        """
        job_id = job_id or new_job_id()
        limits = quota if quotas_active(quota) else None
        stamp = now.timestamp()

        async def write(conn: psycopg.AsyncConnection[tuple[Any, ...]]) -> None:
            if limits is not None:
                await reserve_in_postgres(conn, limits, request, now)
            if request.message_id:
                since = duplicate_since.timestamp() if duplicate_since is not None else math.inf
                await self._claim_key(conn, job_id, request, stamp, since)
            await conn.execute(
                "INSERT INTO jobs (id, sender, recipients, number_count, cover_text, options, state, "
                "created_at, updated_at, next_attempt_at, expires_at, message_id, subject, content_digest, "
                "backend, notify, document_pages, client_address, helo_name, auth_user) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    job_id,
                    request.sender,
                    codec.recipients_to_json(request.recipients),
                    len(request.recipients),
                    request.cover_text,
                    codec.options_to_json(request.options),
                    JobState.QUEUED.value,
                    stamp,
                    stamp,
                    stamp,
                    stamp + lifetime,
                    request.message_id,
                    request.subject,
                    request.content_digest,
                    backend,
                    int(request.notify),
                    document_pages(request),
                    request.origin.client,
                    request.origin.helo,
                    request.origin.user,
                ),
            )
            await write_documents(conn, job_id, request.documents)
            await conn.execute(
                "INSERT INTO events (job_id, at, state, detail, actor) VALUES (%s, %s, %s, %s, %s)",
                (job_id, stamp, JobState.QUEUED.value, f"from {request.sender or '<>'}", actor.value),
            )

        future = asyncio.get_running_loop().create_future()
        pending = PendingWrite(job_id, write, future, serialised=limits is not None)
        committed = await self._group.commit(pending)
        log.info("job queued", extra=queued_facts(job_id, request))
        job = committed or await self.get(job_id)
        assert job is not None
        return job

    @staticmethod
    async def _claim_key(
        conn: psycopg.AsyncConnection[tuple[Any, ...]],
        job_id: str,
        request: FaxRequest,
        stamp: float,
        since: float,
    ) -> None:
        key = duplicate_key(
            request.sender,
            request.message_id,
            request.content_digest,
            (recipient.number for recipient in request.recipients),
            codec.options_to_json(request.options),
            request.cover_text,
        )
        cursor = await conn.execute(
            "INSERT INTO duplicate_keys AS held (key, job_id, created_at) VALUES (%s, %s, %s) "
            "ON CONFLICT (key) DO UPDATE SET job_id = EXCLUDED.job_id, created_at = EXCLUDED.created_at "
            "WHERE held.created_at < %s RETURNING job_id",
            (key, job_id, stamp, since),
        )
        if await cursor.fetchone() is None:
            cursor = await conn.execute("SELECT job_id FROM duplicate_keys WHERE key = %s", (key,))
            row = await cursor.fetchone()
            raise DuplicateMail(str(row[0]) if row else "")

    async def transition(
        self,
        job_id: str,
        leaving: Iterable[JobState],
        entering: JobState,
        *,
        actor: Actor,
        now: datetime,
        detail: str | None = None,
        forced: bool = False,
        **fields: Any,
    ) -> Job | None:
        """Move a job from one of ``leaving`` to ``entering`` in one statement, with its history row.

        The moves must be ``actor``'s in ``models.TRANSITIONS`` (IllegalTransition otherwise,
        before anything is written). A move to another stage resets the job's count of
        unexpected errors. Entering ``submitting`` takes this bridge's lease and needs its
        claim (or no live claim of another bridge); leaving it needs the lease. A fax that leaves
        ``submitted`` and ``scheduled`` has no tracker any more.
        """
        leaving = list(leaving)
        check_moves(leaving, entering, actor, forced=forced)
        unknown = set(fields) - UPDATABLE
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        if hands_over(leaving, entering, actor):
            fields.setdefault("failures", 0)
        params: dict[str, Any] = {
            f"v_{name}": codec.column_value(name, value) for name, value in fields.items()
        }
        assignments = [f"{name} = %(v_{name})s" for name in fields]
        if entering is JobState.SUBMITTING:
            assignments += ["lease_owner = %(me)s", "lease_expires_at = %(lease_until)s"]
        else:
            assignments += ["lease_owner = NULL", "lease_expires_at = NULL"]
        if entering not in TRACKED_STATES:
            assignments += ["track_owner = NULL", "track_lease_until = NULL"]
        guard = CLAIM_HOLDER if entering is JobState.SUBMITTING else HOLDER_ONLY
        if "notified_at" in fields:
            assignments += ["notify_owner = NULL", "notify_lease_until = NULL"]
        stamp = now.timestamp()
        params.update(
            entering=entering.value,
            stamp=stamp,
            id=job_id,
            leaving=[state.value for state in leaving],
            me=self.owner,
            lease_until=stamp + self.lease,
            detail=detail,
            actor=actor.value,
        )
        rows = await self._execute(
            f"WITH moved AS (UPDATE jobs SET state = %(entering)s, updated_at = %(stamp)s, "  # noqa: S608
            f"{', '.join(assignments)} WHERE id = %(id)s AND state = ANY(%(leaving)s) AND {guard} "
            f"RETURNING {JOB_COLUMNS}), "
            "history AS (INSERT INTO events (job_id, at, state, detail, actor) "
            "SELECT id, %(stamp)s, %(entering)s, %(detail)s, %(actor)s FROM moved) "
            f"SELECT {JOB_COLUMNS} FROM moved",
            params,
        )
        if not rows:
            return None
        job = job_from_row(rows[0])
        facts: dict[str, Any] = {"job": job_id, "state": entering.value, "attempt": job.attempts}
        if job.backend_id:
            facts["fax_id"] = job.backend_id
        facts["by"] = actor.value
        if detail:
            facts["detail"] = detail
        log.info("job state changed", extra=facts)
        if entering is not JobState.SUBMITTING:
            await self._cache.forget(job_id)
        if self._on_transition is not None:
            self._on_transition(job)
        return job
