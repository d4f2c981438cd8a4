"""The moves the submit stage makes once an attempt has ended, each one checked step of the job.

Every move here is ``Actor.SUBMIT``'s; the stage decides which one, this writes it and rings the
stage that comes next.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from mail2fax.backends.base import Outcome, Submission
from mail2fax.errors import UncertainSubmission
from mail2fax.models import Actor, Job, JobState
from mail2fax.queue.base import Store
from mail2fax.stages.doorbell import Doorbell

log = logging.getLogger("mail2fax.submit")

OUTCOME_STATES = {
    Outcome.SENT: JobState.SENT,
    Outcome.ACCEPTED: JobState.ACCEPTED,
    Outcome.FAILED: JobState.FAILED,
}


class SubmitMoves:
    def __init__(
        self, store: Store, *, clock: Callable[[], datetime], submitted: Doorbell, finished: Doorbell
    ):
        self._store = store
        self._clock = clock
        self._submitted = submitted
        self._finished = finished

    async def record_submission(self, job: Job, submission: Submission, *, detail: str | None) -> None:
        now = self._clock()
        status = submission.status
        final_state = OUTCOME_STATES.get(status.outcome)
        if final_state is not None:
            failure = status.detail if final_state is JobState.FAILED else None
            await self._store.transition(
                job.id,
                [JobState.SUBMITTING],
                final_state,
                actor=Actor.SUBMIT,
                now=now,
                detail=detail or status.detail,
                backend_id=submission.backend_id,
                backend_uri=submission.backend_uri,
                submitted_at=now,
                finished_at=now,
                page_count=status.page_count,
                results=status.results,
                last_error=failure,
            )
            self._finished.ring()
            return
        scheduled = job.options.send_at is not None and job.options.send_at > now
        await self._store.transition(
            job.id,
            [JobState.SUBMITTING],
            JobState.SCHEDULED if scheduled else JobState.SUBMITTED,
            actor=Actor.SUBMIT,
            now=now,
            detail=detail,
            backend_id=submission.backend_id,
            backend_uri=submission.backend_uri,
            submitted_at=now,
        )
        self._submitted.ring()

    async def leave_for_recovery(self, job: Job, exc: UncertainSubmission) -> None:
        """Keep the job in ``submitting``: the next cycle asks the backend before anything is resent."""
        log.warning(
            "the fax may have reached the service; checking before any resend",
            extra={"job": job.id, "error": str(exc)},
        )
        await self._store.transition(
            job.id,
            [JobState.SUBMITTING],
            JobState.SUBMITTING,
            actor=Actor.SUBMIT,
            now=self._clock(),
            detail=f"uncertain: {exc}",
            last_error=str(exc),
        )

    async def requeue_unsent(self, job: Job, detail: str) -> None:
        """Recovery proved the fax never reached the backend: it goes back to the queue."""
        now = self._clock()
        await self._store.transition(
            job.id,
            [JobState.SUBMITTING],
            JobState.QUEUED,
            actor=Actor.SUBMIT,
            now=now,
            detail=f"not at the backend after restart: {detail}".strip(": "),
            # A job that failed unexpectedly keeps the backoff its boundary gave it.
            next_attempt_at=max(now, job.next_attempt_at or now),
        )

    async def mark_unknown(self, job: Job, detail: str) -> None:
        """Recovery cannot tell whether the fax went out: it is not sent again."""
        now = self._clock()
        await self._store.transition(
            job.id,
            [JobState.SUBMITTING],
            JobState.UNKNOWN,
            actor=Actor.SUBMIT,
            now=now,
            detail=detail or "cannot tell whether the fax went out",
            finished_at=now,
            last_error=(
                "mail2fax stopped while sending this fax and cannot prove whether it went out; "
                "it was not sent again. " + detail
            ).strip(),
        )
        self._finished.ring()

    async def defer(self, job: Job, exc: Exception, delay: float) -> None:
        now = self._clock()
        await self._store.transition(
            job.id,
            [JobState.SUBMITTING],
            JobState.DEFERRED,
            actor=Actor.SUBMIT,
            now=now,
            detail=f"{exc}; next attempt in {delay:.0f}s",
            next_attempt_at=now + timedelta(seconds=delay),
            last_error=str(exc),
        )

    async def fail(self, job: Job, leaving: list[JobState], reason: str) -> None:
        now = self._clock()
        await self._store.transition(
            job.id,
            leaving,
            JobState.FAILED,
            actor=Actor.SUBMIT,
            now=now,
            detail=reason,
            last_error=reason,
            finished_at=now,
        )
        self._finished.ring()

    async def hold(self, job: Job, reason: str) -> bool:
        """Park a job that keeps failing before it reaches the backend: held for the operator.

        A job in ``submitting`` is left to recovery, which settles it first; once it is back in
        the queue, the next cycle holds it.
        """
        held = await self._store.transition(
            job.id,
            [JobState.QUEUED, JobState.DEFERRED],
            JobState.HELD,
            actor=Actor.SUBMIT,
            now=self._clock(),
            detail=f"parked: {reason}",
            last_error=f"held: {reason}",
        )
        return held is not None

    async def give_up(self, job: Job, reason: str) -> bool:
        """Park a job whose recovery keeps failing: nobody can tell whether it went out."""
        now = self._clock()
        moved = await self._store.transition(
            job.id,
            [JobState.SUBMITTING],
            JobState.UNKNOWN,
            actor=Actor.SUBMIT,
            now=now,
            detail=f"parked: {reason}",
            finished_at=now,
            last_error=(
                "mail2fax could not find out whether this fax went out because of an internal error; "
                "it was not sent again."
            ),
        )
        if moved is not None:
            self._finished.ring()
        return moved is not None
