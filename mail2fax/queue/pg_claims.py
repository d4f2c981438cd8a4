"""The PostgreSQL store's claims: which bridge sends a due job, settles an interrupted one, tracks
a fax; the leases behind them, renewed while the bridge lives; and the bridge's heartbeat row.

Every claim is taken with ``SELECT … FOR UPDATE SKIP LOCKED``, so bridges asking at the same
moment get disjoint jobs, and is a lease: this bridge's owner id and an expiry. The claim of a
due job is not renewed (a job its bridge has not started sending within one lease is free for
the others again); the leases of jobs in ``submitting``, of tracked faxes and of status mails
are renewed every third of the lease until the bridge dies or stops.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from datetime import UTC, datetime

import psycopg

from mail2fax.errors import StoreError, StoreUnavailable
from mail2fax.models import Bridge, Job
from mail2fax.queue.pg_base import SUBMITTING, PostgresBase
from mail2fax.queue.pg_clock import ClockWatch
from mail2fax.queue.schema import DUE_CONDITION, JOB_COLUMNS, TRACKED_CONDITION, job_from_row, moment

log = logging.getLogger("mail2fax.store")

# Seconds a dead bridge's heartbeat row is kept, to show when it was last seen.
GONE = 24 * 3600.0
# A due job's claim is free for this bridge: nobody's, its own, or expired.
CLAIMABLE = "(lease_owner IS NULL OR lease_owner = %(me)s OR lease_expires_at < %(now)s)"
# Another bridge, of a lower id, holds a live lease on a fax it tracks.
LOWER_TRACKER = (
    f"EXISTS (SELECT 1 FROM jobs AS other WHERE other.{TRACKED_CONDITION} "  # noqa: S608
    "AND other.track_owner < %(me)s AND other.track_lease_until >= %(now)s)"
)


class PostgresClaims(PostgresBase):
    async def due(self, now: datetime, limit: int) -> list[Job]:
        """Claim due jobs no other bridge holds a live claim on, for one lease (not renewed)."""
        rows = await self._execute(
            "UPDATE jobs SET lease_owner = %(me)s, lease_expires_at = %(until)s WHERE id IN ("  # noqa: S608
            f"SELECT id FROM jobs WHERE {DUE_CONDITION} AND next_attempt_at <= %(now)s AND {CLAIMABLE} "
            "ORDER BY next_attempt_at, created_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED) "
            f"RETURNING {JOB_COLUMNS}",
            {"me": self.owner, "until": now.timestamp() + self.lease, "now": now.timestamp(), "limit": limit},
        )
        jobs = [job_from_row(row) for row in rows]
        return sorted(jobs, key=lambda job: (job.next_attempt_at or job.created_at, job.created_at))

    async def next_due_at(self) -> datetime | None:
        """When the next job is due that this bridge may claim: a live claim of another bridge
        holds its job back until the claim expires."""
        rows = await self._execute(
            "SELECT min(CASE WHEN lease_owner IS NULL OR lease_owner = %s THEN next_attempt_at "  # noqa: S608
            f"ELSE greatest(next_attempt_at, lease_expires_at) END) FROM jobs WHERE {DUE_CONDITION}",
            (self.owner,),
        )
        return moment(rows[0][0] if rows else None)

    async def interrupted(self, now: datetime) -> list[Job]:
        """Claim the ``submitting`` jobs nobody works on: this bridge's own, and expired leases."""
        return await self._fetch_claimed(
            f"UPDATE jobs SET lease_owner = %(me)s, lease_expires_at = %(until)s WHERE id IN ("  # noqa: S608
            f"SELECT id FROM jobs WHERE state = '{SUBMITTING}' AND (lease_owner IS NULL "
            "OR lease_owner = %(me)s OR lease_expires_at < %(now)s) FOR UPDATE SKIP LOCKED) "
            f"RETURNING {JOB_COLUMNS}",
            {"me": self.owner, "until": now.timestamp() + self.lease, "now": now.timestamp()},
        )

    async def tracked(self, now: datetime) -> list[Job]:
        """Claim the faxes to track: this bridge's own, new ones, and those whose tracker's lease
        expired, unless a bridge of a lower id tracks faxes. Then this bridge lets its own go
        to that one: tracking gathers on one bridge, whose one listing a cycle reads them all."""
        params = {"me": self.owner, "until": now.timestamp() + self.lease, "now": now.timestamp()}
        rows = await self._execute(
            "UPDATE jobs SET track_owner = %(me)s, track_lease_until = %(until)s WHERE id IN ("  # noqa: S608
            f"SELECT id FROM jobs WHERE {TRACKED_CONDITION} AND (track_owner IS NULL "
            f"OR track_owner = %(me)s OR track_lease_until < %(now)s) AND NOT {LOWER_TRACKER} "
            f"FOR UPDATE SKIP LOCKED) RETURNING {JOB_COLUMNS}",
            params,
        )
        if not rows:
            await self._execute(
                "UPDATE jobs SET track_owner = NULL, track_lease_until = NULL "  # noqa: S608
                f"WHERE {TRACKED_CONDITION} AND track_owner = %(me)s AND {LOWER_TRACKER}",
                params,
            )
        return sorted((job_from_row(row) for row in rows), key=lambda job: job.created_at)

    async def _renew_leases(self) -> None:
        watch = ClockWatch(self._wall, self.lease)
        while True:
            await asyncio.sleep(self.lease / 3)
            until = self._wall().timestamp() + self.lease
            params = {"until": until, "me": self.owner}
            try:
                await self._execute(
                    "UPDATE jobs SET lease_expires_at = %(until)s WHERE lease_owner = %(me)s "  # noqa: S608
                    f"AND state = '{SUBMITTING}'",
                    params,
                )
                await self._execute(
                    "UPDATE jobs SET notify_lease_until = %(until)s WHERE notify_owner = %(me)s "
                    "AND notified_at IS NULL",
                    params,
                )
                await self._execute(
                    f"UPDATE jobs SET track_lease_until = %(until)s WHERE {TRACKED_CONDITION} "  # noqa: S608
                    "AND track_owner = %(me)s",
                    params,
                )
                if self.heartbeat:
                    await self._heartbeat()
                    await self._execute(
                        "DELETE FROM bridges WHERE seen_at < %s", (until - self.lease - GONE,)
                    )
                async with self._pool.connection() as conn:
                    await watch.check(conn)
            except StoreError as exc:
                log.warning("cannot renew this bridge's leases", extra={"error": str(exc)})
            except psycopg.Error as exc:
                log.warning("cannot compare this host's clock with the database's", extra={"error": str(exc)})

    async def _heartbeat(self) -> None:
        """Write this bridge's row in ``bridges``: it is alive, and the database takes writes."""
        await self._execute(
            "INSERT INTO bridges (owner, host, pid, started_at, seen_at) VALUES (%s, %s, %s, %s, %s) "
            "ON CONFLICT (owner) DO UPDATE SET seen_at = EXCLUDED.seen_at",
            (self.owner, socket.gethostname(), os.getpid(), self._started, self._wall().timestamp()),
        )

    async def bridges(self) -> list[Bridge]:
        rows = await self._execute(
            "SELECT owner, host, pid, started_at, seen_at FROM bridges ORDER BY seen_at DESC, owner"
        )
        return [
            Bridge(owner, host, pid, datetime.fromtimestamp(started, UTC), datetime.fromtimestamp(seen, UTC))
            for owner, host, pid, started, seen in rows
        ]

    async def _let_go(self) -> None:
        """At a clean stop: give back this bridge's claims of due jobs and the faxes it tracks,
        and remove its heartbeat row. Leases of jobs in ``submitting`` stay: recovery needs them."""
        await self._execute(
            "UPDATE jobs SET lease_owner = NULL, lease_expires_at = NULL "  # noqa: S608
            f"WHERE {DUE_CONDITION} AND lease_owner = %(me)s",
            {"me": self.owner},
        )
        await self._execute(
            "UPDATE jobs SET track_owner = NULL, track_lease_until = NULL "  # noqa: S608
            f"WHERE {TRACKED_CONDITION} AND track_owner = %(me)s",
            {"me": self.owner},
        )
        await self._execute("DELETE FROM bridges WHERE owner = %s", (self.owner,))

    async def check_writable(self) -> None:
        """A real write: this bridge's heartbeat row."""
        try:
            await self._heartbeat()
        except StoreError as exc:
            if isinstance(exc.__cause__, psycopg.errors.ReadOnlySqlTransaction):
                raise StoreUnavailable("the PostgreSQL queue is a read-only standby") from exc
            raise
