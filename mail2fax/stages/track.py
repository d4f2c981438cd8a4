"""The track stage: reads the outcome of every outstanding fax in one batch per cycle.

Each job's outcome is recorded inside its own error boundary (``stages/boundary.py``); a job
whose outcome keeps failing to be recorded becomes ``unknown``, since its fax may have gone out.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Mapping
from datetime import datetime

from mail2fax.backends.base import FaxBackend, FaxStatus, Outcome, TrackedFax
from mail2fax.errors import BackendError
from mail2fax.models import TRACKED_STATES, Actor, Job, JobState, RecipientResult
from mail2fax.outage import Outage
from mail2fax.queue.base import Store
from mail2fax.settings import RetrySettings, TrackSettings
from mail2fax.stages.boundary import FAILED, Alerts, JobBoundary
from mail2fax.stages.cycle import repeat, unless_stopping
from mail2fax.stages.doorbell import Doorbell

log = logging.getLogger("mail2fax.track")


def failure_summary(results: tuple[RecipientResult, ...], detail: str | None) -> str:
    reasons = sorted({r.error_code for r in results if r.error_code})
    if reasons:
        return ", ".join(reasons)
    return detail or "SendingFailed"


class TrackStage:
    def __init__(
        self,
        store: Store,
        backend: FaxBackend,
        *,
        settings: TrackSettings,
        retry: RetrySettings,
        wakeup: Doorbell,
        finished: Doorbell,
        clock: Callable[[], datetime],
        alerts: Alerts,
    ):
        self._store = store
        self._backend = backend
        self._settings = settings
        self._wakeup = wakeup
        self._finished = finished
        self._clock = clock
        self._stopping = asyncio.Event()
        self._outage = Outage(log, ended="fax statuses are readable again")
        self._boundary = JobBoundary(
            Actor.TRACK,
            store,
            clock=clock,
            limit=retry.internal_errors,
            min_backoff=retry.min_backoff,
            max_backoff=retry.max_backoff,
            alerts=alerts,
        )

    async def run(self, stopping: asyncio.Event) -> None:
        self._stopping = stopping
        await repeat("track", self.run_once, lambda: self._wakeup.wait(self._settings.interval), stopping)

    async def run_once(self) -> int:
        """Read every outstanding fax's status once; returns how many jobs reached a final state."""
        now = self._clock()
        # A job that failed unexpectedly waits out its backoff (next_attempt_at).
        jobs = [
            job
            for job in await self._store.tracked(now)
            if job.backend_id and (job.next_attempt_at is None or job.next_attempt_at <= now)
        ]
        if not jobs:
            return 0
        faxes = [
            TrackedFax(
                job.id,
                job.backend_id or "",
                job.submit_started_at or job.created_at,
                tuple(recipient.number for recipient in job.recipients),
            )
            for job in jobs
        ]
        try:
            statuses = await unless_stopping(self._backend.statuses(faxes), self._stopping)
        except BackendError as exc:
            self._outage.failing(exc, "cannot read fax statuses; will keep trying")
            return 0
        self._outage.working()
        finished = 0
        for job in jobs:
            done = await self._boundary.run(
                job, functools.partial(self._track, job, statuses), park=self._give_up
            )
            finished += 0 if done is FAILED else done
        if finished:
            self._finished.ring()
        return finished

    async def _track(self, job: Job, statuses: Mapping[str, FaxStatus]) -> int:
        """Record one job's status; 1 when the job reached a final state."""
        status = statuses.get(job.backend_id or "")
        if status is not None and await self._apply(job, status):
            return 1
        if status is None or status.outcome is Outcome.PENDING:
            return await self._check_overdue(job)
        return 0

    async def _give_up(self, job: Job, reason: str) -> bool:
        """Park a job whose outcome cannot be recorded: unknown, since its fax may have gone out."""
        now = self._clock()
        moved = await self._store.transition(
            job.id,
            TRACKED_STATES,
            JobState.UNKNOWN,
            actor=Actor.TRACK,
            now=now,
            detail=f"parked: {reason}",
            finished_at=now,
            last_error="mail2fax could not read this fax's outcome because of an internal error.",
        )
        if moved is not None:
            self._finished.ring()
        return moved is not None

    async def _apply(self, job: Job, status: FaxStatus) -> bool:
        now = self._clock()
        if status.outcome in (Outcome.SENT, Outcome.ACCEPTED):
            state = JobState.SENT if status.outcome is Outcome.SENT else JobState.ACCEPTED
            await self._store.transition(
                job.id,
                TRACKED_STATES,
                state,
                actor=Actor.TRACK,
                now=now,
                detail=f"{status.page_count} pages" if status.page_count else None,
                finished_at=now,
                page_count=status.page_count,
                results=status.results,
            )
            return True
        if status.outcome is Outcome.FAILED:
            reason = failure_summary(status.results, status.detail)
            await self._store.transition(
                job.id,
                TRACKED_STATES,
                JobState.FAILED,
                actor=Actor.TRACK,
                now=now,
                detail=reason,
                finished_at=now,
                page_count=status.page_count,
                results=status.results,
                last_error=reason,
            )
            return True
        if job.state is JobState.SCHEDULED and job.options.send_at and job.options.send_at <= now:
            await self._store.transition(
                job.id,
                [JobState.SCHEDULED],
                JobState.SUBMITTED,
                actor=Actor.TRACK,
                now=now,
                detail="scheduled time reached",
            )
        return False

    async def _check_overdue(self, job: Job) -> int:
        now = self._clock()
        started = job.options.send_at or job.submitted_at or job.created_at
        if (now - started).total_seconds() < self._settings.queued_timeout:
            return 0
        hours = self._settings.queued_timeout / 3600
        reason = f"RingCentral still reports the fax as queued after {hours:g} hours; the outcome is unknown"
        moved = await self._store.transition(
            job.id,
            TRACKED_STATES,
            JobState.UNKNOWN,
            actor=Actor.TRACK,
            now=now,
            detail=reason,
            finished_at=now,
            last_error=reason,
        )
        return 1 if moved else 0
