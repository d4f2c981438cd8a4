"""What makes two mails carry the same content, for duplicate suppression: one digest, one recipe."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

from mail2fax.models import Document


def content_digest(
    documents: Iterable[Document], *, html: str | None = None, resources: Mapping[str, bytes] | None = None
) -> str:
    """SHA-256 over an HTML body and its inline resources (by content id), then each document's
    name and bytes, in order."""
    digest = hashlib.sha256()
    if html is not None:
        digest.update(html.encode("utf-8", "replace"))
        for cid, data in sorted((resources or {}).items()):
            digest.update(b"\0" + cid.encode("utf-8", "replace") + b"\0" + data)
    for document in documents:
        digest.update(document.filename.encode() + b"\0" + document.data)
    return digest.hexdigest()
