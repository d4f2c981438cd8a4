"""The submit stage: hands due jobs to the fax backend, one at a time, never the same fax twice.

A job is committed as ``submitting`` before the request leaves. A job found in ``submitting``
that this process did not start (a crash) is settled through the backend before anything else
is sent: adopted when the backend has it, sent again only when the backend proves it never
arrived, and marked ``unknown`` when nobody can tell.

Each job is handled inside its own error boundary (``stages/boundary.py``). A job that raises
something unexpected while in ``submitting`` may have reached the backend, so it is settled
like a request that got no answer; a job that keeps failing is held for the operator.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from mail2fax.backends.base import FaxBackend, RecoveryResult, Settlement
from mail2fax.errors import (
    BackendAuthError,
    BackendError,
    PermanentBackendError,
    StoreError,
    TemporaryBackendError,
    UncertainSubmission,
)
from mail2fax.models import Actor, Job, JobState
from mail2fax.outage import Outage
from mail2fax.queue.base import Store
from mail2fax.settings import RetrySettings, SubmitSettings
from mail2fax.stages.backoff import retry_delay
from mail2fax.stages.boundary import FAILED, Alerts, JobBoundary
from mail2fax.stages.cycle import repeat, unless_stopping
from mail2fax.stages.doorbell import Doorbell
from mail2fax.stages.submit_moves import SubmitMoves

log = logging.getLogger("mail2fax.submit")

# How far back other jobs' faxes are excluded from recovery: wider than any backend's look-back.
RECOVERY_SKEW = timedelta(minutes=10)
# Failed attempts in a row after which the service counts as down: the stage
# then sends one job at the backoff rate instead of trying the due jobs one after another.
OUTAGE_AFTER = 2


class SubmitStage:
    def __init__(
        self,
        store: Store,
        backend: FaxBackend,
        *,
        settings: SubmitSettings,
        retry: RetrySettings,
        wakeup: Doorbell,
        submitted: Doorbell,
        finished: Doorbell,
        clock: Callable[[], datetime],
        alerts: Alerts,
    ):
        self._store = store
        self._backend = backend
        self._settings = settings
        self._retry = retry
        self._wakeup = wakeup
        self._clock = clock
        self._moves = SubmitMoves(store, clock=clock, submitted=submitted, finished=finished)
        self._outage = Outage(log, ended="the fax service answers again")
        self._boundary = JobBoundary(
            Actor.SUBMIT,
            store,
            clock=clock,
            limit=retry.internal_errors,
            min_backoff=retry.min_backoff,
            max_backoff=retry.max_backoff,
            alerts=alerts,
        )
        self._failures = 0  # failed attempts in a row
        # Until then a cycle would only fail again (the service is down, or a crashed submission
        # cannot be settled yet): wake-ups are ignored and no query is made.
        self._quiet_until: datetime | None = None
        self._stopping = asyncio.Event()

    async def run(self, stopping: asyncio.Event) -> None:
        self._stopping = stopping
        await repeat("submit", self.run_once, self._wait_next, stopping)

    async def _wait_next(self) -> None:
        quiet = self._quiet_for()
        if quiet > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(quiet, self._settings.interval)):
                    await self._stopping.wait()
            return
        await self._wakeup.wait(await self._idle_time())

    def _quiet_for(self) -> float:
        if self._quiet_until is None:
            return 0.0
        return (self._quiet_until - self._clock()).total_seconds()

    async def _idle_time(self) -> float:
        try:
            next_due = await self._store.next_due_at()
        except StoreError:
            return self._settings.interval
        if next_due is None:
            return self._settings.interval
        wait = (next_due - self._clock()).total_seconds()
        return min(max(wait, 0.0), self._settings.interval)

    async def run_once(self) -> int:
        """Settle crashed submissions, then submit the due jobs of one batch. Returns jobs handled."""
        if self._quiet_for() > 0:
            return 0
        self._quiet_until = None
        if not await self._settle_interrupted():
            if self._quiet_until is None:
                self._quiet_until = self._clock() + timedelta(seconds=self._settings.interval)
            return 0
        handled = 0
        seen: set[str] = set()
        while handled < self._settings.batch and not self._stopping.is_set():
            # One job at a time: a shared queue claims what it returns, and this stage sends one
            # job at the fax service's pace, so it claims only the job it sends next.
            claimed = await self._store.due(self._clock(), 1)
            if not claimed or claimed[0].id in seen:
                break
            job = claimed[0]
            seen.add(job.id)
            handled += 1
            if self._boundary.exhausted(job):
                await self._boundary.park(
                    job,
                    f"{job.failures} unexpected errors in the submit stage, the last {job.last_error}",
                    self._moves.hold,
                )
                continue
            went_on = await self._boundary.run(
                job, functools.partial(self._submit, job), park=self._moves.hold
            )
            if went_on is FAILED:
                # In submitting, it may have reached the backend: nothing more until it is settled.
                current = await self._store.get(job.id)
                went_on = current is None or current.state is not JobState.SUBMITTING
            if not went_on:
                break
        return handled

    async def _settle_interrupted(self) -> bool:
        """Settle every job left in ``submitting``; False while one still cannot be settled."""
        interrupted = await self._store.interrupted(self._clock())
        all_settled = True
        for job in interrupted:
            settled = await self._boundary.run(
                job, functools.partial(self._settle, job), park=self._moves.give_up
            )
            if settled is None:
                return False
            all_settled = settled is True and all_settled
        return all_settled

    async def _settle(self, job: Job) -> bool | None:
        """Settle one job; True when settled, False when too early to tell, None on an outage."""
        # Faxes other jobs sent while this attempt was under way are not this job's.
        began = (job.submit_started_at or job.created_at) - RECOVERY_SKEW
        known = await self._store.backend_ids_submitted_since(began)
        try:
            result = await unless_stopping(self._backend.recover(job, known), self._stopping)
        except BackendError as exc:
            self._note_outage(exc)
            return None
        return await self._apply_recovery(job, result)

    async def _apply_recovery(self, job: Job, result: RecoveryResult) -> bool:
        if result.settlement is Settlement.FOUND and result.submission is not None:
            await self._moves.record_submission(job, result.submission, detail="adopted after restart")
            return True
        if result.settlement is Settlement.NOT_SENT:
            await self._moves.requeue_unsent(job, result.detail)
            return True
        if result.settlement is Settlement.AMBIGUOUS:
            await self._moves.mark_unknown(job, result.detail)
            return True
        log.info("waiting for the backend to list the fax before deciding", extra={"job": job.id})
        return False

    async def _submit(self, job: Job) -> bool:
        """Submit one job; False when the backend is failing and the batch should stop."""
        now = self._clock()
        if job.expires_at <= now:
            await self._moves.fail(
                job, [job.state], f"gave up after {job.attempts} attempts: {job.last_error}"
            )
            return True
        try:
            # The login and the rate-limit slot come before the claim: a job waiting for them is
            # still queued, so it can be cancelled and shutdown does not wait for it.
            await unless_stopping(self._backend.ready(), self._stopping)
        except BackendError as exc:
            self._note_outage(exc)
            return False
        now = self._clock()
        claimed = await self._store.transition(
            job.id,
            [job.state],
            JobState.SUBMITTING,
            actor=Actor.SUBMIT,
            now=now,
            attempts=job.attempts + 1,
            submit_started_at=now,
        )
        if claimed is None:
            return True
        return await self._send(claimed)

    async def _send(self, claimed: Job) -> bool:
        """The request in hand: shutdown waits for it to finish rather than cancel it."""
        documents = await self._store.local_documents(claimed.id)
        try:
            submission = await self._backend.submit(claimed, documents)
        except PermanentBackendError as exc:
            self._note_recovery()
            await self._moves.fail(claimed, [JobState.SUBMITTING], str(exc))
            return True
        except UncertainSubmission as exc:
            await self._moves.leave_for_recovery(claimed, exc)
            return False
        except TemporaryBackendError as exc:
            await self._defer(claimed, exc)
            return False
        self._note_recovery()
        await self._moves.record_submission(claimed, submission, detail=None)
        return True

    async def _defer(self, job: Job, exc: TemporaryBackendError) -> None:
        now = self._clock()
        if isinstance(exc, BackendAuthError):
            delay = self._retry.auth_backoff
        else:
            delay = retry_delay(
                job.attempts,
                minimum=self._retry.min_backoff,
                maximum=self._retry.max_backoff,
                retry_after=exc.retry_after,
            )
        next_attempt = now + timedelta(seconds=delay)
        self._note_outage(exc)
        if next_attempt >= job.expires_at:
            await self._moves.fail(
                job, [JobState.SUBMITTING], f"gave up after {job.attempts} attempts: {exc}"
            )
            return
        await self._moves.defer(job, exc, delay)

    def _note_outage(self, exc: BackendError) -> None:
        self._failures += 1
        if self._failures >= OUTAGE_AFTER or isinstance(exc, BackendAuthError):
            self._quiet_until = self._clock() + timedelta(seconds=self._probe_delay(exc))
        if isinstance(exc, BackendAuthError):
            self._outage.failing(
                exc,
                "the fax service rejects mail2fax's credentials; every fax waits until they are fixed",
                level=logging.ERROR,
            )
        else:
            self._outage.failing(exc, "the fax service is failing; faxes are deferred")

    def _probe_delay(self, exc: BackendError) -> float:
        """How long the stage waits before it tries the service again with one job."""
        if isinstance(exc, BackendAuthError):
            return self._retry.auth_backoff
        retry_after = exc.retry_after if isinstance(exc, TemporaryBackendError) else None
        return retry_delay(
            self._failures - OUTAGE_AFTER + 1,
            minimum=self._retry.min_backoff,
            maximum=self._retry.max_backoff,
            retry_after=retry_after,
        )

    def _note_recovery(self) -> None:
        self._failures = 0
        self._quiet_until = None
        self._outage.working()
