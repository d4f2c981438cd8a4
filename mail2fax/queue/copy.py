"""Moves an SQLite queue (database and spool) into a PostgreSQL queue, jobs, history and documents.

The SQLite side is read in one read transaction (a consistent snapshot, even while a daemon
writes to it); the PostgreSQL side is written in one transaction, so a copy that fails leaves
the target as it was. A job already in the target is replaced by the source's version, so the
copy can run once while the old daemon still works and once more after it stopped, and the
second run brings over what changed in between. Columns are matched by name, so both schemas
may carry columns the other lacks.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from mail2fax.errors import StoreUnavailable
from mail2fax.queue import codec
from mail2fax.queue.pg_connect import describe
from mail2fax.queue.pg_documents import CHUNK
from mail2fax.queue.pg_schema import translate
from mail2fax.queue.postgres import PostgresStore, duplicate_key

log = logging.getLogger("mail2fax.store")


@dataclass(frozen=True, slots=True)
class CopyResult:
    jobs: int
    documents: int
    bytes: int
    missing: tuple[str, ...]  # documents whose spool file was gone (already purged jobs excepted)


async def copy_sqlite_to_postgres(sqlite_path: Path, url: str, cache_root: Path) -> CopyResult:
    """Copy every job of the SQLite queue at ``sqlite_path`` into the PostgreSQL queue at ``url``."""
    if not await asyncio.to_thread(sqlite_path.is_file):
        raise StoreUnavailable(f"no SQLite queue at {sqlite_path}")
    # Opening the target creates or migrates its schema, under the same lock the bridges take.
    target = await PostgresStore.open(url, cache_root)
    await target.close()
    try:
        source = sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise StoreUnavailable(f"cannot read the SQLite queue at {sqlite_path}: {exc}") from exc
    try:
        source.execute("BEGIN")
        async with await psycopg.AsyncConnection.connect(url) as conn, conn.transaction():
            return await _copy(source, conn)
    except psycopg.Error as exc:
        raise StoreUnavailable(f"copy into {describe(url)} failed: {translate(exc)}") from exc
    except sqlite3.Error as exc:
        raise StoreUnavailable(f"cannot read the SQLite queue at {sqlite_path}: {exc}") from exc
    finally:
        source.close()


async def _columns(conn: psycopg.AsyncConnection[Any], table: str) -> list[str]:
    cursor = await conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
        "AND table_schema = current_schema() ORDER BY ordinal_position",
        (table,),
    )
    return [row[0] for row in await cursor.fetchall()]


def _sqlite_columns(source: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in source.execute(f"PRAGMA table_info({table})")]


async def _copy(source: sqlite3.Connection, conn: psycopg.AsyncConnection[Any]) -> CopyResult:
    target_jobs = set(await _columns(conn, "jobs"))
    job_columns = [name for name in _sqlite_columns(source, "jobs") if name in target_jobs]
    listed = ", ".join(job_columns)
    marks = ", ".join("%s" for _ in job_columns)
    jobs = source.execute(f"SELECT {listed} FROM jobs ORDER BY created_at").fetchall()  # noqa: S608
    ids = [row[job_columns.index("id")] for row in jobs]
    await conn.execute("DELETE FROM duplicate_keys WHERE job_id = ANY(%s)", (ids,))
    await conn.execute("DELETE FROM jobs WHERE id = ANY(%s)", (ids,))
    async with conn.cursor() as cursor:
        await cursor.executemany(f"INSERT INTO jobs ({listed}) VALUES ({marks})", jobs)  # noqa: S608
        target_events = set(await _columns(conn, "events")) - {"id"}
        event_columns = [name for name in _sqlite_columns(source, "events") if name in target_events]
        named = ", ".join(event_columns)
        events = source.execute(f"SELECT {named} FROM events ORDER BY id").fetchall()  # noqa: S608
        await cursor.executemany(
            f"INSERT INTO events ({named}) VALUES ({', '.join('%s' for _ in event_columns)})",  # noqa: S608
            events,
        )
        keys = source.execute(
            "SELECT sender, message_id, content_digest, recipients, options, cover_text, id, created_at "
            "FROM jobs WHERE message_id IS NOT NULL ORDER BY created_at"
        ).fetchall()
        await cursor.executemany(
            "INSERT INTO duplicate_keys (key, job_id, created_at) VALUES (%s, %s, %s) "
            "ON CONFLICT (key) DO UPDATE SET job_id = EXCLUDED.job_id, created_at = EXCLUDED.created_at",
            [
                (
                    duplicate_key(
                        sender,
                        mid,
                        digest,
                        (recipient.number for recipient in codec.recipients_from_json(recipients)),
                        codec.options_to_json(codec.options_from_json(options)),
                        cover,
                    ),
                    job_id,
                    at,
                )
                for sender, mid, digest, recipients, options, cover, job_id, at in keys
            ],
        )
    purged = {row[0] for row in source.execute("SELECT id FROM jobs WHERE documents_purged_at IS NOT NULL")}
    documents = source.execute(
        "SELECT job_id, position, filename, content_type, size, path FROM documents ORDER BY job_id, position"
    ).fetchall()
    copied, total, missing = 0, 0, []
    for job_id, position, filename, content_type, size, path in documents:
        await conn.execute(
            "INSERT INTO documents (job_id, position, filename, content_type, size) "
            "VALUES (%s, %s, %s, %s, %s)",
            (job_id, position, filename, content_type, size),
        )
        if job_id in purged:
            continue
        try:
            total += await _copy_file(conn, job_id, position, Path(path))
        except FileNotFoundError:
            missing.append(f"{job_id}/{filename}")
            continue
        copied += 1
    log.info("copied %d jobs and %d documents (%d bytes)", len(jobs), copied, total)
    return CopyResult(len(jobs), copied, total, tuple(missing))


async def _copy_file(conn: psycopg.AsyncConnection[Any], job_id: str, position: int, path: Path) -> int:
    """Stream one spool file into chunk rows, one chunk in memory at a time; returns its size."""
    handle = await asyncio.to_thread(path.open, "rb")
    size = 0
    try:
        for seq in range(1 << 30):
            data = await asyncio.to_thread(handle.read, CHUNK)
            if not data and seq > 0:
                break
            await conn.execute(
                "INSERT INTO document_chunks (job_id, position, seq, data) VALUES (%s, %s, %s, %s)",
                (job_id, position, seq, data),
            )
            size += len(data)
            if len(data) < CHUNK:
                break
    finally:
        await asyncio.to_thread(handle.close)
    return size
