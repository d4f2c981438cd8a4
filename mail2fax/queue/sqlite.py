"""The SQLite store: jobs, their documents and their history in one SQLite file; document bytes in the spool.

All SQL of this store lives here and in ``queue.schema``. A job becomes visible only when its row commits, and
its documents are written and fsynced to the spool before that, so a ``250`` means "on disk".
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite

from mail2fax.errors import DuplicateMail
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
from mail2fax.queue import codec, files
from mail2fax.queue.group_commit import GroupCommit, PendingWrite
from mail2fax.queue.rate_slots import slot_wait
from mail2fax.queue.schema import (
    DUE_CONDITION,
    FINAL_CONDITION,
    JOB_COLUMNS,
    MIGRATIONS,
    TRACKED_CONDITION,
    UPDATABLE,
    document_pages,
    job_from_row,
    moment,
    queued_facts,
    translate,
)
from mail2fax.queue.spool import Spool
from mail2fax.queue.writer_turn import WriterTurn

log = logging.getLogger("mail2fax.store")

# Seconds a rate-limit entry is kept: longer than any window or pause the pacer accepts.
RATE_HORIZON = 3600.0

BACKLOG = (
    "SELECT COUNT(*), MIN(finished_at) FROM jobs INDEXED BY jobs_awaiting_notification "  # noqa: S608
    f"WHERE notified_at IS NULL AND {FINAL_CONDITION}"
)


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


def new_job_id() -> str:
    return secrets.token_hex(6)


class SqliteStore:
    """The SQLite queue. Open it with :meth:`open`; every method is safe to call concurrently."""

    def __init__(
        self,
        db: aiosqlite.Connection,
        spool: Spool,
        *,
        on_transition: Callable[[Job], None] | None = None,
        writer_turn: WriterTurn | None = None,
    ):
        self._db = db
        self._spool = spool
        self._write_lock = asyncio.Lock()
        self._writer_turn = writer_turn
        self._group = GroupCommit(self._transaction, self._fetch_jobs)
        # Called with the job after each successful transition (metrics).
        self._on_transition = on_transition

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

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._write_lock:
            if self._writer_turn is not None:
                await self._writer_turn.acquire()
            try:
                async with self._begun() as db:
                    yield db
            finally:
                if self._writer_turn is not None:
                    self._writer_turn.release()

    @asynccontextmanager
    async def _begun(self) -> AsyncIterator[aiosqlite.Connection]:
        try:
            await self._db.execute("BEGIN IMMEDIATE")
        except (sqlite3.Error, OSError) as exc:
            raise translate(exc) from exc
        try:
            yield self._db
            await self._db.execute("COMMIT")
        except BaseException as exc:
            try:
                await self._db.execute("ROLLBACK")
            except sqlite3.Error:
                log.debug("rollback failed", exc_info=True)
            if isinstance(exc, sqlite3.Error | OSError):
                raise translate(exc) from exc
            raise

    async def _fetch_jobs(self, where: str, params: Sequence[Any] = ()) -> list[Job]:
        try:
            async with self._db.execute(f"SELECT {JOB_COLUMNS} FROM jobs {where}", params) as cursor:  # noqa: S608
                rows = await cursor.fetchall()
        except (sqlite3.Error, OSError) as exc:
            raise translate(exc) from exc
        return [job_from_row(row) for row in rows]

    async def _scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        try:
            async with self._db.execute(sql, params) as cursor:
                row = await cursor.fetchone()
        except (sqlite3.Error, OSError) as exc:
            raise translate(exc) from exc
        return row[0] if row else None

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
        """Write the documents, then commit the job: when this returns the job is durable.

        With ``duplicate_since``, a job for the same mail created since then makes this raise
        DuplicateMail instead (see ``_refuse_duplicate``); the check and the insert are one transaction,
        so two copies of a mail arriving together cannot both become faxes.
        """
        job_id = job_id or new_job_id()
        try:
            paths = await asyncio.to_thread(self._spool.write, job_id, request.documents)
        except OSError as exc:
            raise translate(exc) from exc
        stamp = now.timestamp()

        async def write(db: aiosqlite.Connection) -> None:
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

    async def get(self, job_id: str) -> Job | None:
        jobs = await self._fetch_jobs("WHERE id = ?", (job_id,))
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
        values = {name: self._column_value(name, value) for name, value in fields.items()}
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

    @staticmethod
    def _column_value(name: str, value: Any) -> Any:
        if name == "results":
            return codec.results_to_json(value)
        if isinstance(value, datetime):
            return value.timestamp()
        return value

    async def due(self, now: datetime, limit: int) -> list[Job]:
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

    async def tracked(self) -> list[Job]:
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

    async def count_numbers(self, *, since: datetime, sender: str | None = None) -> int:
        if sender is None:
            value = await self._scalar(
                "SELECT SUM(number_count) FROM jobs WHERE created_at >= ?", (since.timestamp(),)
            )
        else:
            value = await self._scalar(
                "SELECT SUM(number_count) FROM jobs WHERE sender = ? AND created_at >= ?",
                (sender, since.timestamp()),
            )
        return int(value or 0)

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

    async def record_rate_request(self, group: str, at: datetime) -> None:
        """Remember that a request of ``group`` left at ``at``; forget entries over an hour old."""
        stamp = at.timestamp()
        async with self._transaction() as db:
            await db.execute(
                "INSERT INTO rate_events (rate_group, kind, at) VALUES (?, 'request', ?)", (group, stamp)
            )
            for kind in ("request", "pause"):
                await db.execute(
                    "DELETE FROM rate_events WHERE rate_group = ? AND kind = ? AND at < ?",
                    (group, kind, stamp - RATE_HORIZON),
                )

    async def record_rate_pause(self, group: str, until: datetime) -> None:
        async with self._transaction() as db:
            await db.execute(
                "INSERT INTO rate_events (rate_group, kind, at) VALUES (?, 'pause', ?)",
                (group, until.timestamp()),
            )

    async def rate_window(self, group: str, since: datetime) -> RateWindow:
        try:
            async with self._db.execute(
                "SELECT at FROM rate_events WHERE rate_group = ? AND kind = 'request' AND at >= ? "
                "ORDER BY at",
                (group, since.timestamp()),
            ) as cursor:
                requests = tuple(datetime.fromtimestamp(row[0], UTC) for row in await cursor.fetchall())
        except (sqlite3.Error, OSError) as exc:
            raise translate(exc) from exc
        paused = await self._scalar(
            "SELECT MAX(at) FROM rate_events WHERE rate_group = ? AND kind = 'pause'", (group,)
        )
        return RateWindow(requests, moment(paused))

    async def take_rate_slot(self, group: str, at: datetime, limit: int, window: float) -> RateSlot:
        now = at.timestamp()
        async with self._transaction() as db:
            cursor = await db.execute(
                "SELECT at FROM rate_events WHERE rate_group = ? AND kind = 'request' AND at >= ? "
                "ORDER BY at",
                (group, now - window),
            )
            requests = [row[0] for row in await cursor.fetchall()]
            cursor = await db.execute(
                "SELECT MAX(at) FROM rate_events WHERE rate_group = ? AND kind = 'pause'", (group,)
            )
            paused = await cursor.fetchone()
            wait = slot_wait(requests, paused[0] if paused else None, now, limit, window)
            if wait > 0:
                return RateSlot(None, wait)
            cursor = await db.execute(
                "INSERT INTO rate_events (rate_group, kind, at) VALUES (?, 'request', ?)", (group, now)
            )
            slot = cursor.lastrowid
        return RateSlot(slot)

    async def finish_rate_slot(self, slot: int, at: datetime) -> None:
        async with self._transaction() as db:
            await db.execute("UPDATE rate_events SET at = MAX(at, ?) WHERE rowid = ?", (at.timestamp(), slot))

    async def status_mail_backlog(self) -> tuple[int, datetime | None]:
        try:
            async with self._db.execute(BACKLOG) as cursor:
                row = await cursor.fetchone()
        except (sqlite3.Error, OSError) as exc:
            raise translate(exc) from exc
        count, oldest = row if row else (0, None)
        return int(count), moment(oldest)

    async def check_writable(self) -> None:
        """Rewrite the health row, then write, sync and remove a file in the spool."""
        async with self._transaction() as db:
            await db.execute(
                "INSERT INTO health (id, checked_at) VALUES (1, ?) "
                "ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at",
                (datetime.now(UTC).timestamp(),),
            )
        await asyncio.to_thread(self._spool.probe)
