"""The retention stage: deletes the documents of final jobs whose senders were told, after a while.

The job's record and history stay until an operator purges them (``mail2fax queue purge``).
Each job's documents are deleted inside its own error boundary (``stages/boundary.py``); a job
whose documents keep failing to be deleted is left alone, and the operator is told.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from mail2fax.models import Actor, Job
from mail2fax.queue.base import Store
from mail2fax.settings import RetentionSettings, RetrySettings
from mail2fax.stages.boundary import FAILED, Alerts, JobBoundary
from mail2fax.stages.cycle import repeat

log = logging.getLogger("mail2fax.retention")


class RetentionStage:
    def __init__(
        self,
        store: Store,
        *,
        settings: RetentionSettings,
        retry: RetrySettings,
        clock: Callable[[], datetime],
        alerts: Alerts,
    ):
        self._store = store
        self._keep = timedelta(seconds=settings.documents)
        self._interval = min(max(settings.documents / 10, 1.0), 600.0)
        self._clock = clock
        # No backoff of its own: the stage's interval already spaces the attempts out.
        self._boundary = JobBoundary(
            Actor.RETENTION,
            store,
            clock=clock,
            limit=retry.internal_errors,
            min_backoff=0.0,
            max_backoff=0.0,
            alerts=alerts,
        )
        self._stopping = asyncio.Event()

    async def run(self, stopping: asyncio.Event) -> None:
        self._stopping = stopping
        await repeat("retention", self.run_once, self._wait_next, stopping)

    async def _wait_next(self) -> None:
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout=self._interval)
        except TimeoutError:
            return

    async def run_once(self) -> int:
        """Delete the documents that are due; returns how many jobs lost theirs."""
        now = self._clock()
        due = await self._store.expired_documents(
            finished_before=now - self._keep, max_failures=self._boundary.limit
        )
        purged = 0
        for job_id in due:
            job = await self._store.get(job_id)
            if job is None:
                continue
            done = await self._boundary.run(job, functools.partial(self._purge, job), park=self._leave)
            purged += 0 if done is FAILED else 1
        if purged:
            log.info("deleted the documents of finished jobs", extra={"jobs": purged})
        return purged

    async def _purge(self, job: Job) -> None:
        await self._store.delete_documents(job.id, now=self._clock())

    async def _leave(self, job: Job, reason: str) -> bool:
        """Park a job whose documents cannot be deleted: ``expired_documents`` leaves it out now."""
        return True
