"""Pages counted before 250: PDFs by their page tree, TIFFs by their frames, HTML bodies as laid
out; more than RingCentral's 200 are refused, and the count is said in the reply and kept."""

from __future__ import annotations

from pathlib import Path

from mail2fax.mail.pages import count_pages
from tests.capture import CaptureRelay
from tests.conftest import running, settings_for
from tests.mailbuilder import mail
from tests.samples.images import tiff_frames
from tests.samples.office import docx_bytes
from tests.samples.other import pdf_bytes
from tests.smtp_client import deliver, queued_job

TO = "14155551212@fax.local"


def test_pdfs_are_counted_by_their_page_tree_and_tiffs_by_their_frames() -> None:
    assert count_pages("application/pdf", pdf_bytes(3)) == 3
    assert count_pages("image/tiff", tiff_frames(2)) == 2
    assert count_pages("image/tiff", tiff_frames(1)) == 1


def test_what_cannot_be_counted_is_unknown_never_guessed() -> None:
    assert (
        count_pages("application/vnd.openxmlformats-officedocument.wordprocessingml.document", docx_bytes())
        is None
    )
    assert count_pages("application/pdf", b"%PDF-1.4\nnot really a pdf") is None
    assert count_pages("image/tiff", b"II*\x00\xff\xff\xff\xff") is None
    lying = pdf_bytes(2).replace(b"/Count 2", b"/Count 900")
    assert count_pages("application/pdf", lying) == 2


async def test_a_201_page_pdf_is_refused_naming_the_count(tmp_path: Path, relay: CaptureRelay) -> None:
    message = mail(attachments=[("big.pdf", pdf_bytes(201), "application/pdf")])
    async with running(settings_for(tmp_path, relay)) as daemon:
        transaction = await deliver(daemon.smtp_port, bytes(message), recipients=[TO])
        assert daemon.store is not None
        assert await daemon.store.list_jobs() == []
    assert (transaction.final.code, transaction.final.text) == (
        552,
        "5.3.4 the documents have 201 pages; RingCentral faxes at most 200",
    )


async def test_a_3_page_pdf_and_a_2_frame_tiff_are_5_pages(tmp_path: Path, relay: CaptureRelay) -> None:
    message = mail(
        attachments=[
            ("order.pdf", pdf_bytes(3), "application/pdf"),
            ("scan.tif", tiff_frames(2), "application/octet-stream"),
        ]
    )
    async with running(settings_for(tmp_path, relay)) as daemon:
        transaction = await deliver(daemon.smtp_port, bytes(message), recipients=[TO])
        assert transaction.accepted, transaction.final
        job_id = queued_job(transaction.final.text)
        assert transaction.final.text == f"2.0.0 Queued as {job_id} (5 pages)"
        [status] = await relay.wait_for(1)
        assert daemon.store is not None
        job = await daemon.store.get(job_id)
        documents = await daemon.store.documents(job_id)
    assert job is not None
    assert job.document_pages == 5
    assert [d.pages for d in documents] == [3, 2]
    assert "Pages:              5 (counted when your mail arrived" in status.body


async def test_an_office_file_leaves_the_total_unknown(tmp_path: Path, relay: CaptureRelay) -> None:
    message = mail(
        attachments=[
            ("order.pdf", pdf_bytes(3), "application/pdf"),
            ("terms.docx", docx_bytes(), "application/octet-stream"),
        ]
    )
    async with running(settings_for(tmp_path, relay)) as daemon:
        transaction = await deliver(daemon.smtp_port, bytes(message), recipients=[TO])
        job_id = queued_job(transaction.final.text)
        assert transaction.final.text.endswith("(3 pages + 1 document of unknown length)")
        assert daemon.store is not None
        job = await daemon.store.get(job_id)
    assert job is not None
    assert job.document_pages is None
