"""The track stage through run_once: a real SQLite queue, a fake backend, a clock that stands still."""

from __future__ import annotations

import logging

import pytest

from mail2fax.backends.base import FaxStatus, Outcome
from mail2fax.errors import TemporaryBackendError
from mail2fax.models import Actor, Job, JobState, RecipientResult
from mail2fax.queue.sqlite import SqliteStore
from mail2fax.settings import TrackSettings
from mail2fax.stages.doorbell import Doorbell
from mail2fax.stages.track import TrackStage
from tests.stages.harness import RETRY, Clock, FakeBackend, RecordingAlerts, moved, queued

SUBMIT, TRACK = Actor.SUBMIT, Actor.TRACK
DAY = 24 * 3600.0


@pytest.fixture
def finished() -> Doorbell:
    return Doorbell()


@pytest.fixture
def track(
    store: SqliteStore, backend: FakeBackend, clock: Clock, alerts: RecordingAlerts, finished: Doorbell
) -> TrackStage:
    return TrackStage(
        store,
        backend,
        settings=TrackSettings(interval=30, queued_timeout=DAY),
        retry=RETRY,
        wakeup=Doorbell(),
        finished=finished,
        clock=clock,
        alerts=alerts,
    )


async def at_the_backend(
    store: SqliteStore, clock: Clock, sender: str = "alice@example.com", **options: object
) -> Job:
    job = await queued(store, clock, sender, **options)
    state = JobState.SCHEDULED if options.get("send_at") else JobState.SUBMITTED
    return await moved(
        store,
        job,
        (JobState.SUBMITTING, SUBMIT),
        (state, SUBMIT),
        clock=clock,
        backend_id=f"fax-{job.id}",
        submitted_at=clock(),
    )


async def current(store: SqliteStore, job_id: str) -> Job:
    job = await store.get(job_id)
    assert job is not None
    return job


async def test_a_sent_fax_is_recorded_with_its_pages(
    store: SqliteStore, backend: FakeBackend, clock: Clock, track: TrackStage, finished: Doorbell
) -> None:
    job = await at_the_backend(store, clock)
    results = (RecipientResult("+14155551212", "Sent"),)
    backend.statuses_by_id[f"fax-{job.id}"] = FaxStatus(Outcome.SENT, page_count=3, results=results)
    clock.advance(90)
    assert await track.run_once() == 1
    done = await current(store, job.id)
    assert (done.state, done.page_count, done.results, done.finished_at) == (
        JobState.SENT,
        3,
        results,
        clock(),
    )
    assert (await store.events(job.id))[-1].actor is TRACK
    assert await finished.wait(0)


async def test_a_failed_fax_names_the_reasons(
    store: SqliteStore, backend: FakeBackend, clock: Clock, track: TrackStage
) -> None:
    job = await at_the_backend(store, clock)
    results = (
        RecipientResult("+14155551212", "SendingFailed", "LineBusy"),
        RecipientResult("+14155551313", "SendingFailed", "NoAnswer"),
    )
    backend.statuses_by_id[f"fax-{job.id}"] = FaxStatus(Outcome.FAILED, results=results)
    await track.run_once()
    failed = await current(store, job.id)
    assert (failed.state, failed.last_error) == (JobState.FAILED, "LineBusy, NoAnswer")


async def test_a_fax_queued_too_long_becomes_unknown(
    store: SqliteStore, backend: FakeBackend, clock: Clock, track: TrackStage
) -> None:
    job = await at_the_backend(store, clock)
    backend.statuses_by_id[f"fax-{job.id}"] = FaxStatus(Outcome.PENDING)
    clock.advance(DAY - 1)
    assert await track.run_once() == 0
    clock.advance(1)
    assert await track.run_once() == 1
    assert (await current(store, job.id)).state is JobState.UNKNOWN


async def test_a_scheduled_fax_counts_as_submitted_once_its_time_comes(
    store: SqliteStore, backend: FakeBackend, clock: Clock, track: TrackStage
) -> None:
    job = await at_the_backend(store, clock, send_at=clock.now.replace(hour=13))
    backend.statuses_by_id[f"fax-{job.id}"] = FaxStatus(Outcome.PENDING)
    await track.run_once()
    assert (await current(store, job.id)).state is JobState.SCHEDULED
    clock.advance(3600)
    await track.run_once()
    assert (await current(store, job.id)).state is JobState.SUBMITTED


async def test_an_unreadable_service_is_one_outage_in_the_log(
    store: SqliteStore,
    backend: FakeBackend,
    clock: Clock,
    track: TrackStage,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="mail2fax.track")
    job = await at_the_backend(store, clock)
    backend.status_error = TemporaryBackendError("RingCentral answered 503")
    for _ in range(4):
        assert await track.run_once() == 0
    backend.status_error = None
    backend.statuses_by_id[f"fax-{job.id}"] = FaxStatus(Outcome.SENT)
    assert await track.run_once() == 1
    assert [r.getMessage() for r in caplog.records if r.name == "mail2fax.track"] == [
        "cannot read fax statuses; will keep trying",
        "fax statuses are readable again",
    ]


async def test_a_job_whose_outcome_cannot_be_recorded_waits_then_becomes_unknown(
    store: SqliteStore,
    backend: FakeBackend,
    clock: Clock,
    track: TrackStage,
    alerts: RecordingAlerts,
    finished: Doorbell,
) -> None:
    poison = await at_the_backend(store, clock, "poison@example.com")
    good = await at_the_backend(store, clock)
    # A result the store cannot write: the backend's answer is not what mail2fax expects.
    garbled = (RecipientResult("+14155551212", object()),)  # type: ignore[arg-type]
    backend.statuses_by_id[f"fax-{poison.id}"] = FaxStatus(Outcome.SENT, results=garbled)
    backend.statuses_by_id[f"fax-{good.id}"] = FaxStatus(Outcome.SENT)
    assert await track.run_once() == 1
    assert (await current(store, good.id)).state is JobState.SENT
    waiting = await current(store, poison.id)
    assert (waiting.state, waiting.failures) == (JobState.SUBMITTED, 1)
    assert await track.run_once() == 0  # in its backoff: not even asked about
    assert (await current(store, poison.id)).failures == 1
    for _ in range(RETRY.internal_errors - 1):
        clock.advance(RETRY.max_backoff)
        await track.run_once()
    parked = await current(store, poison.id)
    assert parked.state is JobState.UNKNOWN
    assert parked.last_error == "mail2fax could not read this fax's outcome because of an internal error."
    assert [(park.stage, park.job.state) for park in alerts.parks] == [(TRACK, JobState.UNKNOWN)]
    assert await finished.wait(0)
