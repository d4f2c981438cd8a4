"""The retention stage through run_once: a real SQLite queue and spool, a clock that stands still."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from mail2fax.models import Actor, Job, JobState
from mail2fax.queue.sqlite import SqliteStore
from mail2fax.settings import RetentionSettings
from mail2fax.stages.retention import RetentionStage
from tests.stages.harness import RETRY, Clock, RecordingAlerts, moved, queued

KEEP = 3600.0


@pytest.fixture
def retention(store: SqliteStore, clock: Clock, alerts: RecordingAlerts) -> RetentionStage:
    return RetentionStage(
        store, settings=RetentionSettings(documents=KEEP), retry=RETRY, clock=clock, alerts=alerts
    )


async def finished(
    store: SqliteStore, clock: Clock, *, told: bool = True, sender: str = "alice@example.com"
) -> Job:
    job = await queued(store, clock, sender)
    job = await moved(store, job, (JobState.FAILED, Actor.SUBMIT), clock=clock, finished_at=clock())
    if told:
        await store.mark_notified(job.id, clock(), "status mail sent")
    return job


async def files(store: SqliteStore, job_id: str) -> list[bool]:
    return [Path(document.path).exists() for document in await store.documents(job_id)]


async def test_documents_go_after_the_retention_time_and_the_record_stays(
    store: SqliteStore, clock: Clock, retention: RetentionStage
) -> None:
    told = await finished(store, clock)
    untold = await finished(store, clock, told=False, sender="bob@example.com")
    waiting = await queued(store, clock, "carol@example.com")
    clock.advance(KEEP)
    assert await retention.run_once() == 0
    clock.advance(1)
    assert await retention.run_once() == 1
    assert await files(store, told.id) == [False]
    assert await files(store, untold.id) == [True]
    assert await files(store, waiting.id) == [True]
    kept = await store.get(told.id)
    assert kept is not None
    assert (kept.state, kept.documents_purged_at) == (JobState.FAILED, clock())
    assert await retention.run_once() == 0


async def test_a_job_whose_documents_cannot_be_deleted_is_left_and_the_operator_told(
    tmp_path: Path, store: SqliteStore, clock: Clock, retention: RetentionStage, alerts: RecordingAlerts
) -> None:
    good = await finished(store, clock)
    # A row whose id the spool refuses as a directory name: written by hand, as a damaged queue might hold it.
    with sqlite3.connect(tmp_path / "queue.sqlite3") as raw:
        raw.execute(
            "INSERT INTO jobs (id, sender, recipients, cover_text, options, state, created_at, updated_at, "
            "expires_at, finished_at, notified_at) VALUES ('../bad', 'a@example.com', '[]', '', '{}', "
            "'failed', ?, ?, ?, ?, ?)",
            (clock().timestamp(),) * 5,
        )
    clock.advance(KEEP + 1)
    assert await retention.run_once() == 1
    assert await files(store, good.id) == [False]
    for _ in range(RETRY.internal_errors - 1):
        assert await retention.run_once() == 0
    bad = await store.get("../bad")
    assert bad is not None
    assert (bad.failures, bad.documents_purged_at) == (RETRY.internal_errors, None)
    assert [(park.job.id, park.stage) for park in alerts.parks] == [("../bad", Actor.RETENTION)]
    assert await retention.run_once() == 0
    assert alerts.errors == [Actor.RETENTION] * RETRY.internal_errors  # left alone from then on
