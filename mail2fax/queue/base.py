"""What every store promises: the queue of jobs, their documents and their history.

The stages, the gate, health and the commands see only this interface; ``queue.registry``
opens the implementation the settings choose (SQLite in ``queue.sqlite``, or PostgreSQL, shared by
several bridges, in ``queue.postgres``). A store's
methods are safe to call concurrently, from the daemon and from an operator's command at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol

from mail2fax.models import (
    Actor,
    Bridge,
    FaxRequest,
    Job,
    JobEvent,
    JobState,
    RateSlot,
    RateWindow,
    StoredDocument,
)
from mail2fax.settings import QuotaSettings


class Store(Protocol):
    async def close(self) -> None: ...

    async def enqueue(
        self,
        request: FaxRequest,
        *,
        backend: str,
        lifetime: float,
        now: datetime,
        job_id: str | None = None,
        duplicate_since: datetime | None = None,
        actor: Actor = Actor.INTAKE,
        quota: QuotaSettings | None = None,
    ) -> Job:
        """Write the documents, then commit the job: when this returns the job is durable.

        With ``duplicate_since``, a job for the same mail (same sender, Message-ID, recipients,
        documents and options) created since then makes this raise
        DuplicateMail instead; the check and the insert are atomic, so two copies of a mail
        arriving together cannot both become faxes.

        With ``quota`` (any limit set), the numbers dialled are counted in the same transaction,
        with the jobs of every process and bridge sharing the store, and a mail that does not fit
        raises what the gate raises (``mail.quota``: Deferral ``450 4.7.1`` or ``452 4.5.3``,
        Refusal ``552 5.5.3``) and writes nothing; so mails queued at the same moment never pass a
        limit together. Without limits nothing more is locked or counted.
        """
        ...

    async def get(self, job_id: str) -> Job | None: ...

    async def transition(
        self,
        job_id: str,
        leaving: Iterable[JobState],
        entering: JobState,
        *,
        actor: Actor,
        now: datetime,
        detail: str | None = None,
        forced: bool = False,
        **fields: Any,
    ) -> Job | None:
        """Move a job from one of ``leaving`` to ``entering`` in one checked step, with a history row.

        ``actor`` makes the move; each move from ``leaving`` to ``entering`` must be in
        ``models.TRANSITIONS`` for it (``forced`` for the moves that ask an operator to insist),
        otherwise IllegalTransition is raised and nothing changes. Returns the updated job, or
        None when the job was no longer in any ``leaving`` state.
        """
        ...

    async def due(self, now: datetime, limit: int) -> list[Job]:
        """Claim up to ``limit`` queued and deferred jobs whose next attempt is due, the
        longest-waiting first.

        A store shared by several bridges gives each job to one of them: the claim (this
        process's lease, until ``now`` plus the lease, not renewed) keeps the job out of the
        other bridges' answers until it expires or the job leaves ``queued``/``deferred``, and
        only the claim's holder moves the job into ``submitting`` meanwhile (``transition``
        returns None for anyone else). So ask for what will be sent next, not more. The
        embedded store, owned by one process, claims nothing and returns every due job.
        """
        ...

    async def next_due_at(self) -> datetime | None:
        """When the next job this process may claim is due (another bridge's live claim holds
        its job back until the claim expires)."""
        ...

    async def interrupted(self, now: datetime) -> list[Job]:
        """Jobs left in ``submitting`` that nobody works on any more, claimed for recovery.

        A store shared by several bridges returns only jobs whose lease has expired (or that this
        process holds), and takes their lease; the embedded store returns every such job.
        """
        ...

    async def in_states(self, states: Iterable[JobState], limit: int = 10_000) -> list[Job]: ...

    async def tracked(self, now: datetime) -> list[Job]:
        """Claim the jobs whose fax is at the backend and whose outcome is still to be read.

        A store shared by several bridges returns only the faxes this process tracks: those it
        handed over or claimed before, and those whose tracker's lease expired (a bridge that
        died), taking their lease until ``now`` plus the lease, renewed while the process lives.
        So each fax's status is read by one bridge at a time. The embedded store returns them all.
        """
        ...

    async def list_jobs(self, states: Iterable[JobState] | None = None, limit: int = 1000) -> list[Job]: ...

    async def count_by_state(self) -> dict[str, int]: ...

    async def documents(self, job_id: str) -> list[StoredDocument]:
        """The job's documents as recorded; their ``path`` may not be readable here yet."""
        ...

    async def local_documents(self, job_id: str) -> list[StoredDocument]:
        """The job's documents, each readable at its ``path`` on this host (fetched if need be)."""
        ...

    async def events(self, job_id: str) -> list[JobEvent]: ...

    async def backend_ids_submitted_since(self, since: datetime) -> set[str]:
        """The backend ids of jobs handed to the backend at or after ``since``."""
        ...

    async def awaiting_notification(self, now: datetime, limit: int) -> list[Job]: ...

    async def mark_notified(self, job_id: str, now: datetime, detail: str) -> None: ...

    async def postpone_notification(self, job_id: str, until: datetime) -> None:
        """Try the job's status mail again no earlier than ``until`` (the relay is failing)."""
        ...

    async def record_failure(
        self, job_id: str, *, actor: Actor, now: datetime, detail: str, retry_at: datetime | None
    ) -> int:
        """Count an unexpected error against the job (``Job.failures``), note it in its history
        by ``actor``, and return the new count.

        ``retry_at`` is when its stage may look at it again: the next attempt of an unfinished
        job (whose ``last_error`` becomes ``detail``), the next status mail of a final one (whose
        claim, if any, is let go; its ``last_error`` is the status mail's and stays).
        """
        ...

    async def flush_notifications(self, now: datetime) -> int:
        """Make every postponed status mail due now (``queue flush``); returns how many there were."""
        ...

    async def count_numbers(self, *, since: datetime, sender: str | None = None) -> int:
        """The numbers dialled (each recipient of each job) by jobs created since then."""
        ...

    async def expired_documents(self, *, finished_before: datetime, max_failures: int) -> list[str]:
        """The ids of final jobs whose status mail is settled, that finished before the given
        time and still hold documents, leaving out jobs with ``max_failures`` or more failures."""
        ...

    async def delete_documents(self, job_id: str, *, now: datetime) -> None:
        """Delete one job's documents and note when; its record and history stay."""
        ...

    async def delete_jobs(self, *, finished_before: datetime) -> int:
        """Forget final jobs entirely (operator purge): rows, history and documents.

        A job whose sender is owed a status mail is never deleted.
        """
        ...

    async def remove_orphans(self) -> int:
        """Delete documents that no committed job owns (left by a crash before commit)."""
        ...

    async def status_mail_backlog(self) -> tuple[int, datetime | None]:
        """Final jobs whose sender has not been told yet: how many, and when the oldest finished."""
        ...

    async def check_writable(self) -> None:
        """A real write to everything a new mail needs (the database, the documents' directory):
        a health row and a spool file in SQLite, this bridge's heartbeat row in PostgreSQL."""
        ...

    async def bridges(self) -> list[Bridge]:
        """The daemons sharing this queue as their heartbeats last said, the latest seen first
        (a dead one's for a day). The embedded store has none: one process owns it."""
        ...

    # The fax service's rate-limit windows, so that they outlive a restart. ``group`` is the
    # service's name for a rate-limit group (``heavy``); several daemons sharing one store share
    # its windows.

    async def record_rate_request(self, group: str, at: datetime) -> None:
        """Remember that a request of ``group`` left at ``at``; forget entries over an hour old."""
        ...

    async def record_rate_pause(self, group: str, until: datetime) -> None:
        """Remember that ``group`` must send nothing before ``until`` (the service said ``429``)."""
        ...

    async def rate_window(self, group: str, since: datetime) -> RateWindow:
        """The requests of ``group`` that left at or after ``since``, oldest first, and the end
        of its latest pause."""
        ...

    async def take_rate_slot(self, group: str, at: datetime, limit: int, window: float) -> RateSlot:
        """Take a request slot of ``group`` atomically, for every process sharing the store.

        The slot is taken (a request recorded at ``at``) only while fewer than ``limit`` requests
        of the group were recorded in the ``window`` seconds before ``at`` and no pause lasts past
        it; otherwise the answer says how many seconds to wait before asking again.
        """
        ...

    async def finish_rate_slot(self, slot: int, at: datetime) -> None:
        """Restamp a taken slot when its answer has arrived (never earlier than it was)."""
        ...
