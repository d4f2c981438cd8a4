"""``mail2fax queue list|show|flush|purge|bridges``: look at the queue, make it go now, forget
old jobs, see which bridges share it.

The moves of single jobs (retry, hold, release, cancel) are in :mod:`mail2fax.commands.moves`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import timedelta

from mail2fax.clock import WallClock, utcnow
from mail2fax.commands import Report, operator_name
from mail2fax.commands.context import open_store
from mail2fax.commands.render import bridges_table, iso, job_detail, job_summary, job_text, jobs_table
from mail2fax.errors import JobNotFound
from mail2fax.models import FINAL_STATES, Actor, Job, JobState
from mail2fax.queue.base import Store
from mail2fax.settings import Settings

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
OPEN_STATES = tuple(state for state in JobState if state not in FINAL_STATES)
LONGEST_DURATION = timedelta(days=36500)  # a hundred years: longer ones overflow the calendar


def parse_duration(text: str) -> timedelta:
    """``30d``, ``12h``, ``90m``, ``45s``, ``2w`` (a bare number is days)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text.lower())
    if match is None:
        raise ValueError(f"{text!r} is not a duration; write it like 30d, 12h, 90m or 45s")
    number, unit = match.groups()
    seconds = float(number) * UNITS[unit or "d"]
    if seconds > LONGEST_DURATION.total_seconds():
        raise ValueError(f"{text!r} is longer than {LONGEST_DURATION.days} days")
    return timedelta(seconds=seconds)


async def _job(store: Store, job_id: str) -> Job:
    job = await store.get(job_id.strip())
    if job is None:
        raise JobNotFound(f"no job {job_id!r} in the queue")
    return job


async def list_jobs(
    settings: Settings, states: Sequence[JobState] | None, limit: int, *, every: bool = False
) -> Report:
    """Open jobs by default; ``states`` chooses others, ``every`` shows finished jobs too."""
    chosen: Sequence[JobState] | None = states or (None if every else OPEN_STATES)
    async with open_store(settings) as store:
        jobs = await store.list_jobs(chosen, limit=limit + 1)
    more = len(jobs) > limit
    jobs = jobs[:limit]
    text = jobs_table(jobs)
    if not jobs and not states and not every:
        text = "no open jobs (`mail2fax queue list --all` shows finished ones too)"
    if more:
        text += f"\nthe {limit} newest shown; there are more (--limit N shows N)"
    return Report(text, [job_summary(job) for job in jobs])


async def show_job(settings: Settings, job_id: str) -> Report:
    async with open_store(settings) as store:
        job = await _job(store, job_id)
        documents = await store.documents(job.id)
        events = await store.events(job.id)
    return Report(job_text(job, documents, events), job_detail(job, documents, events))


async def flush(settings: Settings, *, clock: WallClock = utcnow) -> Report:
    """Like ``postqueue -f``: deferred jobs and postponed status mails become due now."""
    now = clock()
    detail = f"operator {operator_name()}: flush"
    moved: list[str] = []
    async with open_store(settings) as store:
        for job in await store.in_states([JobState.DEFERRED]):
            done = await store.transition(
                job.id,
                [JobState.DEFERRED],
                JobState.QUEUED,
                actor=Actor.OPERATOR,
                now=now,
                detail=detail,
                next_attempt_at=now,
            )
            if done is not None:
                moved.append(job.id)
        mails = await store.flush_notifications(now)
    jobs = "job" if len(moved) == 1 else "jobs"
    status_mails = "status mail" if mails == 1 else "status mails"
    text = f"{len(moved)} deferred {jobs} and {mails} postponed {status_mails} due now"
    return Report(text, {"jobs": moved, "status_mails": mails})


async def purge_jobs(settings: Settings, older_than: timedelta, *, clock: WallClock = utcnow) -> Report:
    """Forget finished jobs (rows, history, documents) that finished longer ago than ``older_than``.

    A job whose sender has not been told its outcome yet is kept, however old: the status mail
    is still owed.
    """
    before = clock() - older_than
    async with open_store(settings) as store:
        count = await store.delete_jobs(finished_before=before)
        owed = [
            job
            for job in await store.in_states(FINAL_STATES)
            if job.notify and job.notified_at is None and job.finished_at and job.finished_at < before
        ]
    jobs = "job" if count == 1 else "jobs"
    text = f"deleted {count} finished {jobs} that finished before {before:%Y-%m-%d %H:%M} UTC"
    if owed:
        text += f"; kept {len(owed)} whose sender has not been told yet"
    data = {"deleted": count, "finished_before": before.isoformat(), "kept_unnotified": len(owed)}
    return Report(text, data)


async def list_bridges(settings: Settings, *, clock: WallClock = utcnow) -> Report:
    """The daemons sharing a PostgreSQL queue, from their heartbeats: one is alive while its
    latest heartbeat is younger than its lease (it writes one every third of the lease)."""
    async with open_store(settings) as store:
        bridges = await store.bridges()
    if settings.database_url is None:
        return Report("one daemon owns this queue (SQLite): no bridges share it", [])
    now = clock()
    alive = [(now - bridge.seen_at).total_seconds() < settings.lease for bridge in bridges]
    data = [
        {
            "owner": bridge.owner,
            "host": bridge.host,
            "pid": bridge.pid,
            "started_at": iso(bridge.started_at),
            "seen_at": iso(bridge.seen_at),
            "alive": up,
        }
        for bridge, up in zip(bridges, alive, strict=True)
    ]
    return Report(bridges_table(bridges, alive, now), data)
