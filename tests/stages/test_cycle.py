"""The loop around run_once: a full disk is one outage in the log, not an ERROR every cycle."""

from __future__ import annotations

import asyncio
import logging
import sqlite3

import pytest

from mail2fax.queue.sqlite import SqliteStore
from mail2fax.settings import SubmitSettings
from mail2fax.stages.cycle import repeat
from mail2fax.stages.doorbell import Doorbell
from mail2fax.stages.submit import SubmitStage
from tests.conftest import wait_until
from tests.stages.harness import RETRY, Clock, FakeBackend, RecordingAlerts, queued


async def fill_the_disk(store: SqliteStore, job_id: str) -> None:
    """No room left for the queue: SQLite's page limit on the store's own connection, then filled."""
    db = store._db  # the limit is a setting of the connection that writes
    async with db.execute("PRAGMA page_count") as cursor:
        row = await cursor.fetchone()
    assert row is not None
    await db.execute(f"PRAGMA max_page_count = {int(row[0])}")
    for size in (500, 50, 0):  # large rows first, then whatever still fits in a page
        full = False
        while not full:
            try:
                await db.execute(
                    "INSERT INTO events (job_id, at, state, detail) VALUES (?, 0, 'queued', ?)",
                    (job_id, "x" * size),
                )
            except sqlite3.OperationalError as exc:
                full = "full" in str(exc)
                if not full:
                    raise


async def make_room(store: SqliteStore) -> None:
    await store._db.execute("PRAGMA max_page_count = 1073741823")


async def test_a_full_disk_is_logged_when_it_starts_and_when_it_ends(
    store: SqliteStore,
    backend: FakeBackend,
    clock: Clock,
    alerts: RecordingAlerts,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="mail2fax")
    job = await queued(store, clock)
    submit = SubmitStage(
        store,
        backend,
        settings=SubmitSettings(interval=0.01),
        retry=RETRY,
        wakeup=Doorbell(),
        submitted=Doorbell(),
        finished=Doorbell(),
        clock=clock,
        alerts=alerts,
    )
    cycles = 0

    async def cycle() -> int:
        nonlocal cycles
        cycles += 1
        return await submit.run_once()

    await fill_the_disk(store, job.id)
    stopping = asyncio.Event()
    loop = asyncio.create_task(repeat("submit", cycle, lambda: asyncio.sleep(0), stopping))
    try:
        await wait_until(lambda: cycles >= 10)
        assert backend.submitted == []
        await make_room(store)
        await wait_until(lambda: backend.submitted == [job.id])
    finally:
        stopping.set()
        await loop
    lines = [
        (r.levelname, r.getMessage(), getattr(r, "error", None))
        for r in caplog.records
        if r.name == "mail2fax"
    ]
    assert lines == [
        (
            "ERROR",
            "the queue is unavailable; the stage waits for it",
            "StoreFull: the disk holding the queue is full",
        ),
        ("WARNING", "the queue works again", None),
    ]
    assert alerts.errors == []  # the queue's trouble is nobody's job's
