"""How jobs are kept in PostgreSQL: the versioned schema, migrated by one bridge at a time.

Columns mirror the SQLite schema (times are seconds since the epoch, as there), so one row reader
(``queue.schema.job_from_row``) serves both stores. Add a NEW entry at the end of ``MIGRATIONS``
for a change; never edit an existing one. The version lives in ``mail2fax_schema``.
"""

from __future__ import annotations

import errno
import logging

import psycopg

from mail2fax.errors import StoreError, StoreFull, StoreUnavailable

log = logging.getLogger("mail2fax.store")

# pg_advisory_lock key held while migrating: any constant shared by every bridge ("m2fx").
MIGRATION_LOCK = 0x6D326678

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
        created_at DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL,
        next_attempt_at DOUBLE PRECISION,
        expires_at DOUBLE PRECISION NOT NULL,
        message_id TEXT,
        subject TEXT NOT NULL DEFAULT '',
        content_digest TEXT NOT NULL DEFAULT '',
        backend TEXT NOT NULL DEFAULT '',
        backend_id TEXT,
        backend_uri TEXT,
        submit_started_at DOUBLE PRECISION,
        submitted_at DOUBLE PRECISION,
        finished_at DOUBLE PRECISION,
        last_error TEXT,
        page_count INTEGER,
        results TEXT NOT NULL DEFAULT '[]',
        notify INTEGER NOT NULL DEFAULT 1,
        notified_at DOUBLE PRECISION,
        notify_next_at DOUBLE PRECISION,
        notify_attempts INTEGER NOT NULL DEFAULT 0,
        documents_purged_at DOUBLE PRECISION,
        lease_owner TEXT,
        lease_expires_at DOUBLE PRECISION,
        notify_owner TEXT,
        notify_lease_until DOUBLE PRECISION
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
        size BIGINT NOT NULL,
        PRIMARY KEY (job_id, position)
    );
    CREATE TABLE document_chunks (
        job_id TEXT NOT NULL,
        position INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        data BYTEA NOT NULL,
        PRIMARY KEY (job_id, position, seq),
        FOREIGN KEY (job_id, position) REFERENCES documents (job_id, position) ON DELETE CASCADE
    );
    ALTER TABLE document_chunks ALTER COLUMN data SET STORAGE EXTERNAL;
    CREATE TABLE events (
        id BIGSERIAL PRIMARY KEY,
        job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
        at DOUBLE PRECISION NOT NULL,
        state TEXT NOT NULL,
        detail TEXT
    );
    CREATE INDEX events_by_job ON events (job_id, id);
    CREATE TABLE duplicate_keys (
        key TEXT PRIMARY KEY,
        job_id TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX duplicate_keys_by_job ON duplicate_keys (job_id);
    """,
    # The partial indexes of the SQLite schema's migration 2 (same conditions, queries repeat them),
    # and one for the jobs in ``submitting`` that the lease claims look at.
    """
    DROP INDEX jobs_by_state;
    CREATE INDEX jobs_by_state_age ON jobs (state, created_at);
    CREATE INDEX jobs_due ON jobs (next_attempt_at, created_at) WHERE state IN ('queued', 'deferred');
    CREATE INDEX jobs_tracked ON jobs (created_at) WHERE state IN ('submitted', 'scheduled');
    CREATE INDEX jobs_by_submitted_at ON jobs (submitted_at) WHERE backend_id IS NOT NULL;
    CREATE INDEX jobs_awaiting_notification ON jobs (finished_at)
        WHERE notified_at IS NULL AND state IN ('sent', 'accepted', 'failed', 'unknown', 'cancelled');
    CREATE INDEX jobs_holding_documents ON jobs (finished_at)
        WHERE documents_purged_at IS NULL AND state IN ('sent', 'accepted', 'failed', 'unknown', 'cancelled');
    CREATE INDEX jobs_submitting ON jobs (created_at) WHERE state = 'submitting';
    """,
    # Who made each change, as in the SQLite schema's migration 3.
    """
    ALTER TABLE events ADD COLUMN actor TEXT NOT NULL DEFAULT '';
    UPDATE events SET actor = 'operator' WHERE detail LIKE 'operator %';
    UPDATE events SET actor = 'intake' WHERE actor = '' AND state = 'queued' AND detail LIKE 'from %';
    """,
    """
    CREATE TABLE rate_events (
        rate_group TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('request', 'pause')),
        at DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX rate_events_by_group ON rate_events (rate_group, kind, at);
    """,
    # Pages counted at intake, as in the SQLite schema's migration 5.
    """
    ALTER TABLE documents ADD COLUMN pages INTEGER;
    ALTER TABLE jobs ADD COLUMN document_pages INTEGER;
    """,
    # Unexpected errors a job caused at its current stage, as in the SQLite schema's migration 6.
    """
    ALTER TABLE jobs ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;
    """,
    # Rate-limit slots taken by the bridges are restamped by id when their answer arrives.
    """
    ALTER TABLE rate_events ADD COLUMN id BIGSERIAL PRIMARY KEY;
    ALTER TABLE rate_events ADD COLUMN open_until DOUBLE PRECISION;
    """,
    # Quotas count the numbers dialled, as in the SQLite schema's migration 7.
    """
    ALTER TABLE jobs ADD COLUMN number_count INTEGER NOT NULL DEFAULT 1;
    UPDATE jobs SET number_count = greatest(1, json_array_length(recipients::json));
    """,
    # The audit trail: who handed each mail over, as in the SQLite schema.
    """
    ALTER TABLE jobs ADD COLUMN client_address TEXT;
    ALTER TABLE jobs ADD COLUMN helo_name TEXT;
    ALTER TABLE jobs ADD COLUMN auth_user TEXT;
    """,
    # Claims (queue/pg_claims.py): a due job's claim takes the lease columns; tracking a fax has
    # a lease of its own.
    """
    ALTER TABLE jobs ADD COLUMN track_owner TEXT;
    ALTER TABLE jobs ADD COLUMN track_lease_until DOUBLE PRECISION;
    """,
    # Each bridge's heartbeat row: the health check's real write, and the list of live bridges.
    """
    CREATE TABLE bridges (
        owner TEXT PRIMARY KEY,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        started_at DOUBLE PRECISION NOT NULL,
        seen_at DOUBLE PRECISION NOT NULL
    );
    """,
)


async def migrate(conn: psycopg.AsyncConnection[tuple[object, ...]]) -> None:
    """Bring the schema to the newest version; other bridges wait on the advisory lock meanwhile.

    Refuses (StoreUnavailable, one line) a database that a newer mail2fax already migrated.
    """
    await conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
    try:
        await conn.execute("CREATE TABLE IF NOT EXISTS mail2fax_schema (version INTEGER NOT NULL)")
        cursor = await conn.execute("SELECT max(version) FROM mail2fax_schema")
        row = await cursor.fetchone()
        version = int(row[0]) if row and row[0] is not None else 0  # type: ignore[call-overload]
        if version > len(MIGRATIONS):
            raise StoreUnavailable(
                f"the PostgreSQL queue has schema version {version}, newer than this mail2fax "
                f"knows ({len(MIGRATIONS)}): upgrade mail2fax on this host"
            )
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            async with conn.transaction():
                await conn.execute(script)
                await conn.execute("INSERT INTO mail2fax_schema (version) VALUES (%s)", (number,))
            log.info("store schema migrated", extra={"version": number})
    finally:
        await conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))


def translate(exc: BaseException) -> StoreError:
    if isinstance(exc, StoreError):
        return exc
    if isinstance(exc, psycopg.errors.DiskFull):
        return StoreFull("the disk holding the queue is full")
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return StoreFull("the disk holding the queue is full")
    text = " ".join(str(exc).split())
    return StoreUnavailable(f"the queue could not be written: {text}")
