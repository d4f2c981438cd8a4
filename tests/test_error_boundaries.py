"""No job can stop the daemon: jobs that make each stage raise are parked, and everyone else is served.

The daemon runs as ``mail2fax serve`` runs it, against the RingCentral emulator and a capture
relay. Before it starts, its queue is given four damaged jobs, one for each stage: a send time
without a time zone (submit and track cannot compare it with the clock), a sender with a carriage
return (no status mail can carry it), and a row whose id the spool refuses (retention cannot
delete its documents).
"""

from __future__ import annotations

import logging
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mail2fax.models import Actor, Document, FaxOptions, FaxRequest, JobState, Recipient, RecipientResult
from mail2fax.queue.sqlite import SqliteStore
from mail2fax.settings import Settings
from tests.capture import CapturedMail, CaptureRelay
from tests.conftest import eventually, ringcentral_overrides, running, settings_for, wait_until
from tests.emulator import RingCentralEmulator
from tests.mailbuilder import mail
from tests.samples.other import pdf_bytes
from tests.smtp_client import deliver

OPERATOR = "faxadmin@example.com"
LIMIT = 3
NAIVE = datetime(2030, 1, 1, 9, 0)  # no time zone: a defect in the row


def poison_request(sender: str, *, send_at: datetime | None = None) -> FaxRequest:
    return FaxRequest(
        sender=sender,
        recipients=(Recipient("+16505550199"),),
        cover_text="damaged row",
        documents=(Document("a.pdf", "application/pdf", pdf_bytes()),),
        options=FaxOptions(send_at=send_at),
    )


async def plant(settings: Settings) -> dict[str, str]:
    """Write one damaged job per stage into the daemon's queue; returns their ids by stage."""
    store = await SqliteStore.open(settings.database_path, settings.spool_dir)
    now = datetime.now(UTC)
    try:
        submit = await store.enqueue(
            poison_request("s@example.com", send_at=NAIVE), backend="ringcentral", lifetime=3600, now=now
        )
        track = await store.enqueue(
            poison_request("t@example.com", send_at=NAIVE), backend="ringcentral", lifetime=3600, now=now
        )
        await store.transition(track.id, [JobState.QUEUED], JobState.SUBMITTING, actor=Actor.SUBMIT, now=now)
        await store.transition(
            track.id,
            [JobState.SUBMITTING],
            JobState.SUBMITTED,
            actor=Actor.SUBMIT,
            now=now,
            backend_id="1",  # RingCentral does not know it: the track stage looks at its send time
            submitted_at=now,
        )
        notify = await store.enqueue(
            poison_request("n@example.com"), backend="ringcentral", lifetime=3600, now=now
        )
        await store.transition(
            notify.id,
            [JobState.QUEUED],
            JobState.FAILED,
            actor=Actor.SUBMIT,
            now=now,
            finished_at=now,
            last_error="x",
            # A number where RingCentral's status text belongs: the status mail cannot be written.
            results=(RecipientResult("+16505550199", 5),),  # type: ignore[arg-type]
        )
    finally:
        await store.close()
    with sqlite3.connect(settings.database_path) as raw:
        long_ago = (now - timedelta(days=30)).timestamp()
        raw.execute(
            "INSERT INTO jobs (id, sender, recipients, cover_text, options, state, created_at, updated_at, "
            "expires_at, finished_at, notified_at) VALUES ('../x', 'r@example.com', '[]', '', '{}', 'sent', "
            "?, ?, ?, ?, ?)",
            (long_ago,) * 5,
        )
    return {"submit": submit.id, "track": track.id, "notify": notify.id, "retention": "../x"}


def alerts(relay: CaptureRelay) -> list[CapturedMail]:
    return [m for m in relay.mails if m.recipients == [OPERATOR] and m.subject.endswith("needs a person")]


async def test_jobs_that_make_each_stage_raise_are_parked_and_everyone_else_is_served(
    tmp_path: Path, relay: CaptureRelay, rc: RingCentralEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    rc.auto_outcome = lambda fax: ("Sent", 1, None)
    settings = settings_for(
        tmp_path,
        relay,
        **ringcentral_overrides(rc, listing_grace=0),
        notify={"operator": OPERATOR},
        retry={"internal_errors": LIMIT},
        retention={"documents": 0},
    )
    planted = await plant(settings)
    senders = [f"user{number}@example.com" for number in range(3)]
    async with running(settings) as daemon:
        store = daemon.store
        assert store is not None
        for sender in senders[:2]:
            message = mail(sender=sender, attachments=[("a.pdf", pdf_bytes(), "application/pdf")])
            assert (
                await deliver(
                    daemon.smtp_port, bytes(message), sender=sender, recipients=["14155551212@fax.local"]
                )
            ).accepted
        await wait_until(lambda: len(alerts(relay)) == 4, timeout=30, what="an alert for each stage")
        message = mail(sender=senders[2], attachments=[("a.pdf", pdf_bytes(), "application/pdf")])
        assert (
            await deliver(
                daemon.smtp_port, bytes(message), sender=senders[2], recipients=["14155551212@fax.local"]
            )
        ).accepted

        async def everyone_told() -> bool:
            told = {tuple(m.recipients) for m in relay.mails}
            return all((sender,) in told for sender in senders)

        await eventually(everyone_told)
        jobs = {stage: await store.get(job_id) for stage, job_id in planted.items()}
        parked = {
            stage: daemon.metrics.registry.get_sample_value("mail2fax_jobs_parked_total", {"stage": stage})
            for stage in planted
        }
    assert len(rc.faxes) == 3
    assert {job.state if job else None for job in jobs.values()} >= {JobState.HELD, JobState.UNKNOWN}
    assert jobs["submit"] is not None and jobs["submit"].state is JobState.HELD
    assert jobs["track"] is not None and jobs["track"].state is JobState.UNKNOWN
    assert jobs["notify"] is not None and jobs["notify"].notified_at is not None
    assert jobs["retention"] is not None
    assert (jobs["retention"].failures, jobs["retention"].documents_purged_at) == (LIMIT, None)
    assert parked == dict.fromkeys(planted, 1.0)
    assert sorted(m.subject for m in alerts(relay)) == sorted(
        f"mail2fax: job {job_id} needs a person" for job_id in planted.values()
    )
    for job_id in planted.values():
        tracebacks = [r for r in caplog.records if getattr(r, "job", None) == job_id and r.exc_info]
        assert len(tracebacks) == LIMIT, job_id
    assert not [r for r in caplog.records if r.getMessage().startswith("unexpected error in the stage")]
