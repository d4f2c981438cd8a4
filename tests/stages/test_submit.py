"""The submit stage through run_once: a real SQLite queue, a fake backend, a clock that stands still."""

from __future__ import annotations

import logging

import pytest

from mail2fax.backends.base import FaxStatus, Outcome, RecoveryResult, Settlement, Submission
from mail2fax.errors import PermanentBackendError, TemporaryBackendError, UncertainSubmission
from mail2fax.models import Actor, JobState
from mail2fax.queue.sqlite import SqliteStore
from mail2fax.settings import SubmitSettings
from mail2fax.stages.doorbell import Doorbell
from mail2fax.stages.submit import SubmitStage
from tests.stages.harness import (
    RETRY,
    Clock,
    FakeBackend,
    RecordingAlerts,
    Unexpected,
    history,
    pending,
    queued,
)

SUBMIT = Actor.SUBMIT


class Bells:
    def __init__(self) -> None:
        self.wakeup, self.submitted, self.finished = Doorbell(), Doorbell(), Doorbell()


def stage(
    store: SqliteStore, backend: FakeBackend, clock: Clock, alerts: RecordingAlerts, bells: Bells
) -> SubmitStage:
    return SubmitStage(
        store,
        backend,
        settings=SubmitSettings(interval=5, batch=10),
        retry=RETRY,
        wakeup=bells.wakeup,
        submitted=bells.submitted,
        finished=bells.finished,
        clock=clock,
        alerts=alerts,
    )


@pytest.fixture
def bells() -> Bells:
    return Bells()


@pytest.fixture
def submit(
    store: SqliteStore, backend: FakeBackend, clock: Clock, alerts: RecordingAlerts, bells: Bells
) -> SubmitStage:
    return stage(store, backend, clock, alerts, bells)


async def state(store: SqliteStore, job_id: str) -> JobState:
    job = await store.get(job_id)
    assert job is not None
    return job.state


async def test_a_due_job_is_handed_over_once_and_tracked(
    store: SqliteStore, backend: FakeBackend, clock: Clock, submit: SubmitStage, bells: Bells
) -> None:
    job = await queued(store, clock)
    assert await submit.run_once() == 1
    assert await submit.run_once() == 0
    assert backend.submitted == [job.id]
    done = await store.get(job.id)
    assert done is not None
    assert (done.state, done.backend_id, done.attempts, done.submitted_at) == (
        JobState.SUBMITTED,
        f"fax-{job.id}",
        1,
        clock(),
    )
    assert [(s, a) for s, a, _ in await history(store, job.id)] == [
        (JobState.QUEUED, Actor.INTAKE),
        (JobState.SUBMITTING, SUBMIT),
        (JobState.SUBMITTED, SUBMIT),
    ]
    assert await bells.submitted.wait(0)
    assert not await bells.finished.wait(0)


async def test_a_future_send_time_makes_it_scheduled(
    store: SqliteStore, clock: Clock, submit: SubmitStage
) -> None:
    job = await queued(store, clock, send_at=clock.now.replace(hour=18))
    await submit.run_once()
    assert await state(store, job.id) is JobState.SCHEDULED


async def test_a_backend_that_knows_the_end_at_once_finishes_the_job(
    store: SqliteStore, backend: FakeBackend, clock: Clock, submit: SubmitStage, bells: Bells
) -> None:
    job = await queued(store, clock)
    backend.answers.append(Submission("dry-1", None, FaxStatus(Outcome.SENT, page_count=2)))
    await submit.run_once()
    done = await store.get(job.id)
    assert done is not None
    assert (done.state, done.page_count, done.finished_at) == (JobState.SENT, 2, clock())
    assert await bells.finished.wait(0)


async def test_a_temporary_error_defers_until_the_backoff_is_over(
    store: SqliteStore, backend: FakeBackend, clock: Clock, submit: SubmitStage
) -> None:
    job = await queued(store, clock)
    backend.answers.append(TemporaryBackendError("503 from the service"))
    await submit.run_once()
    deferred = await store.get(job.id)
    assert deferred is not None
    assert deferred.state is JobState.DEFERRED
    assert deferred.last_error == "503 from the service"
    assert deferred.next_attempt_at == clock.now.replace(minute=1)
    clock.advance(59)
    await submit.run_once()
    assert backend.submitted == [job.id]
    clock.advance(1)
    await submit.run_once()
    assert backend.submitted == [job.id, job.id]
    assert await state(store, job.id) is JobState.SUBMITTED


async def test_a_refusal_for_good_fails_the_job(
    store: SqliteStore, backend: FakeBackend, clock: Clock, submit: SubmitStage
) -> None:
    job = await queued(store, clock)
    backend.answers.append(PermanentBackendError("MSG-348: unsupported file type"))
    await submit.run_once()
    failed = await store.get(job.id)
    assert failed is not None
    assert (failed.state, failed.last_error) == (JobState.FAILED, "MSG-348: unsupported file type")


async def test_a_job_past_its_lifetime_fails_without_a_request(
    store: SqliteStore, backend: FakeBackend, clock: Clock, submit: SubmitStage
) -> None:
    job = await queued(store, clock)
    clock.advance(RETRY.lifetime)
    await submit.run_once()
    assert backend.submitted == []
    assert await state(store, job.id) is JobState.FAILED


@pytest.mark.parametrize(
    ("recovery", "settled"),
    [
        (
            RecoveryResult(Settlement.FOUND, Submission("fax-7", None, FaxStatus(Outcome.PENDING))),
            JobState.SUBMITTED,
        ),
        (RecoveryResult(Settlement.AMBIGUOUS, detail="two faxes match"), JobState.UNKNOWN),
    ],
    ids=["found", "ambiguous"],
)
async def test_an_unanswered_request_is_settled_before_anything_is_resent(
    store: SqliteStore,
    backend: FakeBackend,
    clock: Clock,
    submit: SubmitStage,
    recovery: RecoveryResult,
    settled: JobState,
) -> None:
    job = await queued(store, clock)
    other = await queued(store, clock, "bob@example.com")
    backend.answers.append(UncertainSubmission("no answer in time"))
    await submit.run_once()
    assert backend.submitted == [job.id]  # the batch stops: nothing else goes out meanwhile
    assert await state(store, job.id) is JobState.SUBMITTING
    backend.recoveries[job.id] = recovery
    await submit.run_once()
    assert await state(store, job.id) is settled
    assert backend.submitted == [job.id, other.id]


async def test_a_request_that_provably_never_arrived_is_sent_again(
    store: SqliteStore, backend: FakeBackend, clock: Clock, submit: SubmitStage
) -> None:
    job = await queued(store, clock)
    backend.answers.append(UncertainSubmission("connection reset"))
    await submit.run_once()
    await submit.run_once()  # recovery: not at the backend, so queued again and sent
    assert backend.submitted == [job.id, job.id]
    assert await state(store, job.id) is JobState.SUBMITTED


async def test_a_job_that_raises_is_retried_later_and_held_after_the_limit(
    store: SqliteStore,
    backend: FakeBackend,
    clock: Clock,
    submit: SubmitStage,
    alerts: RecordingAlerts,
    caplog: pytest.LogCaptureFixture,
) -> None:
    poison = await queued(store, clock, "poison@example.com")
    backend.poisoned[poison.id] = Unexpected("a defect this job triggers")
    good = [await queued(store, clock, f"user{n}@example.com") for n in range(3)]
    for _ in range(RETRY.internal_errors):
        await submit.run_once()  # raises in submitting: may have reached the backend
        assert await state(store, poison.id) is JobState.SUBMITTING
        await submit.run_once()  # recovery: never arrived; queued again with a backoff; the others go
        clock.advance(RETRY.min_backoff)
    assert {await state(store, job.id) for job in good} == {JobState.SUBMITTED}
    assert backend.submitted.count(poison.id) == RETRY.internal_errors
    await submit.run_once()
    held = await store.get(poison.id)
    assert held is not None
    assert held.state is JobState.HELD
    assert held.last_error is not None and "Unexpected: a defect this job triggers" in held.last_error
    assert backend.submitted.count(poison.id) == RETRY.internal_errors
    assert [park.stage for park in alerts.parks] == [SUBMIT]
    assert alerts.parks[0].job.state is JobState.HELD
    assert alerts.errors == [SUBMIT] * RETRY.internal_errors
    errors = [
        r for r in caplog.records if r.levelno == logging.ERROR and getattr(r, "job", None) == poison.id
    ]
    assert len(errors) == RETRY.internal_errors
    assert all(record.exc_info for record in errors[: RETRY.internal_errors])
    internal = [d for s, a, d in await history(store, poison.id) if d and d.startswith("internal error")]
    assert len(internal) == RETRY.internal_errors


async def test_an_operator_release_gives_a_held_job_a_fresh_count(
    store: SqliteStore, backend: FakeBackend, clock: Clock, submit: SubmitStage
) -> None:
    job = await queued(store, clock)
    await store.record_failure(job.id, actor=SUBMIT, now=clock(), detail="internal error", retry_at=None)
    await store.record_failure(job.id, actor=SUBMIT, now=clock(), detail="internal error", retry_at=None)
    await store.record_failure(job.id, actor=SUBMIT, now=clock(), detail="internal error", retry_at=None)
    await submit.run_once()
    assert await state(store, job.id) is JobState.HELD
    released = await store.transition(
        job.id, [JobState.HELD], JobState.QUEUED, actor=Actor.OPERATOR, now=clock()
    )
    assert released is not None and released.failures == 0
    await submit.run_once()
    assert await state(store, job.id) is JobState.SUBMITTED


async def test_a_recovery_that_raises_ends_unknown_and_holds_back_the_rest_meanwhile(
    store: SqliteStore, backend: FakeBackend, clock: Clock, submit: SubmitStage, alerts: RecordingAlerts
) -> None:
    job = await queued(store, clock)
    waiting = await queued(store, clock, "bob@example.com")
    backend.answers.append(UncertainSubmission("no answer"))
    await submit.run_once()
    backend.recoveries[job.id] = Unexpected("the listing could not be read")
    for _ in range(RETRY.internal_errors - 1):
        await submit.run_once()
        clock.advance(5)
        assert await state(store, job.id) is JobState.SUBMITTING
        assert backend.submitted == [job.id]
    await submit.run_once()
    gone = await store.get(job.id)
    assert gone is not None
    assert gone.state is JobState.UNKNOWN
    assert gone.last_error is not None and "it was not sent again" in gone.last_error
    assert [park.stage for park in alerts.parks] == [SUBMIT]
    clock.advance(5)
    await submit.run_once()
    assert backend.submitted == [job.id, waiting.id]


async def test_a_fax_the_backend_took_is_never_sent_again_when_recording_it_keeps_failing(
    store: SqliteStore, backend: FakeBackend, clock: Clock, submit: SubmitStage, alerts: RecordingAlerts
) -> None:
    # A stored send time without a time zone cannot be compared with the clock: a defect in the row,
    # met only after the backend took the fax.
    job = await queued(store, clock, send_at=clock.now.replace(tzinfo=None))
    backend.recoveries[job.id] = RecoveryResult(Settlement.FOUND, pending(job.id), "listed")
    for _ in range(RETRY.internal_errors):
        await submit.run_once()
        clock.advance(RETRY.min_backoff)
    assert backend.submitted == [job.id]
    ended = await store.get(job.id)
    assert ended is not None
    assert ended.state is JobState.UNKNOWN
    assert [park.stage for park in alerts.parks] == [SUBMIT]
