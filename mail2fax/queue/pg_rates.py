"""RingCentral's rate-limit windows kept in PostgreSQL, shared by every bridge on one account."""

from __future__ import annotations

from datetime import UTC, datetime

from mail2fax.models import RateSlot, RateWindow
from mail2fax.queue.pg_base import PostgresBase
from mail2fax.queue.rate_slots import RATE_HORIZON, slot_wait
from mail2fax.queue.schema import (
    moment,
)

# First key of the transaction locks that serialise taking rate-limit slots (the group is the second).
RATE_LOCK = 0x6D327274
# Seconds a taken rate-limit slot counts as in flight until its answer restamps it: longer than
# any request may take, so a bridge that died mid-request holds its slot no longer than this.
IN_FLIGHT = 300.0


class PostgresRates(PostgresBase):
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
