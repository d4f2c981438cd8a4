"""What the parts of the SQLite store share: the connection, the spool, and one writer at a time."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import aiosqlite

from mail2fax.models import Job
from mail2fax.queue.group_commit import GroupCommit
from mail2fax.queue.schema import (
    JOB_COLUMNS,
    job_from_row,
    translate,
)
from mail2fax.queue.spool import Spool
from mail2fax.queue.writer_turn import WriterTurn

log = logging.getLogger("mail2fax.store")


class SqliteBase:
    """The connection and the spool; ``queue.sqlite.SqliteStore`` combines the parts."""

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
