"""The documents a parsed mail becomes, in fax order: its rendered HTML body first, if any.

Shared by intake and ``mail2fax render`` so that what a person previews is what is faxed.
"""

from __future__ import annotations

import logging

from mail2fax.errors import UnrenderableBody
from mail2fax.mail.body import plain_document
from mail2fax.mail.message import ParsedMail, too_large
from mail2fax.mail.pages import PageCount, page_count
from mail2fax.models import Document
from mail2fax.rendering.pool import Renderer

log = logging.getLogger("mail2fax.render")

BODY_FILENAME = "message.pdf"


async def fax_documents(
    mail: ParsedMail, renderer: Renderer, *, max_document_bytes: int
) -> tuple[tuple[Document, ...], PageCount]:
    """The documents to fax and their pages. An HTML body that cannot be laid out is faxed as its
    plain-text copy when the sender's client wrote one, else the mail is refused; TooLarge when
    the documents are over the size limit or over RingCentral's 200 pages."""
    documents = mail.documents
    body = mail.html_body
    if body is not None:
        try:
            rendered = await renderer.render(body)
        except UnrenderableBody as exc:
            fallback = plain_document([body.plain])
            if fallback is None:
                raise
            log.info("%s: its plain-text copy is faxed instead", exc.reason)
            documents = (fallback, *documents)
        else:
            for url in rendered.refused[:10]:
                log.info("the HTML text asked for %r: not fetched (only the mail's own parts are)", url)
            documents = (Document(BODY_FILENAME, "application/pdf", rendered.pdf, rendered.pages), *documents)
    total = sum(len(document.data) for document in documents)
    if total > max_document_bytes:
        raise too_large(total, max_document_bytes)
    return documents, page_count(documents)
