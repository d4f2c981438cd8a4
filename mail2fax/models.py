"""The nouns of mail2fax: jobs, recipients, documents, options, the states a job moves through
and the one table of moves between them."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime


class JobState(enum.StrEnum):
    """Where a job is in the pipeline.

    A final state is the end of the pipeline's work: no stage moves a final job again. Only an
    operator may, with ``mail2fax queue retry`` (see :data:`MOVES`), which sends it again.
    """

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


class Actor(enum.StrEnum):
    """Who moves a job or writes its history: a stage of the daemon, or a person (the CLI)."""

    INTAKE = "intake"
    SUBMIT = "submit"
    TRACK = "track"
    NOTIFY = "notify"
    RETENTION = "retention"
    OPERATOR = "operator"


def stage_of(state: JobState) -> Actor:
    """The stage that works on a job in ``state`` (a held job waits for the operator).

    A final job is the notify stage's until its status mail is settled, then retention's.
    """
    if state in SUBMITTABLE_STATES or state is JobState.SUBMITTING:
        return Actor.SUBMIT
    if state in TRACKED_STATES:
        return Actor.TRACK
    if state is JobState.HELD:
        return Actor.OPERATOR
    return Actor.NOTIFY


@dataclass(frozen=True, slots=True)
class Move:
    """One legal move: from a state, to a state, by whom, and why it happens."""

    source: JobState
    target: JobState
    actor: Actor
    why: str
    forced: bool = False  # the operator must insist (``--force``): the fax may already exist


_S, _A = JobState, Actor

# Every move a job may make, and who may make it; Store.transition refuses anything else.
# A job is born ``queued`` (by intake, or by an operator's ``mail2fax send``). The notify and
# retention stages never move a job: they write its history, its status-mail columns and its
# documents only. Final states are left only by an operator's explicit resend.
TRANSITIONS: tuple[Move, ...] = (
    # the submit stage
    Move(_S.QUEUED, _S.SUBMITTING, _A.SUBMIT, "claimed: committed before the request leaves"),
    Move(_S.DEFERRED, _S.SUBMITTING, _A.SUBMIT, "claimed again once its wait is over"),
    Move(_S.QUEUED, _S.FAILED, _A.SUBMIT, "its lifetime ran out"),
    Move(_S.DEFERRED, _S.FAILED, _A.SUBMIT, "its lifetime ran out"),
    Move(_S.QUEUED, _S.HELD, _A.SUBMIT, "parked after repeated internal errors"),
    Move(_S.DEFERRED, _S.HELD, _A.SUBMIT, "parked after repeated internal errors"),
    Move(_S.SUBMITTING, _S.SUBMITTING, _A.SUBMIT, "no clear answer: waits for recovery to settle it"),
    Move(_S.SUBMITTING, _S.SUBMITTED, _A.SUBMIT, "the backend took it"),
    Move(_S.SUBMITTING, _S.SCHEDULED, _A.SUBMIT, "the backend took it for a later send time"),
    Move(_S.SUBMITTING, _S.SENT, _A.SUBMIT, "the backend reported it sent at once (dry run)"),
    Move(_S.SUBMITTING, _S.ACCEPTED, _A.SUBMIT, "the backend took it for good (FaxOut)"),
    Move(_S.SUBMITTING, _S.FAILED, _A.SUBMIT, "refused for good, or its lifetime ran out"),
    Move(_S.SUBMITTING, _S.DEFERRED, _A.SUBMIT, "temporary error: waits for its next attempt"),
    Move(_S.SUBMITTING, _S.QUEUED, _A.SUBMIT, "recovery: it provably never reached the backend"),
    Move(_S.SUBMITTING, _S.UNKNOWN, _A.SUBMIT, "recovery: nobody can tell whether it went out"),
    # the track stage
    Move(_S.SCHEDULED, _S.SUBMITTED, _A.TRACK, "its send time came"),
    Move(_S.SUBMITTED, _S.SENT, _A.TRACK, "the backend reported the outcome"),
    Move(_S.SUBMITTED, _S.ACCEPTED, _A.TRACK, "the backend reported the outcome"),
    Move(_S.SUBMITTED, _S.FAILED, _A.TRACK, "the backend reported the outcome"),
    Move(_S.SUBMITTED, _S.UNKNOWN, _A.TRACK, "no outcome in time, or parked after internal errors"),
    Move(_S.SCHEDULED, _S.SENT, _A.TRACK, "the backend reported the outcome"),
    Move(_S.SCHEDULED, _S.ACCEPTED, _A.TRACK, "the backend reported the outcome"),
    Move(_S.SCHEDULED, _S.FAILED, _A.TRACK, "the backend reported the outcome"),
    Move(_S.SCHEDULED, _S.UNKNOWN, _A.TRACK, "no outcome in time, or parked after internal errors"),
    # a person, with ``mail2fax queue``
    Move(_S.QUEUED, _S.HELD, _A.OPERATOR, "queue hold"),
    Move(_S.DEFERRED, _S.HELD, _A.OPERATOR, "queue hold"),
    Move(_S.HELD, _S.QUEUED, _A.OPERATOR, "queue release, or queue retry"),
    Move(_S.DEFERRED, _S.QUEUED, _A.OPERATOR, "queue retry, or queue flush"),
    Move(_S.FAILED, _S.QUEUED, _A.OPERATOR, "queue retry: a final job sent again"),
    Move(_S.CANCELLED, _S.QUEUED, _A.OPERATOR, "queue retry: a final job sent again"),
    Move(_S.UNKNOWN, _S.QUEUED, _A.OPERATOR, "queue retry --force: its fax may exist", forced=True),
    Move(_S.QUEUED, _S.CANCELLED, _A.OPERATOR, "queue cancel"),
    Move(_S.DEFERRED, _S.CANCELLED, _A.OPERATOR, "queue cancel"),
    Move(_S.HELD, _S.CANCELLED, _A.OPERATOR, "queue cancel"),
    Move(_S.SCHEDULED, _S.CANCELLED, _A.OPERATOR, "queue cancel: deleted at the backend first"),
)


def _by_pair(moves: Iterable[Move]) -> dict[tuple[JobState, JobState], dict[Actor, Move]]:
    table: dict[tuple[JobState, JobState], dict[Actor, Move]] = {}
    for move in moves:
        table.setdefault((move.source, move.target), {})[move.actor] = move
    return table


# The same table, looked up by (from, to), then by who makes the move.
MOVES: Mapping[tuple[JobState, JobState], Mapping[Actor, Move]] = _by_pair(TRANSITIONS)


def hands_over(sources: Iterable[JobState], target: JobState, actor: Actor) -> bool:
    """Whether a move gives the job to another stage (or is a person's): then its count of
    unexpected errors (``Job.failures``) starts again from zero."""
    return actor is Actor.OPERATOR or any(stage_of(source) != stage_of(target) for source in sources)


class IllegalTransition(RuntimeError):
    """A move the table does not allow: a defect in mail2fax, never an answer to bad input."""


def check_moves(sources: Iterable[JobState], target: JobState, actor: Actor, *, forced: bool = False) -> None:
    """Raise IllegalTransition unless ``actor`` may move a job from each of ``sources`` to ``target``."""
    for source in sources:
        move = MOVES.get((source, target), {}).get(actor)
        if move is None:
            raise IllegalTransition(f"{actor.value} may not move a job from {source.value} to {target.value}")
        if move.forced and not forced:
            raise IllegalTransition(
                f"{actor.value} may move a job from {source.value} to {target.value} only when forced"
            )


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
    """A document to fax, already checked: a safe ASCII filename, its sniffed type, its bytes,
    and its pages where they can be counted before RingCentral renders it (None: unknown)."""

    filename: str
    content_type: str
    data: bytes
    pages: int | None = field(default=None, compare=False)  # derived from ``data``


@dataclass(frozen=True, slots=True)
class StoredDocument:
    """A document as it sits in the spool: its bytes are read from ``path`` when needed."""

    position: int
    filename: str
    content_type: str
    size: int
    path: str
    pages: int | None = None


@dataclass(frozen=True, slots=True)
class Origin:
    """Who handed a mail over, for the audit trail: the client's address (``local`` for the
    ``mail2fax send`` command), the name it gave in HELO or EHLO, and the SMTP AUTH user (for the
    command, the system user who ran it)."""

    client: str | None = None
    helo: str | None = None
    user: str | None = None


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
    origin: Origin = field(default_factory=Origin)


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
    page_count: int | None = None  # as RingCentral counted them, cover page included
    results: tuple[RecipientResult, ...] = ()
    notify: bool = True
    notified_at: datetime | None = None
    documents_purged_at: datetime | None = None
    document_pages: int | None = None  # counted at intake; None when a document could not be counted
    # Unexpected errors this job caused at the stage working on it now; see stages/boundary.py.
    failures: int = 0
    origin: Origin = field(default_factory=Origin)


@dataclass(frozen=True, slots=True)
class JobEvent:
    """One line of a job's history: a state it entered (or was in), when, who did it, and why.

    ``actor`` is None for history written before the store recorded who did what.
    """

    at: datetime
    state: JobState
    detail: str | None = None
    actor: Actor | None = None


@dataclass(frozen=True, slots=True)
class Bridge:
    """One daemon sharing the queue, as its latest heartbeat describes it."""

    owner: str  # host:pid:random, the id its leases carry
    host: str
    pid: int
    started_at: datetime
    seen_at: datetime


@dataclass(frozen=True, slots=True)
class RateSlot:
    """The answer to asking the store for a rate-limit slot: ``slot`` (its id) when taken, else
    the seconds to ``wait`` before asking again."""

    slot: int | None
    wait: float = 0.0


@dataclass(frozen=True, slots=True)
class RateWindow:
    """What the queue remembers of a rate-limit group: when its recent requests left, and the
    end of its latest pause (after a ``429``)."""

    requests: tuple[datetime, ...] = ()
    paused_until: datetime | None = None
