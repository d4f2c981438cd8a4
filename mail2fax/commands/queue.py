"""``mail2fax queue``: look at jobs and move them by hand, while the daemon runs.

Every change goes through ``Store.transition``, which moves a job only from the states named
and only along the operator's moves in ``models.TRANSITIONS``, so an operator and the daemon
can never both move one job: whoever comes second is told the job moved on. Each change is
recorded in the job's history by ``operator``, with ``operator <user>: …`` as its detail.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from mail2fax.commands import CommandError, Report, operator_name
from mail2fax.commands.context import open_backend, open_store
from mail2fax.commands.render import job_detail, job_summary, job_text, jobs_table
from mail2fax.errors import JobNotFound
from mail2fax.models import Actor, Job, JobState
from mail2fax.queue.base import Store
from mail2fax.settings import Settings

RETRYABLE = (JobState.FAILED, JobState.UNKNOWN, JobState.CANCELLED, JobState.DEFERRED, JobState.HELD)
HOLDABLE = (JobState.QUEUED, JobState.DEFERRED)
CANCELLABLE_HERE = (JobState.QUEUED, JobState.DEFERRED, JobState.HELD)
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> timedelta:
    """``30d``, ``12h``, ``90m``, ``45s``, ``2w`` (a bare number is days)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text.lower())
    if match is None:
        raise ValueError(f"{text!r} is not a duration; write it like 30d, 12h, 90m or 45s")
    number, unit = match.groups()
    return timedelta(seconds=float(number) * UNITS[unit or "d"])


def _now() -> datetime:
    return datetime.now(UTC)


async def _job(store: Store, job_id: str) -> Job:
    job = await store.get(job_id.strip())
    if job is None:
        raise JobNotFound(f"no job {job_id!r} in the queue")
    return job


def _changed(job: Job, action: str) -> Report:
    return Report(f"job {job.id}: {action}, now {job.state.value}", job_summary(job))


async def _moved_on(store: Store, job: Job, action: str) -> CommandError:
    """The job left the state it was in while we worked: say where it is now."""
    current = await store.get(job.id)
    state = current.state.value if current is not None else "gone"
    return CommandError(f"job {job.id} cannot be {action}: it moved from {job.state.value} to {state}")


def _refuse(job: Job, action: str, allowed: Iterable[JobState], why: str = "") -> CommandError:
    names = ", ".join(state.value for state in allowed)
    reason = why or f"only {names} jobs can be {action}"
    return CommandError(f"job {job.id} is {job.state.value}: {reason}")


async def list_jobs(settings: Settings, states: list[JobState] | None, limit: int) -> Report:
    async with open_store(settings) as store:
        jobs = await store.list_jobs(states or None, limit=limit)
    return Report(jobs_table(jobs), [job_summary(job) for job in jobs])


async def show_job(settings: Settings, job_id: str) -> Report:
    async with open_store(settings) as store:
        job = await _job(store, job_id)
        documents = await store.documents(job.id)
        events = await store.events(job.id)
    return Report(job_text(job, documents, events), job_detail(job, documents, events))


async def retry_job(settings: Settings, job_id: str, *, force: bool = False) -> Report:
    """Queue a job again now, with a fresh lifetime; its sender is told the new outcome."""
    async with open_store(settings) as store:
        job = await _job(store, job_id)
        if job.state not in RETRYABLE:
            why = ""
            if job.state in (JobState.SENT, JobState.ACCEPTED):
                why = "it was already handed over; send it again with `mail2fax send` if you must"
            elif job.state is JobState.QUEUED:
                why = "it is already waiting to be sent"
            elif job.state in (JobState.SUBMITTING, JobState.SUBMITTED, JobState.SCHEDULED):
                why = "it is at the fax service already"
            raise _refuse(job, "retried", RETRYABLE, why)
        if job.state is JobState.UNKNOWN and not force:
            raise CommandError(
                f"job {job.id} is unknown: the fax may have gone out already; check the account's "
                "sent faxes, then use --force to send it again"
            )
        await _check_documents(store, job)
        now = _now()
        lifetime = timedelta(seconds=settings.retry.lifetime)
        moved = await store.transition(
            job.id,
            [job.state],
            JobState.QUEUED,
            actor=Actor.OPERATOR,
            now=now,
            detail=f"operator {operator_name()}: retry" + (" (forced)" if force else ""),
            forced=force,
            next_attempt_at=now,
            expires_at=now + lifetime,
            finished_at=None,
            last_error=None,
            page_count=None,
            results=(),
            notified_at=None,
        )
        if moved is None:
            raise await _moved_on(store, job, "retried")
    return _changed(moved, "queued again")


async def _check_documents(store: Store, job: Job) -> None:
    if job.documents_purged_at is not None:
        raise CommandError(
            f"job {job.id} cannot be sent again: its documents were deleted "
            f"{job.documents_purged_at:%Y-%m-%d %H:%M} UTC (MAIL2FAX_RETENTION__DOCUMENTS)"
        )
    documents = await store.local_documents(job.id)
    present = await asyncio.to_thread(lambda: [Path(d.path).is_file() for d in documents])
    missing = [d.filename for d, here in zip(documents, present, strict=True) if not here]
    if missing or not documents:
        raise CommandError(
            f"job {job.id} cannot be sent again: documents missing from the spool: {', '.join(missing)}"
        )


async def hold_job(settings: Settings, job_id: str) -> Report:
    async with open_store(settings) as store:
        job = await _job(store, job_id)
        if job.state not in HOLDABLE:
            raise _refuse(job, "held", HOLDABLE)
        moved = await store.transition(
            job.id,
            HOLDABLE,
            JobState.HELD,
            actor=Actor.OPERATOR,
            now=_now(),
            detail=f"operator {operator_name()}: hold",
        )
        if moved is None:
            raise await _moved_on(store, job, "held")
    return _changed(moved, "held until released")


async def release_job(settings: Settings, job_id: str) -> Report:
    async with open_store(settings) as store:
        job = await _job(store, job_id)
        if job.state is not JobState.HELD:
            raise _refuse(job, "released", [JobState.HELD])
        now = _now()
        moved = await store.transition(
            job.id,
            [JobState.HELD],
            JobState.QUEUED,
            actor=Actor.OPERATOR,
            now=now,
            detail=f"operator {operator_name()}: release",
            next_attempt_at=now,
            # Time spent held does not count against the job's lifetime.
            expires_at=max(job.expires_at, now + timedelta(seconds=settings.retry.lifetime)),
        )
        if moved is None:
            raise await _moved_on(store, job, "released")
    return _changed(moved, "released")


async def cancel_job(settings: Settings, job_id: str) -> Report:
    """Cancel a job that has not gone out; a scheduled fax is deleted at the fax service first."""
    async with open_store(settings) as store:
        job = await _job(store, job_id)
        detail = f"operator {operator_name()}: cancel"
        if job.state is JobState.SCHEDULED:
            return await _cancel_scheduled(settings, store, job, detail)
        if job.state not in CANCELLABLE_HERE:
            why = ""
            if job.state in (JobState.SUBMITTING, JobState.SUBMITTED):
                why = "it is being transmitted and can no longer be stopped"
            elif job.state.is_final:
                why = "it is finished"
            raise _refuse(job, "cancelled", (*CANCELLABLE_HERE, JobState.SCHEDULED), why)
        now = _now()
        moved = await store.transition(
            job.id,
            CANCELLABLE_HERE,
            JobState.CANCELLED,
            actor=Actor.OPERATOR,
            now=now,
            detail=detail,
            finished_at=now,
        )
        if moved is None:
            raise await _moved_on(store, job, "cancelled")
    return _changed(moved, "cancelled")


async def _cancel_scheduled(settings: Settings, store: Store, job: Job, detail: str) -> Report:
    if job.backend != settings.backend:
        raise CommandError(
            f"job {job.id} was scheduled with the {job.backend} backend, but MAIL2FAX_BACKEND is "
            f"{settings.backend}"
        )
    if not job.backend_id:
        raise CommandError(f"job {job.id} is scheduled but has no fax id to cancel at the fax service")
    send_at = job.options.send_at
    if send_at is None or send_at <= _now():
        raise CommandError(
            f"job {job.id} was scheduled for {send_at or 'now'} and that time has passed: "
            "the fax may be going out and can no longer be cancelled"
        )
    async with open_backend(settings) as backend:
        await backend.cancel(job.backend_id)
    now = _now()
    moved = await store.transition(
        job.id,
        [JobState.SCHEDULED],
        JobState.CANCELLED,
        actor=Actor.OPERATOR,
        now=now,
        detail=f"{detail} (fax {job.backend_id} deleted at {job.backend})",
        finished_at=now,
    )
    if moved is None:
        raise await _moved_on(store, job, "cancelled after its fax was deleted at the fax service")
    return _changed(moved, f"scheduled fax {job.backend_id} deleted at {job.backend}")


async def purge_jobs(settings: Settings, older_than: timedelta) -> Report:
    """Forget finished jobs (rows, history, documents) that finished longer ago than ``older_than``."""
    before = _now() - older_than
    async with open_store(settings) as store:
        count = await store.delete_jobs(finished_before=before)
    jobs = "job" if count == 1 else "jobs"
    text = f"deleted {count} finished {jobs} that finished before {before:%Y-%m-%d %H:%M} UTC"
    return Report(text, {"deleted": count, "finished_before": before.isoformat()})
