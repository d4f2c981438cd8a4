"""The dry-run backend: the whole path without a RingCentral account."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from tests.capture import CaptureRelay
from tests.conftest import running, settings_for
from tests.mailbuilder import mail
from tests.samples.other import pdf_bytes
from tests.smtp_client import deliver, queued_job


async def test_dry_run_writes_the_request_and_says_so(tmp_path: Path, relay: CaptureRelay) -> None:
    pdf = pdf_bytes()
    message = mail(
        to='"John Doe" <14155551212@fax.local>',
        subject="Purchase order 7",
        attachments=[("po.pdf", pdf, "application/pdf")],
    )
    async with running(settings_for(tmp_path, relay)) as daemon:
        transaction = await deliver(
            daemon.smtp_port, bytes(message), sender="alice@example.com", recipients=["14155551212@fax.local"]
        )
        assert transaction.accepted, transaction.final
        job_id = queued_job(transaction.final.text)
        [status] = await relay.wait_for(1)
    outbox = tmp_path / "outbox" / job_id
    assert json.loads((outbox / "request.json").read_text()) == {
        "to": [{"phoneNumber": "+14155551212", "name": "John Doe"}],
        "faxResolution": "High",
        "coverPageText": "Purchase order 7",
    }
    assert (outbox / "01-po.pdf").read_bytes() == pdf
    assert (outbox / "01-po.pdf.headers").read_bytes() == (
        b'Content-Type: application/pdf\r\nContent-Disposition: attachment; filename="po.pdf"\r\n'
    )
    assert status.subject == "Fax to +14155551212 not sent: dry run only"
    assert "DRY RUN" in status.body
    assert "MAIL2FAX_BACKEND=dry-run" in status.body
    assert "John Doe <+14155551212>: not sent (dry run)" in status.body
    assert ": sent" not in status.body


async def test_no_status_mail_for_automatic_senders(tmp_path: Path, relay: CaptureRelay) -> None:
    message = mail(attachments=[("po.pdf", pdf_bytes(), "application/pdf")])
    auto = mail(
        attachments=[("po.pdf", pdf_bytes(), "application/pdf")], headers={"Auto-Submitted": "auto-generated"}
    )
    normal = mail(subject="the one that answers", attachments=[("po.pdf", pdf_bytes(), "application/pdf")])
    async with running(settings_for(tmp_path, relay)) as daemon:
        for raw, sender in ((message, ""), (message, "MAILER-DAEMON@example.com"), (auto, "bob@example.com")):
            assert (
                await deliver(
                    daemon.smtp_port, bytes(raw), sender=sender, recipients=["14155551212@fax.local"]
                )
            ).accepted
        assert (
            await deliver(
                daemon.smtp_port,
                bytes(normal),
                sender="carol@example.com",
                recipients=["14155551212@fax.local"],
            )
        ).accepted
        mails = await relay.wait_for(1)
    assert [m.recipients for m in mails] == [["carol@example.com"]]


async def test_copies_arriving_together_make_one_fax(tmp_path: Path, relay: CaptureRelay) -> None:
    """A scanner that resends while its first copy is still being taken in gets 250, and one fax."""
    raw = bytes(mail(attachments=[("po.pdf", pdf_bytes(pages=5), "application/pdf")]))
    async with running(settings_for(tmp_path, relay)) as daemon:
        copies = await asyncio.gather(
            *(
                deliver(
                    daemon.smtp_port, raw, sender="scanner@example.com", recipients=["14155551212@fax.local"]
                )
                for _ in range(6)
            )
        )
        assert all(copy.accepted for copy in copies)
        store = daemon.store
        assert store is not None
        jobs = await store.list_jobs()
    assert len(jobs) == 1
    assert sum("duplicate not faxed again" in copy.final.text for copy in copies) == 5
