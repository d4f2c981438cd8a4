"""The FaxOut backend end to end: each result code, HTTP trouble, and what the sender is told."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from mail2fax.models import JobState
from tests.capture import CaptureRelay
from tests.conftest import eventually, running, settings_for, wait_until
from tests.emulator.faxout import FaxOutEmulator
from tests.mailbuilder import mail
from tests.samples.other import pdf_bytes
from tests.smtp_client import deliver

PASSWORD = "test-password"


@pytest.fixture
async def fo() -> AsyncIterator[FaxOutEmulator]:
    async with FaxOutEmulator() as emulator:
        yield emulator


def faxout_settings(tmp_path: Path, relay: CaptureRelay, fo: FaxOutEmulator, **faxout: Any):
    return settings_for(
        tmp_path,
        relay,
        backend="faxout",
        faxout={"url": fo.url, "username": "+1 650 555 0100", "password": PASSWORD, "timeout": 2.0, **faxout},
        retry={"min_backoff": 0.05, "max_backoff": 0.1, "auth_backoff": 0.3},
    )


async def send(port: int, subject: str = "Order 12") -> None:
    message = mail(subject=subject, attachments=[("order.pdf", pdf_bytes(), "application/pdf")])
    transaction = await deliver(port, bytes(message), recipients=["14155551212@fax.local"])
    assert transaction.accepted, transaction.final


async def only_job(daemon):
    [job] = await daemon.store.list_jobs()
    return job


async def test_accepted_fax_is_reported_as_accepted_never_as_sent(
    tmp_path: Path, relay: CaptureRelay, fo: FaxOutEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fo.username = "16505550100*101"
    async with running(faxout_settings(tmp_path, relay, fo, extension="101")) as daemon:
        await send(daemon.smtp_port)
        [status] = await relay.wait_for(1)
        job = await only_job(daemon)
    [request] = fo.requests
    assert request.one("Username") == "16505550100*101"
    assert request.one("Password") == PASSWORD
    assert request.fields["Recipient"] == ["14155551212"]
    assert request.one("Coverpagetext") == "Order 12"
    assert request.one("Resolution") == "High"
    assert [(a.filename, a.content_type) for a in request.attachments] == [("order.pdf", "application/pdf")]
    assert fo.violations == []
    assert job.state is JobState.ACCEPTED
    assert status.subject == "Fax to +14155551212 accepted by RingCentral"
    assert "RingCentral mails it to the RingCentral account's own email address" in status.body
    assert " sent" not in status.subject
    assert "was sent" not in status.body
    assert PASSWORD not in caplog.text
    assert PASSWORD not in status.message.as_string()


async def test_authorization_failure_holds_the_queue_until_credentials_work(
    tmp_path: Path, relay: CaptureRelay, fo: FaxOutEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    fo.password = "changed-at-ringcentral"
    async with running(faxout_settings(tmp_path, relay, fo)) as daemon:
        await send(daemon.smtp_port, "first")
        await send(daemon.smtp_port, "second")
        await wait_until(lambda: len(fo.requests) >= 2)
        assert {r.answer for r in fo.requests} == {"1"}

        async def both_deferred() -> bool:
            jobs = await daemon.store.list_jobs()
            return all(job.state is JobState.DEFERRED for job in jobs)

        await eventually(both_deferred)
        assert relay.mails == []
        fo.password = PASSWORD
        await relay.wait_for(2)
        states = {job.state for job in await daemon.store.list_jobs()}
    assert states == {JobState.ACCEPTED}
    loud = [r for r in caplog.records if "credentials" in r.getMessage() and r.levelno >= logging.ERROR]
    assert len(loud) == 1
    assert PASSWORD not in caplog.text


@pytest.mark.parametrize(("code", "reason"), [(2, "prohibited"), (3, "no recipients"), (4, "no fax data")])
async def test_permanent_codes_fail_the_job(
    tmp_path: Path,
    relay: CaptureRelay,
    fo: FaxOutEmulator,
    caplog: pytest.LogCaptureFixture,
    code: int,
    reason: str,
) -> None:
    fo.answer_next(code)
    async with running(faxout_settings(tmp_path, relay, fo)) as daemon:
        await send(daemon.smtp_port)
        [status] = await relay.wait_for(1)
        job = await only_job(daemon)
    assert job.state is JobState.FAILED
    assert len(fo.requests) == 1
    assert status.subject.startswith("Fax to +14155551212 failed:")
    assert reason in status.body
    defects = [r for r in caplog.records if "defect" in r.getMessage()]
    assert bool(defects) == (code in (3, 4))


@pytest.mark.parametrize(
    "trouble",
    [
        {"answer_next": 5},
        {"status": 503, "body": "Service Unavailable"},
        {"status": 429, "body": "Too Many Requests"},
    ],
)
async def test_answers_that_prove_nothing_was_accepted_are_retried(
    tmp_path: Path, relay: CaptureRelay, fo: FaxOutEmulator, trouble: dict[str, Any]
) -> None:
    if "answer_next" in trouble:
        fo.answer_next(trouble["answer_next"])
    else:
        fo.inject(**trouble)
    async with running(faxout_settings(tmp_path, relay, fo)) as daemon:
        await send(daemon.smtp_port)
        [status] = await relay.wait_for(1)
        job = await only_job(daemon)
    assert job.state is JobState.ACCEPTED
    assert job.attempts == 2
    assert len(fo.accepted) == 1
    assert status.subject == "Fax to +14155551212 accepted by RingCentral"


async def test_check_config_masks_the_password(
    tmp_path: Path, relay: CaptureRelay, fo: FaxOutEmulator
) -> None:
    from mail2fax.settings import masked

    shown = str(masked(faxout_settings(tmp_path, relay, fo)))
    assert PASSWORD not in shown
    assert "**********" in shown


@pytest.mark.parametrize(
    "trouble",
    [
        {"action": "slow", "delay": 3.0, "process": True},
        {"action": "reset", "process": True},
        {"action": "reset"},
        {"status": 500, "body": "Internal Server Error", "process": True},
        {"status": 502, "body": "Bad Gateway", "process": True},
        {"status": 504, "body": "Gateway Timeout"},
        {"body": "<html>maintenance</html>", "process": True},
        {"body": "7"},
    ],
)
async def test_an_answer_after_the_upload_that_proves_nothing_is_never_resent(
    tmp_path: Path, relay: CaptureRelay, fo: FaxOutEmulator, trouble: dict[str, Any]
) -> None:
    """FaxOut cannot be asked whether a fax arrived: no answer, a server error, or an answer that is
    not a result code ends the job unknown rather than risk a second fax."""
    fo.inject(**trouble)
    async with running(faxout_settings(tmp_path, relay, fo)) as daemon:
        await send(daemon.smtp_port)
        [status] = await relay.wait_for(1)
        job = await only_job(daemon)
    assert job.state is JobState.UNKNOWN
    assert job.attempts == 1
    assert len(fo.accepted) == (1 if trouble.get("process") else 0)
    assert status.subject == "Fax to +14155551212: outcome unknown"
    assert "not sent again" in status.body
