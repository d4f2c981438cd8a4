"""The PostgreSQL store: one queue shared by several bridges, documents included.

Work is claimed, not assumed. A job entering ``submitting`` carries a lease (this bridge's owner
id and an expiry) that a background task renews while the bridge lives; only the lease holder
moves the job out of ``submitting``, and another bridge claims it for recovery only once the
lease has expired. Status mails are claimed the same way, so each goes out from one bridge.
Duplicate suppression is a unique key, so two bridges taking the same mail cannot both queue it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import os
import secrets
import socket
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import AsyncConnectionPool

from mail2fax.clock import WallClock, utcnow
from mail2fax.errors import DuplicateMail, StoreError, StoreUnavailable
from mail2fax.models import (
    FINAL_STATES,
    Actor,
    FaxRequest,
    Job,
    JobEvent,
    JobState,
    RateSlot,
    RateWindow,
    StoredDocument,
    check_moves,
    hands_over,
)
from mail2fax.queue import codec
from mail2fax.queue.group_commit import GroupCommit, PendingWrite
from mail2fax.queue.pg_documents import DocumentCache, write_documents
from mail2fax.queue.pg_schema import migrate, translate
from mail2fax.queue.rate_slots import slot_wait
from mail2fax.queue.schema import (
    DUE_CONDITION,
    FINAL_CONDITION,
    JOB_COLUMNS,
    TRACKED_CONDITION,
    UPDATABLE,
    document_pages,
    job_from_row,
    moment,
    queued_facts,
)
from mail2fax.queue.sqlite import RATE_HORIZON, new_job_id

log = logging.getLogger("mail2fax.store")

# First key of the transaction locks that serialise taking rate-limit slots (the group is the second).
RATE_LOCK = 0x6D327274
# Seconds a taken rate-limit slot counts as in flight until its answer restamps it: longer than
# any request may take, so a bridge that died mid-request holds its slot no longer than this.
IN_FLIGHT = 300.0

SUBMITTING = JobState.SUBMITTING.value
FINAL = [s.value for s in FINAL_STATES]
# Jobs moved out of ``submitting`` only by the bridge holding their lease.
HOLDER_ONLY = f"(state <> '{SUBMITTING}' OR lease_owner IS NULL OR lease_owner = %(me)s)"


def describe(url: str) -> str:
    """Where a database URL points, without its password."""
    try:
        parts = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "the configured database"
    return f"database {parts.get('dbname', '?')} on {parts.get('host') or 'the local socket'}"


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


class PostgresStore:
    """The shared queue. Open it with :meth:`open`; every method is safe to call concurrently."""

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
        self._group = GroupCommit(self._transaction, self._group_fetch)
        self._renewer: asyncio.Task[None] | None = None

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
    ) -> PostgresStore:
        """Connect and migrate; ``wall`` is the time the leases this bridge renews run to."""
        pool: AsyncConnectionPool[psycopg.AsyncConnection[tuple[Any, ...]]] = AsyncConnectionPool(
            url, min_size=1, max_size=8, kwargs={"autocommit": True}, open=False, name="mail2fax"
        )
        try:
            await pool.open(wait=True, timeout=connect_timeout)
        except Exception as exc:
            await pool.close()
            raise StoreUnavailable(f"cannot reach the PostgreSQL queue ({describe(url)})") from exc
        store = cls(pool, DocumentCache(cache_root), lease=lease, on_transition=on_transition, wall=wall)
        try:
            async with pool.connection() as conn:
                await migrate(conn)
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
        await self._pool.close()
        await self._cache.close()

    async def _renew_leases(self) -> None:
        while True:
            await asyncio.sleep(self.lease / 3)
            until = self._wall().timestamp() + self.lease
            try:
                await self._execute(
                    "UPDATE jobs SET lease_expires_at = %(until)s WHERE lease_owner = %(me)s "
                    "AND state = %(submitting)s",
                    {"until": until, "me": self.owner, "submitting": SUBMITTING},
                )
                await self._execute(
                    "UPDATE jobs SET notify_lease_until = %(until)s WHERE notify_owner = %(me)s "
                    "AND notified_at IS NULL",
                    {"until": until, "me": self.owner},
                )
            except StoreError as exc:
                log.warning("cannot renew this bridge's leases", extra={"error": str(exc)})

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[psycopg.AsyncConnection[tuple[Any, ...]]]:
        try:
            async with self._pool.connection() as conn, conn.transaction():
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

    async def _group_fetch(self, where: str, params: Sequence[Any]) -> list[Job]:
        return await self._fetch_jobs(where.replace("?", "%s"), params)

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
    ) -> Job:
        """Commit the job and its documents in one transaction: when this returns it is durable.

        The mail's key (``duplicate_key``) is claimed in ``duplicate_keys`` in the same
        transaction; with ``duplicate_since``, a key held by a job created since then makes this
        raise DuplicateMail instead.
        """
        job_id = job_id or new_job_id()
        stamp = now.timestamp()

        async def write(conn: psycopg.AsyncConnection[tuple[Any, ...]]) -> None:
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

        pending = PendingWrite(job_id, write, asyncio.get_running_loop().create_future())
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

    async def get(self, job_id: str) -> Job | None:
        jobs = await self._fetch_jobs("WHERE id = %s", (job_id,))
        return jobs[0] if jobs else None

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
        unexpected errors. Entering ``submitting`` takes this bridge's lease; leaving it needs
        the lease.
        """
        leaving = list(leaving)
        check_moves(leaving, entering, actor, forced=forced)
        unknown = set(fields) - UPDATABLE
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        if hands_over(leaving, entering, actor):
            fields.setdefault("failures", 0)
        params: dict[str, Any] = {f"v_{name}": _column_value(name, value) for name, value in fields.items()}
        assignments = [f"{name} = %(v_{name})s" for name in fields]
        if entering is JobState.SUBMITTING:
            assignments += ["lease_owner = %(me)s", "lease_expires_at = %(lease_until)s"]
        else:
            assignments += ["lease_owner = NULL", "lease_expires_at = NULL"]
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
            f"{', '.join(assignments)} WHERE id = %(id)s AND state = ANY(%(leaving)s) AND {HOLDER_ONLY} "
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

    async def interrupted(self, now: datetime) -> list[Job]:
        """Claim the ``submitting`` jobs nobody works on: this bridge's own, and expired leases."""
        return await self._fetch_claimed(
            f"UPDATE jobs SET lease_owner = %(me)s, lease_expires_at = %(until)s WHERE id IN ("  # noqa: S608
            f"SELECT id FROM jobs WHERE state = '{SUBMITTING}' AND (lease_owner IS NULL "
            "OR lease_owner = %(me)s OR lease_expires_at < %(now)s) FOR UPDATE SKIP LOCKED) "
            f"RETURNING {JOB_COLUMNS}",
            {"me": self.owner, "until": now.timestamp() + self.lease, "now": now.timestamp()},
        )

    async def _fetch_claimed(self, sql: str, params: dict[str, Any]) -> list[Job]:
        jobs = [job_from_row(row) for row in await self._execute(sql, params)]
        return sorted(jobs, key=lambda job: (job.finished_at or job.created_at, job.created_at))

    async def due(self, now: datetime, limit: int) -> list[Job]:
        return await self._fetch_jobs(
            f"WHERE {DUE_CONDITION} AND next_attempt_at <= %s ORDER BY next_attempt_at, created_at LIMIT %s",
            (now.timestamp(), limit),
        )

    async def next_due_at(self) -> datetime | None:
        rows = await self._execute(f"SELECT min(next_attempt_at) FROM jobs WHERE {DUE_CONDITION}")  # noqa: S608
        return moment(rows[0][0] if rows else None)

    async def in_states(self, states: Iterable[JobState], limit: int = 10_000) -> list[Job]:
        return await self._fetch_jobs(
            "WHERE state = ANY(%s) ORDER BY created_at LIMIT %s", ([s.value for s in states], limit)
        )

    async def tracked(self) -> list[Job]:
        return await self._fetch_jobs(f"WHERE {TRACKED_CONDITION} ORDER BY created_at")

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

    async def count_numbers(self, *, since: datetime, sender: str | None = None) -> int:
        if sender is None:
            rows = await self._execute(
                "SELECT sum(number_count) FROM jobs WHERE created_at >= %s", (since.timestamp(),)
            )
        else:
            rows = await self._execute(
                "SELECT sum(number_count) FROM jobs WHERE sender = %s AND created_at >= %s",
                (sender, since.timestamp()),
            )
        return int(rows[0][0] or 0)

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

    async def record_rate_request(self, group: str, at: datetime) -> None:
        """Remember that a request of ``group`` left at ``at``; forget entries over an hour old."""
        async with self._transaction() as conn:
            await conn.execute(
                "INSERT INTO rate_events (rate_group, kind, at) VALUES (%s, 'request', %s)",
                (group, at.timestamp()),
            )
            await conn.execute(
                "DELETE FROM rate_events WHERE rate_group = %s AND at < %s",
                (group, at.timestamp() - RATE_HORIZON),
            )

    async def record_rate_pause(self, group: str, until: datetime) -> None:
        await self._execute(
            "INSERT INTO rate_events (rate_group, kind, at) VALUES (%s, 'pause', %s)",
            (group, until.timestamp()),
        )

    async def rate_window(self, group: str, since: datetime) -> RateWindow:
        rows = await self._execute(
            "SELECT at FROM rate_events WHERE rate_group = %s AND kind = 'request' AND at >= %s ORDER BY at",
            (group, since.timestamp()),
        )
        paused = await self._execute(
            "SELECT MAX(at) FROM rate_events WHERE rate_group = %s AND kind = 'pause'", (group,)
        )
        requests = tuple(datetime.fromtimestamp(row[0], UTC) for row in rows)
        return RateWindow(requests, moment(paused[0][0]) if paused else None)

    async def take_rate_slot(self, group: str, at: datetime, limit: int, window: float) -> RateSlot:
        """Take a slot under a per-group transaction lock, so bridges count each other's requests."""
        now = at.timestamp()
        async with self._transaction() as conn:
            await conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (RATE_LOCK, group))
            # A request still in flight counts as leaving now: its answer will restamp it.
            cursor = await conn.execute(
                "SELECT greatest(at, least(%s, coalesce(open_until, at))) FROM rate_events "
                "WHERE rate_group = %s AND kind = 'request' AND greatest(at, coalesce(open_until, at)) > %s",
                (now, group, now - window),
            )
            requests = [row[0] for row in await cursor.fetchall()]
            cursor = await conn.execute(
                "SELECT max(at) FROM rate_events WHERE rate_group = %s AND kind = 'pause'", (group,)
            )
            paused = await cursor.fetchone()
            wait = slot_wait(requests, paused[0] if paused else None, now, limit, window)
            if wait > 0:
                return RateSlot(None, wait)
            cursor = await conn.execute(
                "INSERT INTO rate_events (rate_group, kind, at, open_until) VALUES (%s, 'request', %s, %s) "
                "RETURNING id",
                (group, now, now + IN_FLIGHT),
            )
            row = await cursor.fetchone()
        assert row is not None
        return RateSlot(int(row[0]))

    async def finish_rate_slot(self, slot: int, at: datetime) -> None:
        await self._execute(
            "UPDATE rate_events SET at = greatest(at, %s), open_until = NULL WHERE id = %s",
            (at.timestamp(), slot),
        )

    async def status_mail_backlog(self) -> tuple[int, datetime | None]:
        rows = await self._execute(
            f"SELECT count(*), min(finished_at) FROM jobs WHERE {FINAL_CONDITION} AND notified_at IS NULL"  # noqa: S608
        )
        count, oldest = rows[0] if rows else (0, None)
        return int(count), moment(oldest)

    async def check_writable(self) -> None:
        rows = await self._execute("SELECT pg_is_in_recovery()")
        if rows and rows[0][0]:
            raise StoreUnavailable("the PostgreSQL queue is a read-only standby")


def _column_value(name: str, value: Any) -> Any:
    if name == "results":
        return codec.results_to_json(value)
    if isinstance(value, datetime):
        return value.timestamp()
    return value
