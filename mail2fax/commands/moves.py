"""``mail2fax queue retry|hold|release|cancel``: an operator moves jobs, one or many at a time.

Every change goes through ``Store.transition``, which moves a job only from the states named,
so an operator and the daemon can never both move one job: whoever comes second is told the
job moved on; and only along the operator's moves in ``models.TRANSITIONS``. Each change is
recorded in the job's history by ``operator``, with ``operator <user>: …`` as its detail.

The jobs are named by id, or chosen by ``--state`` or ``--all`` (like ``postsuper -h ALL``).
Each job is moved on its own; one that cannot be moved is reported and the others still are.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from mail2fax.clock import WallClock, utcnow
from mail2fax.commands import CommandError, Report, operator_name
from mail2fax.commands.context import open_backend, open_store
from mail2fax.commands.render import job_summary
from mail2fax.errors import JobNotFound, Mail2FaxError
from mail2fax.models import Actor, Job, JobState
from mail2fax.queue.base import Store
from mail2fax.settings import Settings

RETRYABLE = (JobState.FAILED, JobState.UNKNOWN, JobState.CANCELLED, JobState.DEFERRED, JobState.HELD)
HOLDABLE = (JobState.QUEUED, JobState.DEFERRED)
CANCELLABLE_HERE = (JobState.QUEUED, JobState.DEFERRED, JobState.HELD)
CANCELLABLE = (*CANCELLABLE_HERE, JobState.SCHEDULED)


@dataclass(frozen=True, slots=True)
class Context:
    """What one move needs besides the job."""

    settings: Settings
    store: Store
    force: bool
    operator: str
    clock: WallClock


MoveFunction = Callable[[Context, Job], Awaitable[tuple[Job, str]]]


@dataclass(frozen=True, slots=True)
class Move:
    name: str
    past: str
    sources: tuple[JobState, ...]
    help: str
    run: MoveFunction

    def chosen_by_all(self, force: bool) -> tuple[JobState, ...]:
        """The states ``--all`` takes: an unknown job is retried only with --force."""
        if self.name == "retry" and not force:
            return tuple(state for state in self.sources if state is not JobState.UNKNOWN)
        return self.sources


async def _moved_on(store: Store, job: Job, action: str) -> CommandError:
    """The job left the state it was in while we worked: say where it is now."""
    current = await store.get(job.id)
    state = current.state.value if current is not None else "gone"
    return CommandError(f"job {job.id} cannot be {action}: it moved from {job.state.value} to {state}")


def _refuse(job: Job, action: str, allowed: Sequence[JobState], why: str = "") -> CommandError:
    names = ", ".join(state.value for state in allowed)
    reason = why or f"only {names} jobs can be {action}"
    return CommandError(f"job {job.id} is {job.state.value}: {reason}")


async def _retry(context: Context, job: Job) -> tuple[Job, str]:
    """Queue a job again now, with a fresh lifetime; its sender is told the new outcome."""
    store = context.store
    if job.state not in RETRYABLE:
        why = ""
        if job.state in (JobState.SENT, JobState.ACCEPTED):
            why = "it was already handed over; send it again with `mail2fax send` if you must"
        elif job.state is JobState.QUEUED:
            why = "it is already waiting to be sent"
        elif job.state in (JobState.SUBMITTING, JobState.SUBMITTED, JobState.SCHEDULED):
            why = "it is at the fax service already"
        raise _refuse(job, "retried", RETRYABLE, why)
    if job.state is JobState.UNKNOWN and not context.force:
        raise CommandError(
            f"job {job.id} is unknown: the fax may have gone out already; check the account's "
            "sent faxes, then use --force to send it again"
        )
    await _check_documents(store, job)
    now = context.clock()
    lifetime = timedelta(seconds=context.settings.retry.lifetime)
    moved = await store.transition(
        job.id,
        [job.state],
        JobState.QUEUED,
        actor=Actor.OPERATOR,
        now=now,
        detail=f"operator {context.operator}: retry" + (" (forced)" if context.force else ""),
        forced=context.force,
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
    return moved, "queued again"


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


async def _hold(context: Context, job: Job) -> tuple[Job, str]:
    if job.state not in HOLDABLE:
        raise _refuse(job, "held", HOLDABLE)
    moved = await context.store.transition(
        job.id,
        HOLDABLE,
        JobState.HELD,
        actor=Actor.OPERATOR,
        now=context.clock(),
        detail=f"operator {context.operator}: hold",
    )
    if moved is None:
        raise await _moved_on(context.store, job, "held")
    return moved, "held until released"


async def _release(context: Context, job: Job) -> tuple[Job, str]:
    if job.state is not JobState.HELD:
        raise _refuse(job, "released", [JobState.HELD])
    now = context.clock()
    lifetime = timedelta(seconds=context.settings.retry.lifetime)
    moved = await context.store.transition(
        job.id,
        [JobState.HELD],
        JobState.QUEUED,
        actor=Actor.OPERATOR,
        now=now,
        detail=f"operator {context.operator}: release",
        next_attempt_at=now,
        # Time spent held does not count against the job's lifetime.
        expires_at=max(job.expires_at, now + lifetime),
    )
    if moved is None:
        raise await _moved_on(context.store, job, "released")
    return moved, "released"


async def _cancel(context: Context, job: Job) -> tuple[Job, str]:
    """Cancel a job that has not gone out; a scheduled fax is deleted at the fax service first."""
    detail = f"operator {context.operator}: cancel"
    if job.state is JobState.SCHEDULED:
        return await _cancel_scheduled(context, job, detail)
    if job.state not in CANCELLABLE_HERE:
        why = ""
        if job.state in (JobState.SUBMITTING, JobState.SUBMITTED):
            why = "it is being transmitted and can no longer be stopped"
        elif job.state.is_final:
            why = "it is finished"
        raise _refuse(job, "cancelled", CANCELLABLE, why)
    now = context.clock()
    moved = await context.store.transition(
        job.id,
        CANCELLABLE_HERE,
        JobState.CANCELLED,
        actor=Actor.OPERATOR,
        now=now,
        detail=detail,
        finished_at=now,
    )
    if moved is None:
        raise await _moved_on(context.store, job, "cancelled")
    return moved, "cancelled"


async def _cancel_scheduled(context: Context, job: Job, detail: str) -> tuple[Job, str]:
    settings = context.settings
    if job.backend != settings.backend:
        raise CommandError(
            f"job {job.id} was scheduled with the {job.backend} backend, but MAIL2FAX_BACKEND is "
            f"{settings.backend}"
        )
    if not job.backend_id:
        raise CommandError(f"job {job.id} is scheduled but has no fax id to cancel at the fax service")
    send_at = job.options.send_at
    if send_at is None or send_at <= context.clock():
        raise CommandError(
            f"job {job.id} was scheduled for {send_at or 'now'} and that time has passed: "
            "the fax may be going out and can no longer be cancelled"
        )
    async with open_backend(settings) as backend:
        await backend.cancel(job.backend_id)
    now = context.clock()
    moved = await context.store.transition(
        job.id,
        [JobState.SCHEDULED],
        JobState.CANCELLED,
        actor=Actor.OPERATOR,
        now=now,
        detail=f"{detail} (fax {job.backend_id} deleted at {job.backend})",
        finished_at=now,
    )
    if moved is None:
        raise await _moved_on(context.store, job, "cancelled after its fax was deleted at the fax service")
    return moved, f"scheduled fax {job.backend_id} deleted at {job.backend}"


MOVES = {
    move.name: move
    for move in (
        Move(
            "retry",
            "retried",
            RETRYABLE,
            "queue failed, unknown, cancelled, deferred or held jobs again now",
            _retry,
        ),
        Move("hold", "held", HOLDABLE, "stop queued or deferred jobs until they are released", _hold),
        Move("release", "released", (JobState.HELD,), "let held jobs go out now", _release),
        Move(
            "cancel",
            "cancelled",
            CANCELLABLE,
            "cancel jobs that have not gone out (a scheduled fax is deleted at RingCentral)",
            _cancel,
        ),
    )
}


async def _targets(store: Store, job_ids: Sequence[str], states: Sequence[JobState]) -> list[Job | str]:
    """The jobs named (an id that names none stays a string), or every job in ``states``."""
    if not job_ids:
        return list(await store.in_states(states))
    targets: list[Job | str] = []
    for job_id in dict.fromkeys(job_id.strip() for job_id in job_ids):
        job = await store.get(job_id)
        targets.append(job if job is not None else job_id)
    return targets


async def move_jobs(
    settings: Settings,
    name: str,
    job_ids: Sequence[str],
    states: Sequence[JobState] = (),
    *,
    every: bool = False,
    force: bool = False,
    clock: WallClock = utcnow,
) -> Report:
    """Apply one move to each chosen job; the report lists what moved and what could not."""
    move = MOVES[name]
    chosen = move.chosen_by_all(force) if every else tuple(states)
    lines: list[str] = []
    errors: list[str] = []
    data: list[dict[str, Any]] = []
    async with open_store(settings) as store:
        context = Context(settings, store, force, operator_name(), clock)
        for target in await _targets(store, job_ids, chosen):
            if isinstance(target, str):
                errors.append(str(JobNotFound(f"no job {target!r} in the queue")))
                data.append({"id": target, "error": errors[-1]})
                continue
            try:
                moved, action = await move.run(context, target)
            except Mail2FaxError as exc:
                errors.append(str(exc))
                data.append({"id": target.id, "state": target.state.value, "error": str(exc)})
                continue
            lines.append(f"job {moved.id}: {action}, now {moved.state.value}")
            data.append(job_summary(moved))
    if not job_ids and not data:
        lines.append(f"no {' or '.join(state.value for state in chosen)} jobs to be {move.past}")
    if len(job_ids) == 1:
        return Report("\n".join(lines), data[0], tuple(errors))
    return Report("\n".join(lines), data, tuple(errors))
