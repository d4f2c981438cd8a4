"""The track stage: reads the outcome of every outstanding fax in one batch per cycle."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from mail2fax.backends.base import FaxBackend, FaxStatus, Outcome, TrackedFax
from mail2fax.errors import BackendError
from mail2fax.models import Actor, Job, JobState, RecipientResult
from mail2fax.queue.base import Store
from mail2fax.settings import TrackSettings
from mail2fax.stages.cycle import repeat, unless_stopping
from mail2fax.stages.doorbell import Doorbell

log = logging.getLogger("mail2fax.track")

TRACKED = [JobState.SUBMITTED, JobState.SCHEDULED]


def failure_summary(results: tuple[RecipientResult, ...], detail: str | None) -> str:
    reasons = sorted({r.error_code for r in results if r.error_code})
    if reasons:
        return ", ".join(reasons)
    return detail or "SendingFailed"


class TrackStage:
    busy = False  # only reads and records outcomes: safe to stop at any moment

    def __init__(
        self,
        store: Store,
        backend: FaxBackend,
        *,
        settings: TrackSettings,
        wakeup: Doorbell,
        finished: Doorbell,
        clock: Callable[[], datetime],
    ):
        self._store = store
        self._backend = backend
        self._settings = settings
        self._wakeup = wakeup
        self._finished = finished
        self._clock = clock
        self._failing: str | None = None
        self._stopping = asyncio.Event()

    async def run(self, stopping: asyncio.Event) -> None:
        self._stopping = stopping
        await repeat("track", self.run_once, lambda: self._wakeup.wait(self._settings.interval), stopping)

    async def run_once(self) -> int:
        """Read every outstanding fax's status once; returns how many jobs reached a final state."""
        jobs = await self._store.tracked()
        jobs = [job for job in jobs if job.backend_id]
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
            if self._failing is None:
                log.warning("track: cannot read fax statuses (%s); will keep trying", exc)
            self._failing = str(exc)
            return 0
        if self._failing is not None:
            log.warning("track: fax statuses readable again")
            self._failing = None
        finished = 0
        for job in jobs:
            status = statuses.get(job.backend_id or "")
            if status is not None and await self._apply(job, status):
                finished += 1
            elif status is None or status.outcome is Outcome.PENDING:
                finished += await self._check_overdue(job)
        if finished:
            self._finished.ring()
        return finished

    async def _apply(self, job: Job, status: FaxStatus) -> bool:
        now = self._clock()
        if status.outcome in (Outcome.SENT, Outcome.ACCEPTED):
            state = JobState.SENT if status.outcome is Outcome.SENT else JobState.ACCEPTED
            await self._store.transition(
                job.id,
                TRACKED,
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
                TRACKED,
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
            TRACKED,
            JobState.UNKNOWN,
            actor=Actor.TRACK,
            now=now,
            detail=reason,
            finished_at=now,
            last_error=reason,
        )
        return 1 if moved else 0
