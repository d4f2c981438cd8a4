"""Envelope addresses against the running daemon: strict at MAIL and RCPT, status mails to one address.

Each test here failed on the tree before the addresses were read by RFC 5321's grammar.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mail2fax.models import FaxRequest, JobState, Recipient
from mail2fax.queue.registry import open_store
from tests.capture import CaptureRelay
from tests.conftest import eventually, ringcentral_overrides, running, settings_for
from tests.emulator import RingCentralEmulator
from tests.mailbuilder import mail
from tests.raw_smtp import RawSMTP
from tests.samples.other import pdf_bytes
from tests.smtp_client import deliver

pytestmark = pytest.mark.timeout(60)

TO = "14155551212@fax.local"
CRLF_SENDER = '"=?utf-8?q?a=0Db?="@example.com'
BYPASS = "victim@=?utf-8?q?evil.com=2C_victim2=40evil.org=2Cx=40example.com?="


def fax(sender: str = "alice@example.com", to: str = TO) -> bytes:
    return bytes(mail(sender=sender, to=to, attachments=[("a.pdf", pdf_bytes(), "application/pdf")]))


def smtplib_mail_from(port: int, sender: str) -> tuple[int, bytes]:
    """What Python's own SMTP client gets back for MAIL FROM (it sends the address as given)."""
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.ehlo("client.test")
        return client.mail(sender)


async def test_an_encoded_word_sender_is_refused_and_the_daemon_goes_on(
    tmp_path: Path, relay: CaptureRelay, caplog: pytest.LogCaptureFixture
) -> None:
    async with running(settings_for(tmp_path, relay)) as daemon:
        assert daemon.smtp_port
        code, text = await asyncio.to_thread(smtplib_mail_from, daemon.smtp_port, CRLF_SENDER)
        assert (code, text.decode()) == (
            553,
            "5.1.7 The sender address holds an RFC 2047 encoded word (=?...?=), which envelope "
            "addresses may not",
        )
        good = await deliver(daemon.smtp_port, fax(), recipients=[TO])
        assert good.accepted, good.final
        [status] = await relay.wait_for(1)
        assert status.recipients == ["alice@example.com"]
        assert daemon.store is not None
        assert len(await daemon.store.list_jobs()) == 1
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


@pytest.mark.parametrize(
    "recipient",
    [
        "14155551212@fax.local",
        "+14155551212@fax.local",
        "1-415-555-1212@fax.local",
        "(415)555-1212@fax.local",
        "+1(415)555-1212@fax.local",
        '"+1 415 555 1212"@fax.local',
    ],
)
async def test_every_address_form_of_the_readme_is_faxed(
    tmp_path: Path, relay: CaptureRelay, recipient: str
) -> None:
    async with running(settings_for(tmp_path, relay)) as daemon:
        assert daemon.smtp_port
        sent = await deliver(daemon.smtp_port, fax(to=recipient), recipients=[recipient])
        assert sent.accepted, sent.final
        assert daemon.store is not None
        [job] = await daemon.store.list_jobs()
    assert [r.number for r in job.recipients] == ["+14155551212"]


async def test_the_allowlist_cannot_be_passed_with_an_encoded_domain(
    tmp_path: Path, relay: CaptureRelay
) -> None:
    settings = settings_for(tmp_path, relay, allowed_senders=["*@example.com"])
    async with running(settings) as daemon:
        assert daemon.smtp_port
        client = await RawSMTP.connect(daemon.smtp_port)
        await client.ehlo()
        refused = await client.command(f"MAIL FROM:<{BYPASS}>")
        assert refused.code == 553
        assert refused.text.startswith("5.1.7 The sender address holds an RFC 2047 encoded word")
        outsider = await client.command("MAIL FROM:<victim@evil.com>")
        assert outsider.code == 550
        allowed = await client.command("MAIL FROM:<bob@example.com>")
        assert allowed.code == 250
        await client.close()
        assert daemon.store is not None
        assert await daemon.store.list_jobs() == []
    assert relay.mails == []


async def test_a_stored_sender_that_names_several_addresses_gets_no_status_mail(
    tmp_path: Path, relay: CaptureRelay, caplog: pytest.LogCaptureFixture
) -> None:
    """The relay is closed on its own: a job from before the checks (aiosmtpd had decoded its
    sender into a list) is faxed, but its status mail goes nowhere, and the next one to its sender."""
    settings = settings_for(tmp_path, relay)
    store = await open_store(settings)
    for sender in ("victim@evil.com, victim2@evil.org", "carol@example.com"):
        request = FaxRequest(
            sender=sender, recipients=(Recipient("+14155551212"),), cover_text="", documents=()
        )
        await store.enqueue(request, backend="dry-run", lifetime=3600, now=datetime.now(UTC))
    await store.close()
    async with running(settings) as daemon:
        [status] = await relay.wait_for(1)
        assert daemon.store is not None

        async def notified() -> bool:
            assert daemon.store is not None
            return all(job.notified_at is not None for job in await daemon.store.list_jobs())

        await eventually(notified)
    assert status.recipients == ["carol@example.com"]
    assert [str(a.addr_spec) for a in status.message["To"].addresses] == ["carol@example.com"]
    assert any("sender is not a valid mail address" in r.getMessage() for r in caplog.records)


async def test_an_error_text_with_line_breaks_makes_a_one_line_subject(
    tmp_path: Path, rc: RingCentralEmulator, relay: CaptureRelay, caplog: pytest.LogCaptureFixture
) -> None:
    text = "Unsupported document\r\nBcc: victim@evil.example\u2028X-Evil: yes"
    body = {"errorCode": "MSG-348", "message": text, "errors": [{"errorCode": "MSG-348", "message": text}]}
    rc.inject(group="Heavy", status=415, body=body)
    async with running(settings_for(tmp_path, relay, **ringcentral_overrides(rc))) as daemon:
        assert daemon.smtp_port
        assert (await deliver(daemon.smtp_port, fax(), recipients=[TO])).accepted
        [status] = await relay.wait_for(1)
        assert daemon.store is not None
        [job] = await daemon.store.list_jobs()
        # The daemon is still serving.
        assert (await deliver(daemon.smtp_port, fax(), recipients=["14155551313@fax.local"])).accepted
    assert job.state is JobState.FAILED
    assert status.recipients == ["alice@example.com"]
    assert status.message["Bcc"] is None
    assert status.message["X-Evil"] is None
    assert status.subject == (
        "Fax to +14155551212 failed: MSG-348: RingCentral answered 415: Unsupported document "
        "Bcc: victim@evil.example X-Evil: yes"
    )
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
