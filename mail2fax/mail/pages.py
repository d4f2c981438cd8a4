"""How many pages a document makes, where that can be known from its bytes.

A PDF's pages are counted with pypdf (its page tree, not the /Count it claims), a TIFF's by its
frames with Pillow. Everything else (Office files, images, text) is laid out by RingCentral,
so its page count is unknown here and never guessed.
"""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image
from pypdf import PdfReader

from mail2fax.errors import TooLarge
from mail2fax.models import Document

MAX_PAGES = 200  # RingCentral faxes at most 200 pages at once
_TIFF_FRAMES_LIMIT = 10_000  # a TIFF claiming more is read no further

logging.getLogger("pypdf").setLevel(logging.ERROR)  # it warns about every repaired cross-reference


def count_pages(content_type: str, data: bytes) -> int | None:
    """The pages of one document, or None when they cannot be known before RingCentral renders it."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if content_type == "application/pdf":
                return _pdf_pages(data)
            if content_type == "image/tiff":
                return _tiff_frames(data)
    except Exception:  # noqa: BLE001 - a file its reader cannot count is left for RingCentral to judge
        return None
    return None


def _pdf_pages(data: bytes) -> int | None:
    reader = PdfReader(io.BytesIO(data), strict=False)
    if reader.is_encrypted:
        return None
    return len(reader.pages) or None


def _tiff_frames(data: bytes) -> int | None:
    with Image.open(io.BytesIO(data), formats=["TIFF"]) as image:
        frames = 0
        while frames < _TIFF_FRAMES_LIMIT:
            frames += 1
            try:
                image.seek(frames)
            except EOFError:
                return frames
    return None


@dataclass(frozen=True, slots=True)
class PageCount:
    """The pages of a fax's documents: those counted, and how many documents could not be."""

    counted: int
    uncounted: int

    @property
    def total(self) -> int | None:
        return self.counted if self.uncounted == 0 else None

    def words(self) -> str:
        """``5 pages``, or ``3 pages + 1 document RingCentral counts``; empty when nothing is known."""
        pages = f"{self.counted} page{'s' if self.counted != 1 else ''}"
        if self.uncounted == 0:
            return pages
        others = f"{self.uncounted} document{'s' if self.uncounted != 1 else ''} of unknown length"
        return others if self.counted == 0 else f"{pages} + {others}"


def page_count(documents: Sequence[Document]) -> PageCount:
    """The pages of ``documents``; TooLarge when they are more than RingCentral faxes."""
    counted = sum(d.pages for d in documents if d.pages is not None)
    uncounted = sum(1 for d in documents if d.pages is None)
    if counted > MAX_PAGES:
        raise TooLarge(f"the documents have {counted} pages; RingCentral faxes at most {MAX_PAGES}")
    return PageCount(counted, uncounted)
