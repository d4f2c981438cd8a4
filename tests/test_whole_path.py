"""The whole path, end to end: a real SMTP client, the daemon, the RingCentral emulator, the relay."""

from __future__ import annotations

import io
from pathlib import Path

from pypdf import PdfReader

from mail2fax.models import JobState
from tests.capture import CaptureRelay
from tests.conftest import ringcentral_overrides, running, settings_for, wait_until
from tests.emulator import RingCentralEmulator
from tests.mailbuilder import mail
from tests.samples.images import png_bytes
from tests.samples.other import html_bytes, pdf_bytes
from tests.smtp_client import deliver

SCANNER_BODY = (
    "Please open the attached document. It was scanned and sent to you using a multifunction printer.\n"
    "Number of Images: 1\nAttachment File Type: PDF\n"
)


async def send(port: int, message, *, recipients: list[str] | None = None, sender: str = "alice@example.com"):
    rcpts = recipients or [addr.strip() for addr in str(message["To"]).split(",")]
    rcpts = [r.rpartition("<")[2].rstrip(">") for r in rcpts]
    return await deliver(port, bytes(message), sender=sender, recipients=rcpts)


async def test_pdf_is_faxed_and_the_sender_told_it_was_sent(
    tmp_path: Path, rc: RingCentralEmulator, relay: CaptureRelay
) -> None:
    pdf = pdf_bytes(pages=3)
    message = mail(subject="Invoice 42", attachments=[("invoice.pdf", pdf, "application/pdf")])
    async with running(settings_for(tmp_path, relay, **ringcentral_overrides(rc))) as daemon:
        assert daemon.smtp_port
        transaction = await send(daemon.smtp_port, message)
        assert transaction.accepted, transaction.final
        await wait_until(lambda: len(rc.faxes) == 1)
        fax = rc.faxes[0]
        assert fax.raw_content_type.startswith("multipart/mixed")
        assert fax.json == {
            "to": [{"phoneNumber": "+14155551212"}],
            "faxResolution": "High",
            "coverPageText": "Invoice 42",
        }
        assert [(d.filename, d.content_type, d.data) for d in fax.documents] == [
            ("invoice.pdf", "application/pdf", pdf)
        ]
        rc.complete(fax.id, pages=3)
        [status] = await relay.wait_for(1)
    assert status.subject == "Fax to +14155551212 sent (3 pages)"
    assert status.recipients == ["alice@example.com"]
    assert status.message["In-Reply-To"] == message["Message-ID"]
    assert status.message["References"] == message["Message-ID"]
    assert status.message["Auto-Submitted"] == "auto-replied"
    assert fax.id in status.body
    assert "Invoice 42" in status.body
    assert "+14155551212: Sent" in status.body


async def test_two_attachments_go_in_order(
    tmp_path: Path, rc: RingCentralEmulator, relay: CaptureRelay
) -> None:
    pdf, png = pdf_bytes(), png_bytes()
    message = mail(attachments=[("first.pdf", pdf, "application/pdf"), ("second.png", png, "image/png")])
    async with running(settings_for(tmp_path, relay, **ringcentral_overrides(rc))) as daemon:
        assert (await send(daemon.smtp_port, message)).accepted
        await wait_until(lambda: len(rc.faxes) == 1)
    assert [(d.filename, d.content_type, d.data) for d in rc.faxes[0].documents] == [
        ("first.pdf", "application/pdf", pdf),
        ("second.png", "image/png", png),
    ]


async def test_scanner_mail_sends_only_the_scan(
    tmp_path: Path, rc: RingCentralEmulator, relay: CaptureRelay
) -> None:
    pdf = pdf_bytes()
    message = mail(
        subject="Scanned from MFP-3F",
        body=SCANNER_BODY,
        attachments=[("SCAN0001.PDF", pdf, "application/octet-stream")],
    )
    async with running(settings_for(tmp_path, relay, **ringcentral_overrides(rc))) as daemon:
        assert (await send(daemon.smtp_port, message)).accepted
        await wait_until(lambda: len(rc.faxes) == 1)
    [document] = rc.faxes[0].documents
    assert (document.filename, document.content_type, document.data) == (
        "SCAN0001.pdf",
        "application/pdf",
        pdf,
    )


async def test_body_only_mail_becomes_a_text_page(
    tmp_path: Path, rc: RingCentralEmulator, relay: CaptureRelay
) -> None:
    message = mail(body="Please call me back about the order.\n")
    async with running(settings_for(tmp_path, relay, **ringcentral_overrides(rc))) as daemon:
        assert (await send(daemon.smtp_port, message)).accepted
        await wait_until(lambda: len(rc.faxes) == 1)
    [document] = rc.faxes[0].documents
    assert document.content_type == "text/plain"
    assert document.filename.endswith(".txt")
    assert document.data.decode().strip() == "Please call me back about the order."


async def test_html_only_mail_is_rendered_to_a_pdf(
    tmp_path: Path, rc: RingCentralEmulator, relay: CaptureRelay
) -> None:
    html = html_bytes("Quarterly figures").decode()
    message = mail(html=html)
    async with running(settings_for(tmp_path, relay, **ringcentral_overrides(rc))) as daemon:
        assert (await send(daemon.smtp_port, message)).accepted
        await wait_until(lambda: len(rc.faxes) == 1)
    [document] = rc.faxes[0].documents
    assert (document.filename, document.content_type) == ("message.pdf", "application/pdf")
    [page] = PdfReader(io.BytesIO(document.data)).pages
    assert "Quarterly figures" in page.extract_text()


async def test_several_recipients_with_display_names_make_one_fax(
    tmp_path: Path, rc: RingCentralEmulator, relay: CaptureRelay
) -> None:
    message = mail(
        to='"John Doe" <14155551212@fax.local>, Jane Roe <+1 (415) 555-1313@fax.local>',
        attachments=[("a.pdf", pdf_bytes(), "application/pdf")],
    )
    message.replace_header("To", '"John Doe" <14155551212@fax.local>, Jane Roe <14155551313@fax.local>')
    async with running(settings_for(tmp_path, relay, **ringcentral_overrides(rc))) as daemon:
        transaction = await send(
            daemon.smtp_port, message, recipients=["14155551212@fax.local", "1-415-555-1313@FAX.local"]
        )
        assert transaction.accepted, transaction.final
        await wait_until(lambda: len(rc.faxes) == 1)
    assert rc.faxes[0].json["to"] == [
        {"phoneNumber": "+14155551212", "name": "John Doe"},
        {"phoneNumber": "+14155551313", "name": "Jane Roe"},
    ]


async def test_non_ascii_subject_and_filename(
    tmp_path: Path, rc: RingCentralEmulator, relay: CaptureRelay
) -> None:
    pdf = pdf_bytes()
    message = mail(
        subject="Rechnung für März: Übersicht", attachments=[("Übersicht März.pdf", pdf, "application/pdf")]
    )
    async with running(settings_for(tmp_path, relay, **ringcentral_overrides(rc))) as daemon:
        assert (await send(daemon.smtp_port, message)).accepted
        await wait_until(lambda: len(rc.faxes) == 1)
    fax = rc.faxes[0]
    assert fax.json["coverPageText"] == "Rechnung für März: Übersicht"
    [document] = fax.documents
    assert document.filename.isascii()
    assert document.filename.endswith(".pdf")
    assert "Ubersicht" in document.filename
    assert document.data == pdf


async def test_unfaxable_attachments_are_refused_at_data(
    tmp_path: Path, rc: RingCentralEmulator, relay: CaptureRelay
) -> None:
    import io
    import zipfile

    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("inside.pdf", pdf_bytes())
    elf = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x02\x00\x3e\x00" + b"\x00" * 200
    async with running(settings_for(tmp_path, relay, **ringcentral_overrides(rc))) as daemon:
        zipped_mail = mail(attachments=[("scans.zip", archive.getvalue(), "application/zip")])
        renamed = mail(attachments=[("invoice.pdf", elf, "application/pdf")])
        refused_zip = await send(daemon.smtp_port, zipped_mail)
        refused_elf = await send(daemon.smtp_port, renamed)
        store = daemon.store
        assert store is not None
        assert await store.list_jobs() == []
    assert refused_zip.final.code == 554
    assert refused_zip.final.text.startswith("5.6.1")
    assert "scans.zip" in refused_zip.final.text
    assert refused_elf.final.code == 554
    assert "invoice.pdf" in refused_elf.final.text
    assert rc.faxes == []
    assert relay.mails == []


async def test_invalid_number_and_foreign_domain_refused_at_rcpt(
    tmp_path: Path, rc: RingCentralEmulator, relay: CaptureRelay
) -> None:
    message = mail(attachments=[("a.pdf", pdf_bytes(), "application/pdf")])
    async with running(settings_for(tmp_path, relay, **ringcentral_overrides(rc))) as daemon:
        invalid = await send(daemon.smtp_port, message, recipients=["12@fax.local"])
        relayed = await send(daemon.smtp_port, message, recipients=["bob@example.org"])
    assert invalid.final.code == 553
    assert invalid.final.text.startswith("5.1.3")
    assert relayed.final.code == 550
    assert relayed.final.text.startswith("5.7.1")
    assert rc.faxes == []


async def test_line_busy_gives_a_failure_mail(
    tmp_path: Path, rc: RingCentralEmulator, relay: CaptureRelay
) -> None:
    message = mail(subject="Lab results", attachments=[("r.pdf", pdf_bytes(), "application/pdf")])
    async with running(settings_for(tmp_path, relay, **ringcentral_overrides(rc))) as daemon:
        assert (await send(daemon.smtp_port, message)).accepted
        await wait_until(lambda: len(rc.faxes) == 1)
        rc.fail(rc.faxes[0].id, "LineBusy")
        [status] = await relay.wait_for(1)
        assert daemon.store is not None
        [job] = await daemon.store.list_jobs()
    assert status.subject == "Fax to +14155551212 failed: LineBusy"
    assert "the line was busy" in status.body
    assert "NOT sent" in status.body
    assert job.state is JobState.FAILED


async def test_api_outage_is_retried_then_sent(
    tmp_path: Path, rc: RingCentralEmulator, relay: CaptureRelay
) -> None:
    rc.inject(group="Heavy", status=503, times=2)
    message = mail(attachments=[("a.pdf", pdf_bytes(), "application/pdf")])
    async with running(settings_for(tmp_path, relay, **ringcentral_overrides(rc))) as daemon:
        assert (await send(daemon.smtp_port, message)).accepted
        await wait_until(lambda: len(rc.faxes) == 1)
        rc.complete(rc.faxes[0].id, pages=1)
        [status] = await relay.wait_for(1)
        assert daemon.store is not None
        [job] = await daemon.store.list_jobs()
    assert [r.status for r in rc.requests_in("Heavy")] == [503, 503, 200]
    assert job.attempts == 3
    assert status.subject == "Fax to +14155551212 sent (1 page)"


async def test_expired_token_is_refreshed_mid_run(
    tmp_path: Path, rc: RingCentralEmulator, relay: CaptureRelay
) -> None:
    async with running(settings_for(tmp_path, relay, **ringcentral_overrides(rc))) as daemon:
        first = mail(attachments=[("a.pdf", pdf_bytes(), "application/pdf")])
        assert (await send(daemon.smtp_port, first)).accepted
        await wait_until(lambda: len(rc.faxes) == 1)
        rc.expire_tokens()
        second = mail(subject="second", attachments=[("b.pdf", pdf_bytes(), "application/pdf")])
        assert (await send(daemon.smtp_port, second)).accepted
        await wait_until(lambda: len(rc.faxes) == 2)
    assert rc.token_grants.count("urn:ietf:params:oauth:grant-type:jwt-bearer") == 1
    assert "refresh_token" in rc.token_grants


async def test_size_is_advertised_and_too_large_documents_are_refused(
    tmp_path: Path, rc: RingCentralEmulator, relay: CaptureRelay
) -> None:
    import aiosmtplib

    big = pdf_bytes(pages=40)
    settings = settings_for(tmp_path, relay, max_document_bytes=len(big) - 1, **ringcentral_overrides(rc))
    async with running(settings) as daemon:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=daemon.smtp_port, start_tls=False)
        await client.connect()
        await client.ehlo()
        advertised = client.esmtp_extensions.get("size")
        await client.quit()
        refused = await send(daemon.smtp_port, mail(attachments=[("big.pdf", big, "application/pdf")]))
    assert advertised is not None
    assert int(advertised) > len(big)
    assert refused.final.code == 552
    assert refused.final.text.startswith("5.3.4")
    assert rc.faxes == []
