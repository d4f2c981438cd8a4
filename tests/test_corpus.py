"""Every client family in the corpus is faxed exactly as its sender meant, through the same
parsing, rendering and page counting as intake, and a representative part of it through the
running daemon over SMTP (dry-run backend: the outbox holds exactly what would be sent)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from pypdf import PdfReader

from mail2fax.errors import Refusal
from mail2fax.mail.message import parse_mail
from mail2fax.models import Document
from mail2fax.rendering.body import fax_documents
from mail2fax.rendering.pool import Renderer, RenderLimits
from tests.capture import CaptureRelay
from tests.conftest import running, settings_for
from tests.corpus.clients import corpus
from tests.corpus.model import Case, Doc
from tests.smtp_client import deliver, queued_job

CASES = corpus()
LIMIT = 50 * 1024 * 1024
OVER_SMTP = (
    "outlook-logo-and-invoice",
    "outlook-logo-no-attachment",
    "outlook-rich-text-winmail-with-pdf",
    "owa-pdf-with-content-id",
    "outlook-ios-inline-pdf",
    "apple-inline-pdf-inside-html",
    "ios-photo-sent-from-iphone",
    "gmail-inline-image-and-pdf",
    "thunderbird-pdf-and-openpgp-key",
    "notes-pdf-with-three-layout-gifs",
    "google-invitation",
    "smime-opaque-signed-pdf",
    "smime-encrypted",
    "forward-as-attachment",
    "scanner-tiff-as-octet-stream",
    "scanner-201-pages",
)


def mismatch(case: Case, documents: tuple[Document, ...]) -> str | None:
    """Why ``documents`` are not what ``case`` expects, or None."""
    got = [(d.content_type, d.pages) for d in documents]
    if len(documents) != len(case.documents):
        return f"{case.name}: {len(case.documents)} documents expected, got {got}"
    for position, (document, expected) in enumerate(zip(documents, case.documents, strict=True), start=1):
        where = f"{case.name} document {position}"
        if document.content_type != expected.content_type:
            return f"{where}: {expected.content_type} expected, got {document.content_type}"
        if expected.data is not None and document.data != expected.data:
            return f"{where}: not the bytes that were attached"
        if document.pages != expected.pages:
            return f"{where}: {expected.pages} pages expected, got {document.pages}"
        if expected.data is None and (problem := body_mismatch(document, expected)):
            return f"{where}: {problem}"
    return None


def body_mismatch(document: Document, expected: Doc) -> str | None:
    if document.content_type == "text/plain":
        words = document.data.decode("utf-8-sig")
        images = 0
    else:
        pages = PdfReader(io.BytesIO(document.data)).pages
        words = " ".join(page.extract_text() for page in pages)
        images = sum(len(page.images) for page in pages)
    if expected.shows not in " ".join(words.split()):
        return f"the body does not show {expected.shows!r}: {words[:200]!r}"
    if images != expected.images:
        return f"{expected.images} images expected in the body, found {images}"
    return None


def test_the_corpus_covers_every_client_family_with_at_least_50_mails() -> None:
    families = {case.family for case in CASES}
    assert len(CASES) >= 50
    assert len({case.name for case in CASES}) == len(CASES)
    assert families >= {
        "Outlook desktop",
        "Outlook on the web",
        "Outlook for iOS",
        "Apple Mail",
        "iOS Mail",
        "Gmail",
        "Thunderbird",
        "Lotus Notes",
        "calendar invitations",
        "S/MIME",
        "forwarded messages",
        "scanners",
    }


async def test_every_corpus_mail_is_faxed_as_its_sender_meant() -> None:
    renderer = Renderer(RenderLimits(timeout=60))
    problems = []
    try:
        for case in CASES:
            try:
                parsed = parse_mail(case.raw, body_mode="auto", max_document_bytes=LIMIT)
                documents, _pages = await fax_documents(parsed, renderer, max_document_bytes=LIMIT)
            except Refusal as refusal:
                if case.refusal is None:
                    problems.append(f"{case.name}: refused with {refusal.reply}")
                elif refusal.code != case.refusal.code or not refusal.reply.startswith(
                    f"{case.refusal.code} {case.refusal.text}"
                ):
                    problems.append(f"{case.name}: {refusal.reply!r} instead of {case.refusal}")
                continue
            if case.refusal is not None:
                problems.append(f"{case.name}: accepted, {case.refusal} expected")
            elif problem := mismatch(case, documents):
                problems.append(problem)
    finally:
        await renderer.close()
    assert problems == []


def outbox_documents(outbox: Path) -> list[tuple[str, bytes]]:
    """The documents of one dry-run request in order: (Content-Type, bytes)."""
    found = []
    for path in sorted(outbox.iterdir()):
        if path.suffix == ".headers" or path.name in ("request.json", "complete"):
            continue
        headers = (outbox / f"{path.name}.headers").read_text()
        content_type = headers.splitlines()[0].removeprefix("Content-Type: ")
        found.append((content_type, path.read_bytes()))
    return found


@pytest.mark.timeout(180)
async def test_a_representative_part_of_the_corpus_through_the_daemon(
    tmp_path: Path, relay: CaptureRelay
) -> None:
    cases = [case for case in CASES if case.name in OVER_SMTP]
    assert len(cases) == len(OVER_SMTP)
    accepted: dict[str, str] = {}
    async with running(settings_for(tmp_path, relay)) as daemon:
        for case in cases:
            transaction = await deliver(daemon.smtp_port, case.raw, recipients=["14155551212@fax.local"])
            reply = transaction.final
            if case.refusal is not None:
                assert (reply.code, reply.text[: len(case.refusal.text)]) == (
                    case.refusal.code,
                    case.refusal.text,
                )
                continue
            assert transaction.accepted, f"{case.name}: {reply}"
            accepted[case.name] = queued_job(reply.text)
            pages = [d.pages for d in case.documents]
            if None not in pages:
                total = sum(p for p in pages if p is not None)
                assert reply.text.endswith(f"({total} page{'s' if total != 1 else ''})"), reply.text
        await relay.wait_for(len(accepted), timeout=60)
    for case in cases:
        if case.name not in accepted:
            continue
        sent = outbox_documents(tmp_path / "outbox" / accepted[case.name])
        assert [kind for kind, _ in sent] == [d.content_type for d in case.documents], case.name
        for (_, data), expected in zip(sent, case.documents, strict=True):
            if expected.data is not None:
                assert data == expected.data, case.name
            else:
                assert not body_mismatch(Document("message", expected.content_type, data), expected), (
                    case.name
                )
