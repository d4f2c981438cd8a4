"""The nouns of mail2fax: jobs, recipients, documents, options and the states a job moves through."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class JobState(enum.StrEnum):
    """Where a job is in the pipeline. Final states never change again."""

    QUEUED = "queued"
    SUBMITTING = "submitting"
    SUBMITTED = "submitted"
    SCHEDULED = "scheduled"
    DEFERRED = "deferred"
    HELD = "held"
    SENT = "sent"
    ACCEPTED = "accepted"
    FAILED = "failed"
    UNKNOWN = "unknown"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATES


FINAL_STATES = frozenset(
    {JobState.SENT, JobState.ACCEPTED, JobState.FAILED, JobState.UNKNOWN, JobState.CANCELLED}
)
# States whose fax is at the backend and whose outcome the track stage reads.
TRACKED_STATES = frozenset({JobState.SUBMITTED, JobState.SCHEDULED})
# States the submit stage picks up once next_attempt_at is due.
SUBMITTABLE_STATES = frozenset({JobState.QUEUED, JobState.DEFERRED})


class Resolution(enum.StrEnum):
    HIGH = "High"
    LOW = "Low"


@dataclass(frozen=True, slots=True)
class Recipient:
    """One fax destination: an E.164 number (``+14155551212``) and an optional cover-page name."""

    number: str
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Cover:
    """Which cover page to use.

    ``kind`` is ``"account"`` (the account's own default, nothing sent), ``"none"``,
    ``"default"``, ``"index"`` (``index`` set, REST ``coverIndex``) or ``"name"``
    (``name`` set, FaxOut ``Coverpage``).
    """

    kind: str = "account"
    index: int | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class FaxOptions:
    resolution: Resolution = Resolution.HIGH
    cover: Cover = field(default_factory=Cover)
    send_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Document:
    """A document to fax, already checked: a safe ASCII filename, its sniffed type, its bytes."""

    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class StoredDocument:
    """A document as it sits in the spool: its bytes are read from ``path`` when needed."""

    position: int
    filename: str
    content_type: str
    size: int
    path: str


@dataclass(frozen=True, slots=True)
class FaxRequest:
    """Everything intake learned from one mail: who asked, for whom, and what to send."""

    sender: str
    recipients: tuple[Recipient, ...]
    cover_text: str
    documents: tuple[Document, ...]
    options: FaxOptions = field(default_factory=FaxOptions)
    message_id: str | None = None
    subject: str = ""
    content_digest: str = ""
    notify: bool = True


@dataclass(frozen=True, slots=True)
class RecipientResult:
    """The backend's word on one recipient: ``status`` as RingCentral spells it, and why it failed."""

    number: str
    status: str
    error_code: str | None = None


@dataclass(frozen=True, slots=True)
class Job:
    id: str
    sender: str
    recipients: tuple[Recipient, ...]
    cover_text: str
    options: FaxOptions
    state: JobState
    attempts: int
    created_at: datetime
    updated_at: datetime
    next_attempt_at: datetime | None
    expires_at: datetime
    message_id: str | None = None
    subject: str = ""
    backend: str = ""
    backend_id: str | None = None
    backend_uri: str | None = None
    submit_started_at: datetime | None = None
    submitted_at: datetime | None = None
    finished_at: datetime | None = None
    last_error: str | None = None
    page_count: int | None = None
    results: tuple[RecipientResult, ...] = ()
    notify: bool = True
    notified_at: datetime | None = None
    documents_purged_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class JobEvent:
    """One line of a job's history: a state it entered, when, and why."""

    at: datetime
    state: JobState
    detail: str | None = None
