"""What the stage tests share: a real SQLite store on a temporary directory, a small fake fax
backend, a clock that moves only when told, and alerts that remember what they were told."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from mail2fax.backends.base import (
    FaxStatus,
    Outcome,
    RecoveryResult,
    Settlement,
    Submission,
    TrackedFax,
)
from mail2fax.models import Actor, Document, FaxOptions, FaxRequest, Job, JobState, Recipient, StoredDocument
from mail2fax.queue.sqlite import SqliteStore
from mail2fax.settings import RetrySettings

START = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
# Backoff without jitter: min and max equal, so a retry time is exact.
RETRY = RetrySettings(min_backoff=60, max_backoff=60, lifetime=3600, auth_backoff=900, internal_errors=3)


class Clock:
    """Wall time that stands still until a test moves it."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


class Unexpected(Exception):
    """A defect planted in a test: nothing in mail2fax expects it."""


@dataclass
class FakeBackend:
    """A FaxBackend that answers from what the test set up, and records what it was asked."""

    name: str = "fake"
    submitted: list[str] = field(default_factory=list)
    # What submit() answers, in turn (an exception is raised); empty: a pending fax "fax-<job>".
    answers: list[Submission | Exception] = field(default_factory=list)
    # Jobs whose submission raises this, every time.
    poisoned: dict[str, Exception] = field(default_factory=dict)
    statuses_by_id: dict[str, FaxStatus] = field(default_factory=dict)
    status_error: Exception | None = None
    recoveries: dict[str, RecoveryResult | Exception] = field(default_factory=dict)
    cancelled: list[str] = field(default_factory=list)

    async def submit(self, job: Job, documents: Sequence[StoredDocument]) -> Submission:
        self.submitted.append(job.id)
        assert [Path(d.path).read_bytes() for d in documents], "the documents are readable"
        if job.id in self.poisoned:
            planted = self.poisoned[job.id]
            raise type(planted)(*planted.args)
        if self.answers:
            answer = self.answers.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer
        return pending(job.id)

    async def statuses(self, faxes: Sequence[TrackedFax]) -> dict[str, FaxStatus]:
        if self.status_error is not None:
            raise self.status_error
        return {
            fax.backend_id: self.statuses_by_id[fax.backend_id]
            for fax in faxes
            if fax.backend_id in self.statuses_by_id
        }

    async def ready(self) -> None:
        return None

    async def recover(self, job: Job, known_ids: Collection[str]) -> RecoveryResult:
        found = self.recoveries.get(job.id, RecoveryResult(Settlement.NOT_SENT, detail="not listed"))
        if isinstance(found, Exception):
            raise found
        return found

    async def cancel(self, backend_id: str) -> None:
        self.cancelled.append(backend_id)

    async def aclose(self) -> None:
        return None


def pending(job_id: str) -> Submission:
    return Submission(f"fax-{job_id}", f"https://fax.test/{job_id}", FaxStatus(Outcome.PENDING))


@dataclass
class Parked:
    job: Job
    stage: Actor
    reason: str


@dataclass
class RecordingAlerts:
    """The boundary's Alerts, remembered instead of logged, counted and mailed."""

    errors: list[Actor] = field(default_factory=list)
    parks: list[Parked] = field(default_factory=list)

    def internal_error(self, stage: Actor) -> None:
        self.errors.append(stage)

    async def parked(self, job: Job, stage: Actor, reason: str) -> None:
        self.parks.append(Parked(job, stage, reason))


def fax_request(sender: str = "alice@example.com", *, send_at: datetime | None = None) -> FaxRequest:
    return FaxRequest(
        sender=sender,
        recipients=(Recipient("+14155551212"),),
        cover_text="Invoice",
        documents=(Document("invoice.pdf", "application/pdf", b"%PDF-1.4 invoice"),),
        options=FaxOptions(send_at=send_at),
        subject="Invoice 42",
    )


async def queued(
    store: SqliteStore, clock: Clock, sender: str = "alice@example.com", **options: object
) -> Job:
    return await store.enqueue(fax_request(sender, **options), backend="fake", lifetime=3600, now=clock())  # type: ignore[arg-type]


async def moved(
    store: SqliteStore, job: Job, *path: tuple[JobState, Actor], clock: Clock, **fields: object
) -> Job:
    """Walk a job along legal moves; the last one carries ``fields``."""
    for number, (state, actor) in enumerate(path):
        last = number == len(path) - 1
        current = await store.get(job.id)
        assert current is not None
        after = await store.transition(
            job.id, [current.state], state, actor=actor, now=clock(), **(fields if last else {})
        )
        assert after is not None
        job = after
    return job


async def history(store: SqliteStore, job_id: str) -> list[tuple[JobState, Actor | None, str | None]]:
    return [(event.state, event.actor, event.detail) for event in await store.events(job_id)]
