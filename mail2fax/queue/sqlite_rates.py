"""RingCentral's rate-limit windows kept in the SQLite file, so they survive a restart."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from mail2fax.models import RateSlot, RateWindow
from mail2fax.queue.rate_slots import RATE_HORIZON, slot_wait
from mail2fax.queue.schema import (
    moment,
    translate,
)
from mail2fax.queue.sqlite_base import SqliteBase


class SqliteRates(SqliteBase):
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
