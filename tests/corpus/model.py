"""What a corpus mail must become: its documents in order, or its refusal."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Doc:
    """One faxed document. ``data`` None means the mail's body; then ``shows`` is text it must
    contain and ``images`` the number of the mail's images drawn in it (rendered bodies)."""

    content_type: str
    data: bytes | None = None
    pages: int | None = None
    shows: str = ""
    images: int = 0

    def showing(self, words: str, *, images: int = 0) -> Doc:
        return replace(self, shows=words, images=images)


BODY_PDF = Doc("application/pdf", pages=1)
BODY_TEXT = Doc("text/plain")


@dataclass(frozen=True)
class Refusal:
    code: int
    text: str  # the reply must start with this


def refused(code: int, text: str) -> Refusal:
    return Refusal(code, text)


@dataclass(frozen=True)
class Case:
    name: str
    family: str
    raw: bytes
    documents: tuple[Doc, ...] = ()
    refusal: Refusal | None = None
