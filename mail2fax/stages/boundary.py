"""Each job inside its own error boundary: a defect that one job triggers never stops a stage.

A stage runs its work on each job through :meth:`JobBoundary.run`. The failures a stage expects
(the fax service or the relay saying no) are handled inside the step; a failing queue
(``StoreError``) belongs to every job, and ``Stopped`` to the daemon, so they pass on to the
stage's cycle. Anything else is a
defect this job ran into: it is logged once with the job id and a traceback, counted on the job
(``Job.failures``, with a line in its history), and the job is tried again after a backoff while
the stage goes on with the others. When a job reaches ``limit`` such errors at one stage, the
stage parks it, each in the way that cannot send a fax twice (the submit stage holds it, the
track stage marks it ``unknown``, the notify stage gives up its status mail, retention leaves
its documents), and the operator is told.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from mail2fax.errors import StoreError
from mail2fax.models import Actor, Job
from mail2fax.queue.base import Store
from mail2fax.stages.backoff import retry_delay
from mail2fax.stages.cycle import Stopped

log = logging.getLogger("mail2fax.boundary")

T = TypeVar("T")
ERROR_TEXT_LIMIT = 300  # characters of an exception's text kept in a job's history


class Failed(enum.Enum):
    """What :meth:`JobBoundary.run` returns when the step raised."""

    FAILED = "failed"


FAILED = Failed.FAILED

# Parks a job the stage's own way; True when it did (a job that moved on meanwhile is left alone).
Park = Callable[[Job, str], Awaitable[bool]]


class Alerts(Protocol):
    """Where the boundary reports: a counter of unexpected errors, and a person for parked jobs."""

    def internal_error(self, stage: Actor) -> None: ...

    async def parked(self, job: Job, stage: Actor, reason: str) -> None: ...


def describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if len(text) > ERROR_TEXT_LIMIT:
        text = text[: ERROR_TEXT_LIMIT - 1] + "…"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class JobBoundary:
    def __init__(
        self,
        stage: Actor,
        store: Store,
        *,
        clock: Callable[[], datetime],
        limit: int,
        min_backoff: float,
        max_backoff: float,
        alerts: Alerts,
    ) -> None:
        self.stage = stage
        self.limit = limit
        self._store = store
        self._clock = clock
        self._min_backoff = min_backoff
        self._max_backoff = max_backoff
        self._alerts = alerts

    def exhausted(self, job: Job) -> bool:
        """Whether the job already caused as many unexpected errors here as the stage allows."""
        return job.failures >= self.limit

    async def run(self, job: Job, step: Callable[[], Awaitable[T]], *, park: Park) -> T | Failed:
        """Run one job's ``step``; on a defect count it, retry it later or ``park`` it, and go on."""
        try:
            return await step()
        except (StoreError, Stopped):
            raise
        except Exception as exc:  # noqa: BLE001 - the boundary: whatever one job triggers stays with it
            await self._failed(job, exc, park)
            return FAILED

    async def park(self, job: Job, reason: str, park: Park) -> None:
        """Park the job now and tell the operator, unless it moved on meanwhile."""
        try:
            parked = await park(job, reason)
        except StoreError:
            raise
        except Exception:
            log.exception("job could not be parked", extra={"job": job.id, "stage": self.stage.value})
            return
        if parked:
            await self._alerts.parked(await self._store.get(job.id) or job, self.stage, reason)

    async def _failed(self, job: Job, exc: Exception, park: Park) -> None:
        described = describe(exc)
        self._alerts.internal_error(self.stage)
        now = self._clock()
        delay = retry_delay(job.failures + 1, minimum=self._min_backoff, maximum=self._max_backoff)
        log.error(
            "unexpected error while handling a job; the other jobs go on",
            extra={
                "job": job.id,
                "stage": self.stage.value,
                "failure": job.failures + 1,
                "limit": self.limit,
            },
            exc_info=exc,
        )
        try:
            count = await self._store.record_failure(
                job.id,
                actor=self.stage,
                now=now,
                detail=f"internal error: {described}",
                retry_at=now + timedelta(seconds=delay),
            )
        except StoreError:
            raise
        except Exception:
            log.exception("the error could not be recorded on the job", extra={"job": job.id})
            return
        if count >= self.limit:
            reason = f"{count} unexpected errors in the {self.stage.value} stage, the last {described}"
            await self.park(job, reason, park)
