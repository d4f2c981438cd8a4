"""Quotas reserved where mails are queued: counted in the transaction that inserts the job.

The gate counts early, before a client uploads its mail (``Store.count_numbers``); the store
counts again inside the transaction that queues the mail, and that count decides. Counting and
inserting are then one step for every process and bridge sharing the queue:

- SQLite lets one write transaction in at a time (``BEGIN IMMEDIATE``, and the writer turn
  across a daemon's intake processes), so the count inside it sees every job committed before.
- PostgreSQL lets transactions run side by side, so every transaction that counts first takes
  one transaction-scoped advisory lock (``QUOTA_LOCK``), before any other lock it takes (the
  duplicate key's row): the bridges count and insert one after another, and they always take
  their locks in the same order, so none waits on another in a circle. The lock is let go when
  the transaction commits, after its jobs became visible to the next one that counts.

Enqueues grouped into one transaction (``queue.group_commit``) count one after another in it,
each seeing the jobs of the ones before. Without quotas nothing here runs: no lock, no count.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import aiosqlite
import psycopg

from mail2fax.mail.quota import check_quotas
from mail2fax.models import FaxRequest
from mail2fax.settings import QuotaSettings

# pg_advisory_xact_lock key of the transactions that count quotas: any constant every bridge
# shares ("m2qt"), apart from the migration lock's.
QUOTA_LOCK = 0x6D327174

SQLITE_COUNT_ALL = "SELECT SUM(number_count) FROM jobs WHERE created_at >= ?"
SQLITE_COUNT_SENDER = "SELECT SUM(number_count) FROM jobs WHERE sender = ? AND created_at >= ?"
POSTGRES_COUNT_ALL = "SELECT sum(number_count) FROM jobs WHERE created_at >= %s"
POSTGRES_COUNT_SENDER = "SELECT sum(number_count) FROM jobs WHERE sender = %s AND created_at >= %s"


def sqlite_count(since: datetime, sender: str | None) -> tuple[str, tuple[Any, ...]]:
    """The statement counting numbers dialled since then, by ``sender`` or (None) by everyone."""
    if sender is None:
        return SQLITE_COUNT_ALL, (since.timestamp(),)
    return SQLITE_COUNT_SENDER, (sender, since.timestamp())


def postgres_count(since: datetime, sender: str | None) -> tuple[str, tuple[Any, ...]]:
    if sender is None:
        return POSTGRES_COUNT_ALL, (since.timestamp(),)
    return POSTGRES_COUNT_SENDER, (sender, since.timestamp())


async def reserve_in_sqlite(
    db: aiosqlite.Connection, limits: QuotaSettings, request: FaxRequest, now: datetime
) -> None:
    """Inside the write transaction: pass, or raise the gate's refusal for the limit not met."""

    async def count(since: datetime, sender: str | None) -> int:
        async with db.execute(*sqlite_count(since, sender)) as cursor:
            row = await cursor.fetchone()
        return int(row[0] or 0) if row else 0

    await check_quotas(limits, request.sender, len(request.recipients), now=now, count=count)


async def lock_quotas(conn: psycopg.AsyncConnection[Any]) -> None:
    """Take the quota lock for the rest of the transaction (first, before any other lock)."""
    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (QUOTA_LOCK,))


async def reserve_in_postgres(
    conn: psycopg.AsyncConnection[Any], limits: QuotaSettings, request: FaxRequest, now: datetime
) -> None:
    """Inside a transaction holding the quota lock: pass, or raise the gate's refusal."""

    async def count(since: datetime, sender: str | None) -> int:
        cursor = await conn.execute(*postgres_count(since, sender))
        row = await cursor.fetchone()
        return int(row[0] or 0) if row else 0

    await check_quotas(limits, request.sender, len(request.recipients), now=now, count=count)
