"""How jobs are kept in SQLite: the schema and its migrations, and a row read back as a Job."""

from __future__ import annotations

import errno
import secrets
import sqlite3
from datetime import UTC, datetime
from typing import Any

from mail2fax.errors import StoreError, StoreFull, StoreUnavailable
from mail2fax.models import FaxRequest, Job, JobState, Origin
from mail2fax.queue import codec

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        sender TEXT NOT NULL,
        recipients TEXT NOT NULL,
        cover_text TEXT NOT NULL,
        options TEXT NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        next_attempt_at REAL,
        expires_at REAL NOT NULL,
        message_id TEXT,
        subject TEXT NOT NULL DEFAULT '',
        content_digest TEXT NOT NULL DEFAULT '',
        backend TEXT NOT NULL DEFAULT '',
        backend_id TEXT,
        backend_uri TEXT,
        submit_started_at REAL,
        submitted_at REAL,
        finished_at REAL,
        last_error TEXT,
        page_count INTEGER,
        results TEXT NOT NULL DEFAULT '[]',
        notify INTEGER NOT NULL DEFAULT 1,
        notified_at REAL,
        notify_next_at REAL,
        notify_attempts INTEGER NOT NULL DEFAULT 0,
        documents_purged_at REAL
    );
    CREATE INDEX jobs_by_state ON jobs (state, next_attempt_at);
    CREATE INDEX jobs_by_sender ON jobs (sender, created_at);
    CREATE INDEX jobs_by_created ON jobs (created_at);
    CREATE INDEX jobs_by_backend_id ON jobs (backend_id);
    CREATE TABLE documents (
        job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        filename TEXT NOT NULL,
        content_type TEXT NOT NULL,
        size INTEGER NOT NULL,
        path TEXT NOT NULL,
        PRIMARY KEY (job_id, position)
    );
    CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
        at REAL NOT NULL,
        state TEXT NOT NULL,
        detail TEXT
    );
    CREATE INDEX events_by_job ON events (job_id, id);
    """,
    # Every statement of the intake path and of the stage cycles answered from an index, without a
    # temporary sort and without walking a sender's history: partial indexes hold exactly the rows
    # a stage looks for, so their cost does not grow with the queue (see tests/test_query_plans.py).
    """
    DROP INDEX jobs_by_state;
    CREATE INDEX jobs_by_state_age ON jobs (state, created_at);
    CREATE INDEX jobs_due ON jobs (next_attempt_at, created_at) WHERE state IN ('queued', 'deferred');
    CREATE INDEX jobs_tracked ON jobs (created_at) WHERE state IN ('submitted', 'scheduled');
    CREATE INDEX jobs_by_message_id ON jobs (message_id, created_at) WHERE message_id IS NOT NULL;
    CREATE INDEX jobs_by_submitted_at ON jobs (submitted_at) WHERE backend_id IS NOT NULL;
    CREATE INDEX jobs_awaiting_notification ON jobs (finished_at)
        WHERE notified_at IS NULL AND state IN ('sent', 'accepted', 'failed', 'unknown', 'cancelled');
    CREATE INDEX jobs_holding_documents ON jobs (finished_at)
        WHERE documents_purged_at IS NULL AND state IN ('sent', 'accepted', 'failed', 'unknown', 'cancelled');
    """,
    # Who made each change: a stage or the operator. Older history is attributed where its
    # detail says who it was (operator commands, intake's first line) and left blank otherwise.
    """
    ALTER TABLE events ADD COLUMN actor TEXT NOT NULL DEFAULT '';
    UPDATE events SET actor = 'operator' WHERE detail LIKE 'operator %';
    UPDATE events SET actor = 'intake' WHERE actor = '' AND state = 'queued' AND detail LIKE 'from %';
    """,
    """
    CREATE TABLE rate_events (
        rate_group TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('request', 'pause')),
        at REAL NOT NULL
    );
    CREATE INDEX rate_events_by_group ON rate_events (rate_group, kind, at);
    """,
    # Pages counted at intake: per document (NULL: not countable before RingCentral renders it)
    # and for the whole job (NULL unless every document was counted).
    """
    ALTER TABLE documents ADD COLUMN pages INTEGER;
    ALTER TABLE jobs ADD COLUMN document_pages INTEGER;
    """,
    # Unexpected errors a job caused at its current stage (stages/boundary.py). The unused
    # notify_attempts column stays: dropping a column needs SQLite 3.35.
    """
    ALTER TABLE jobs ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;
    """,
    # Quotas count the numbers dialled, not the mails; the indexes they count with cover the count.
    """
    ALTER TABLE jobs ADD COLUMN number_count INTEGER NOT NULL DEFAULT 1;
    UPDATE jobs SET number_count = max(1, json_array_length(recipients));
    DROP INDEX jobs_by_sender;
    CREATE INDEX jobs_by_sender ON jobs (sender, created_at, number_count);
    DROP INDEX jobs_by_created;
    CREATE INDEX jobs_by_created ON jobs (created_at, number_count);
    """,
    # The health check's real write: one row, rewritten each time.
    """
    CREATE TABLE health (id INTEGER PRIMARY KEY CHECK (id = 1), checked_at REAL NOT NULL);
    """,
    # The audit trail: who handed each mail over (models.Origin).
    """
    ALTER TABLE jobs ADD COLUMN client_address TEXT;
    ALTER TABLE jobs ADD COLUMN helo_name TEXT;
    ALTER TABLE jobs ADD COLUMN auth_user TEXT;
    """,
)

# The conditions of the partial indexes of migration 2, word for word: SQLite uses a partial index
# only for a query whose WHERE clause repeats its condition, literal values in the same order.
DUE_CONDITION = "state IN ('queued', 'deferred')"
TRACKED_CONDITION = "state IN ('submitted', 'scheduled')"
FINAL_CONDITION = "state IN ('sent', 'accepted', 'failed', 'unknown', 'cancelled')"

JOB_COLUMNS = (
    "id, sender, recipients, cover_text, options, state, attempts, created_at, updated_at, "
    "next_attempt_at, expires_at, message_id, subject, backend, backend_id, backend_uri, "
    "submit_started_at, submitted_at, finished_at, last_error, page_count, results, notify, "
    "notified_at, documents_purged_at, document_pages, failures, client_address, helo_name, auth_user"
)
UPDATABLE = frozenset(
    {
        "attempts",
        "next_attempt_at",
        "expires_at",
        "backend_id",
        "backend_uri",
        "submit_started_at",
        "submitted_at",
        "finished_at",
        "last_error",
        "page_count",
        "results",
        "notified_at",
        "failures",
    }
)


def new_job_id() -> str:
    return secrets.token_hex(6)


def timestamp(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def moment(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def job_from_row(row: sqlite3.Row | tuple[Any, ...]) -> Job:
    (
        job_id,
        sender,
        recipients,
        cover_text,
        options,
        state,
        attempts,
        created_at,
        updated_at,
        next_attempt_at,
        expires_at,
        message_id,
        subject,
        backend,
        backend_id,
        backend_uri,
        submit_started_at,
        submitted_at,
        finished_at,
        last_error,
        page_count,
        results,
        notify,
        notified_at,
        documents_purged_at,
        document_pages,
        failures,
        client_address,
        helo_name,
        auth_user,
    ) = row
    return Job(
        id=job_id,
        sender=sender,
        recipients=codec.recipients_from_json(recipients),
        cover_text=cover_text,
        options=codec.options_from_json(options),
        state=JobState(state),
        attempts=attempts,
        created_at=datetime.fromtimestamp(created_at, UTC),
        updated_at=datetime.fromtimestamp(updated_at, UTC),
        next_attempt_at=moment(next_attempt_at),
        expires_at=datetime.fromtimestamp(expires_at, UTC),
        message_id=message_id,
        subject=subject,
        backend=backend,
        backend_id=backend_id,
        backend_uri=backend_uri,
        submit_started_at=moment(submit_started_at),
        submitted_at=moment(submitted_at),
        finished_at=moment(finished_at),
        last_error=last_error,
        page_count=page_count,
        results=codec.results_from_json(results),
        notify=bool(notify),
        notified_at=moment(notified_at),
        documents_purged_at=moment(documents_purged_at),
        document_pages=document_pages,
        failures=failures,
        origin=Origin(client_address, helo_name, auth_user),
    )


def queued_facts(job_id: str, request: FaxRequest) -> dict[str, Any]:
    """The log fields of a job just queued, who handed it over included (the audit trail)."""
    origin = request.origin
    return {
        "job": job_id,
        "state": JobState.QUEUED.value,
        "sender": request.sender or "<>",
        "recipients": [r.number for r in request.recipients],
        "documents": len(request.documents),
        "client": origin.client,
        "helo": origin.helo,
        "user": origin.user,
    }


def document_pages(request: FaxRequest) -> int | None:
    """The pages of all the request's documents, when every one of them was counted."""
    pages = [document.pages for document in request.documents]
    return None if not pages or None in pages else sum(p for p in pages if p is not None)


def translate(exc: BaseException) -> StoreError:
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return StoreFull("the disk holding the queue is full")
    if isinstance(exc, sqlite3.Error) and getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
        return StoreFull("the disk holding the queue is full")
    return StoreUnavailable(f"the queue could not be written: {exc}")
