"""What a fax backend promises: submit a fax, read back outcomes, settle a crash, cancel."""

from __future__ import annotations

import enum
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from mail2fax.models import Job, RecipientResult, StoredDocument

# Server errors to a fax request that has left: they prove nothing about whether the fax was taken.
UNCERTAIN_STATUSES = frozenset({500, 502, 504})


class Outcome(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    ACCEPTED = "accepted"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class FaxStatus:
    """What the backend says about one submitted fax."""

    outcome: Outcome
    page_count: int | None = None
    results: tuple[RecipientResult, ...] = ()
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class Submission:
    """The backend's receipt for a fax: its id and uri, and the status it reported right away.

    ``status.outcome`` is PENDING for a fax that must be tracked, or final when the backend
    already knows the end (dry-run: SENT; FaxOut: ACCEPTED).
    """

    backend_id: str | None
    backend_uri: str | None
    status: FaxStatus


@dataclass(frozen=True, slots=True)
class TrackedFax:
    """A fax to look up: the job's id, the backend's id, when the submission began, and the
    job's numbers (E.164), in which the backend reports each recipient's result."""

    job_id: str
    backend_id: str
    since: datetime
    numbers: tuple[str, ...] = ()


class Settlement(enum.StrEnum):
    """What recovery learned about a job found mid-submission after a crash."""

    FOUND = "found"
    NOT_SENT = "not_sent"
    AMBIGUOUS = "ambiguous"
    TOO_EARLY = "too_early"


@dataclass(frozen=True, slots=True)
class RecoveryResult:
    settlement: Settlement
    submission: Submission | None = None
    detail: str = ""


class FaxBackend(Protocol):
    """One fax service. Every method raises only mail2fax.errors.BackendError subclasses."""

    name: str

    async def submit(self, job: Job, documents: Sequence[StoredDocument]) -> Submission: ...

    async def statuses(self, faxes: Sequence[TrackedFax]) -> dict[str, FaxStatus]:
        """Outcomes keyed by backend id; ids the backend cannot see are left out."""
        ...

    async def ready(self) -> None:
        """Wait until a submission can leave at once: logged in, and within the rate limit.

        Called before a job is marked ``submitting``, so waiting here sends nothing.
        """
        ...

    async def recover(self, job: Job, known_ids: Collection[str]) -> RecoveryResult:
        """Decide whether a job left in ``submitting`` reached the backend, without sending.

        ``known_ids`` are backend ids that already belong to other jobs and never match.
        """
        ...

    async def cancel(self, backend_id: str) -> None:
        """Withdraw one scheduled fax; an id that is not one message's id is refused."""
        ...

    async def aclose(self) -> None: ...
