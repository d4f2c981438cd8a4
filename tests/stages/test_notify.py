"""The notify stage through run_once: a real SQLite queue, status mails to a real SMTP relay on
loopback (tests/capture.py), a clock that stands still."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator

import pytest

from mail2fax.commands.render import job_text
from mail2fax.mailer import Mailer
from mail2fax.models import Actor, Job, JobState, RecipientResult
from mail2fax.queue.sqlite import SqliteStore
from mail2fax.settings import NotifySettings, RelaySettings
from mail2fax.stages.alerts import OperatorAlerts
from mail2fax.stages.doorbell import Doorbell
from mail2fax.stages.notify import NotifyStage
from tests.capture import CaptureRelay
from tests.stages.harness import RETRY, Clock, RecordingAlerts, moved, queued

SUBMIT = Actor.SUBMIT
OPERATOR = "faxadmin@example.com"


@pytest.fixture
async def relay() -> AsyncIterator[CaptureRelay]:
    async with CaptureRelay() as capture:
        yield capture


def notify_stage(
    store: SqliteStore, relay: CaptureRelay, clock: Clock, alerts: RecordingAlerts | OperatorAlerts
) -> NotifyStage:
    return NotifyStage(
        store,
        Mailer(RelaySettings(host="127.0.0.1", port=relay.port, timeout=5)),
        settings=NotifySettings.model_validate({"from": "mail2fax@gateway.test", "operator": OPERATOR}),
        retry=RETRY,
        wakeup=Doorbell(),
        clock=clock,
        alerts=alerts,
    )


@pytest.fixture
def notify(store: SqliteStore, relay: CaptureRelay, clock: Clock, alerts: RecordingAlerts) -> NotifyStage:
    return notify_stage(store, relay, clock, alerts)


async def failed_job(store: SqliteStore, clock: Clock, sender: str = "alice@example.com") -> Job:
    job = await queued(store, clock, sender)
    return await moved(
        store, job, (JobState.FAILED, SUBMIT), clock=clock, finished_at=clock(), last_error="LineBusy"
    )


async def current(store: SqliteStore, job_id: str) -> Job:
    job = await store.get(job_id)
    assert job is not None
    return job


async def test_the_sender_of_a_final_job_gets_one_status_mail(
    store: SqliteStore, relay: CaptureRelay, clock: Clock, notify: NotifyStage
) -> None:
    job = await failed_job(store, clock)
    assert await notify.run_once() == 1
    assert await notify.run_once() == 0
    [mail] = relay.mails
    assert mail.recipients == ["alice@example.com"]
    assert "LineBusy" in mail.body
    done = await current(store, job.id)
    assert done.notified_at == clock()
    last = (await store.events(job.id))[-1]
    assert (last.actor, last.detail) == (Actor.NOTIFY, "status mail sent to alice@example.com")


async def test_automatic_senders_get_no_status_mail(
    store: SqliteStore, relay: CaptureRelay, clock: Clock, notify: NotifyStage
) -> None:
    job = await failed_job(store, clock, "MAILER-DAEMON@example.com")
    assert await notify.run_once() == 0
    assert relay.mails == []
    assert (await current(store, job.id)).notified_at == clock()


async def test_a_relay_outage_postpones_status_mails_and_is_logged_once(
    store: SqliteStore,
    relay: CaptureRelay,
    clock: Clock,
    notify: NotifyStage,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="mail2fax.notify")
    job = await failed_job(store, clock)
    relay.refuse = "451 4.3.0 try later"
    assert await notify.run_once() == 0
    assert await notify.run_once() == 0  # postponed: not even tried
    assert relay.refused == 1
    clock.advance(RETRY.min_backoff)
    assert await notify.run_once() == 0
    assert relay.refused == 2
    relay.refuse = None
    clock.advance(RETRY.min_backoff)
    assert await notify.run_once() == 1
    assert (await current(store, job.id)).notified_at is not None
    assert [r.getMessage() for r in caplog.records if r.name == "mail2fax.notify"] == [
        "the relay does not take status mails; they wait in the queue",
        "the relay takes status mails again",
    ]


async def test_a_permanent_refusal_settles_the_status_mail(
    store: SqliteStore, relay: CaptureRelay, clock: Clock, notify: NotifyStage
) -> None:
    job = await failed_job(store, clock)
    relay.refuse = "550 5.1.1 no such user"
    assert await notify.run_once() == 0
    settled = await current(store, job.id)
    assert settled.notified_at is not None
    detail = (await store.events(job.id))[-1].detail
    assert detail is not None and detail.startswith("status mail refused:") and "550" in detail


async def test_a_status_mail_that_cannot_be_made_is_given_up_and_the_operator_told(
    store: SqliteStore, relay: CaptureRelay, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    alerts = OperatorAlerts(
        Mailer(RelaySettings(host="127.0.0.1", port=relay.port, timeout=5)),
        from_address="mail2fax@gateway.test",
        operator=OPERATOR,
        clock=clock,
    )
    notify = notify_stage(store, relay, clock, alerts)
    # A damaged row: a number where RingCentral's status text belongs.
    poison = await moved(
        store,
        await queued(store, clock, "carol@example.com"),
        (JobState.FAILED, SUBMIT),
        clock=clock,
        finished_at=clock(),
        results=(RecipientResult("+14155551212", 5),),  # type: ignore[arg-type]
    )
    good = await failed_job(store, clock, "bob@example.com")
    assert await notify.run_once() == 1
    assert [mail.recipients for mail in relay.mails] == [["bob@example.com"]]
    assert (await current(store, good.id)).notified_at is not None
    waiting = await current(store, poison.id)
    assert (waiting.notified_at, waiting.failures) == (None, 1)
    assert await notify.run_once() == 0  # in its backoff
    for _ in range(RETRY.internal_errors - 1):
        clock.advance(RETRY.max_backoff)
        await notify.run_once()
    given_up = await current(store, poison.id)
    assert given_up.notified_at is not None
    detail = (await store.events(poison.id))[-1].detail
    assert detail is not None and detail.startswith(
        "status mail given up: 3 unexpected errors in the notify stage"
    )
    shown = job_text(given_up, await store.documents(poison.id), await store.events(poison.id))
    assert re.search(r"Status mail: +given up .*: 3 unexpected errors in the notify stage", shown)
    alert = relay.mails[-1]
    assert alert.recipients == [OPERATOR]
    assert alert.subject == f"mail2fax: job {poison.id} needs a person"
    assert "Its sender got no status mail" in alert.body
    assert len(relay.mails) == 2
    tracebacks = [r for r in caplog.records if r.name == "mail2fax.boundary" and r.exc_info]
    assert len(tracebacks) == RETRY.internal_errors
