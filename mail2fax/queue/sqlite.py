"""The SQLite store: jobs, their documents and their history in one SQLite file; document bytes in the spool.

All SQL of this store lives here, in the ``queue.sqlite_*`` parts it is made of, and in
``queue.schema``. A job becomes visible only when its row commits, and its documents are written
and fsynced to the spool before that, so a ``250`` means "on disk".
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite

from mail2fax.errors import DuplicateMail
from mail2fax.mail.quota import quotas_active
from mail2fax.models import (
    Actor,
    Bridge,
    FaxRequest,
    Job,
    JobState,
    check_moves,
    hands_over,
)
from mail2fax.queue import codec, files
from mail2fax.queue.group_commit import PendingWrite
from mail2fax.queue.quota_reserve import reserve_in_sqlite
from mail2fax.queue.schema import (
    MIGRATIONS,
    UPDATABLE,
    document_pages,
    new_job_id,
    queued_facts,
    translate,
)
from mail2fax.queue.spool import Spool
from mail2fax.queue.sqlite_notices import SqliteNotices
from mail2fax.queue.sqlite_rates import SqliteRates
from mail2fax.queue.sqlite_reads import SqliteReads
from mail2fax.queue.sqlite_retention import SqliteRetention
from mail2fax.queue.writer_turn import WriterTurn
from mail2fax.settings import QuotaSettings

log = logging.getLogger("mail2fax.store")


async def _refuse_duplicate(db: aiosqlite.Connection, request: FaxRequest, since: datetime) -> None:
    """DuplicateMail if the same mail is a job already: same sender, Message-ID, recipients,
    documents and options. The same Message-ID with anything else is a new fax."""
    if not request.message_id:
        return
    cursor = await db.execute(
        "SELECT id, recipients, options, cover_text FROM jobs INDEXED BY jobs_by_message_id "
        "WHERE message_id = ? AND sender = ? AND content_digest = ? AND created_at >= ? "
        "ORDER BY created_at",
        (request.message_id, request.sender, request.content_digest, since.timestamp()),
    )
    numbers = sorted(r.number for r in request.recipients)
    for job_id, recipients, options, cover_text in await cursor.fetchall():
        if (
            sorted(r.number for r in codec.recipients_from_json(recipients)) == numbers
            and codec.options_from_json(options) == request.options
            and cover_text == request.cover_text
        ):
            raise DuplicateMail(str(job_id))


class SqliteStore(SqliteReads, SqliteNotices, SqliteRetention, SqliteRates):
    """The SQLite queue. Open it with :meth:`open`; every method is safe to call concurrently."""

    @classmethod
    async def open(
        cls, database: Path, spool_dir: Path, *, on_transition: Callable[[Job], None] | None = None
    ) -> SqliteStore:
        try:
            await asyncio.to_thread(files.prepare, database, spool_dir)
            db = await aiosqlite.connect(database, isolation_level=None)
            await db.execute("PRAGMA busy_timeout = 5000")
            await db.execute("PRAGMA journal_mode = WAL")
            await db.execute("PRAGMA synchronous = FULL")
            await db.execute("PRAGMA foreign_keys = ON")
            turn = WriterTurn(database.with_name(database.name + "-writer"))
            store = cls(db, Spool(spool_dir), on_transition=on_transition, writer_turn=turn)
            await store._migrate()
        except (sqlite3.Error, OSError) as exc:
            raise translate(exc) from exc
        return store

    async def close(self) -> None:
        await self._db.close()
        if self._writer_turn is not None:
            self._writer_turn.close()

    async def _migrate(self) -> None:
        async with self._db.execute("PRAGMA user_version") as cursor:
            row = await cursor.fetchone()
        version = int(row[0]) if row else 0
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            await self._db.executescript(
                f"BEGIN IMMEDIATE; {script}; PRAGMA user_version = {number}; COMMIT;"
            )
            log.info("store schema migrated", extra={"version": number})

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
        """Write the documents, then commit the job: when this returns the job is durable.

        With ``duplicate_since``, a job for the same mail created since then makes this raise
        DuplicateMail instead (see ``_refuse_duplicate``); the check and the insert are one transaction,
        so two copies of a mail arriving together cannot both become faxes. With ``quota``, the
        mail's numbers are counted against it in that transaction too (``queue.quota_reserve``).
        """
        job_id = job_id or new_job_id()
        limits = quota if quotas_active(quota) else None
        try:
            paths = await asyncio.to_thread(self._spool.write, job_id, request.documents)
        except OSError as exc:
            raise translate(exc) from exc
        stamp = now.timestamp()

        async def write(db: aiosqlite.Connection) -> None:
            if limits is not None:
                await reserve_in_sqlite(db, limits, request, now)
            if duplicate_since is not None:
                await _refuse_duplicate(db, request, duplicate_since)
            await db.execute(
                "INSERT INTO jobs (id, sender, recipients, number_count, cover_text, options, state, "
                "created_at, updated_at, next_attempt_at, expires_at, message_id, subject, content_digest, "
                "backend, notify, document_pages, client_address, helo_name, auth_user) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
            await db.executemany(
                "INSERT INTO documents (job_id, position, filename, content_type, size, path, pages) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (job_id, position, doc.filename, doc.content_type, len(doc.data), str(path), doc.pages)
                    for position, (doc, path) in enumerate(zip(request.documents, paths, strict=True))
                ],
            )
            await db.execute(
                "INSERT INTO events (job_id, at, state, detail, actor) VALUES (?, ?, ?, ?, ?)",
                (job_id, stamp, JobState.QUEUED.value, f"from {request.sender or '<>'}", actor.value),
            )

        pending = PendingWrite(job_id, write, asyncio.get_running_loop().create_future())
        try:
            committed = await self._group.commit(pending)
        except BaseException:
            # Keep the documents of a job a transaction may have committed: an orphaned spool
            # directory is removed at the next start, a job without its documents never is.
            if not pending.taken or pending.failed:
                await asyncio.to_thread(self._spool.remove, job_id)
            raise
        log.info("job queued", extra=queued_facts(job_id, request))
        job = committed or await self.get(job_id)
        assert job is not None
        return job

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
        """Move a job from one of ``leaving`` to ``entering`` in one checked statement.

        Every move named must be in the table of moves (``models.TRANSITIONS``) for ``actor``,
        or this raises IllegalTransition before anything is written. A move to another stage
        resets the job's count of unexpected errors. Returns the updated job, or None when the
        job was no longer in any ``leaving`` state.
        """
        leaving = list(leaving)
        check_moves(leaving, entering, actor, forced=forced)
        unknown = set(fields) - UPDATABLE
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        if hands_over(leaving, entering, actor):
            fields.setdefault("failures", 0)
        values = {name: codec.column_value(name, value) for name, value in fields.items()}
        assignments = "".join(f", {name} = ?" for name in values)
        leaving_states = [state.value for state in leaving]
        marks = ", ".join("?" for _ in leaving_states)
        stamp = now.timestamp()
        async with self._transaction() as db:
            cursor = await db.execute(
                f"UPDATE jobs SET state = ?, updated_at = ?{assignments} "  # noqa: S608
                f"WHERE id = ? AND state IN ({marks})",
                (entering.value, stamp, *values.values(), job_id, *leaving_states),
            )
            if cursor.rowcount != 1:
                return None
            await db.execute(
                "INSERT INTO events (job_id, at, state, detail, actor) VALUES (?, ?, ?, ?, ?)",
                (job_id, stamp, entering.value, detail, actor.value),
            )
        job = await self.get(job_id)
        assert job is not None
        facts: dict[str, Any] = {"job": job_id, "state": entering.value, "attempt": job.attempts}
        if job.backend_id:
            facts["fax_id"] = job.backend_id
        facts["by"] = actor.value
        if detail:
            facts["detail"] = detail
        log.info("job state changed", extra=facts)
        if self._on_transition is not None:
            self._on_transition(job)
        return job

    async def check_writable(self) -> None:
        """Rewrite the health row, then write, sync and remove a file in the spool."""
        async with self._transaction() as db:
            await db.execute(
                "INSERT INTO health (id, checked_at) VALUES (1, ?) "
                "ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at",
                (datetime.now(UTC).timestamp(),),
            )
        await asyncio.to_thread(self._spool.probe)

    async def bridges(self) -> list[Bridge]:
        """None: one process owns this queue, and no other daemon shares it."""
        return []
