"""The text of a mail as its sender wrote it: decoded characters, and the body that may be faxed.

A plain-text body stays text (RingCentral lays it out). An HTML body becomes an ``HtmlBody``:
its markup and the images it shows (by ``cid:``), to be rendered to one PDF before it is queued.
"""

from __future__ import annotations

import html as html_escape
import re
from dataclasses import dataclass, field
from email.message import Message
from urllib.parse import unquote

from mail2fax.mail.payload import safe_read
from mail2fax.models import Document

_UTF8_BOM = b"\xef\xbb\xbf"
_LINE_END = re.compile(r"\r\n|\r|\n")
_TAG_NAME = re.compile(r"<([a-z][a-z0-9]*)")
_CID_REFERENCE = re.compile(r"""cid:([^\s"'<>()\\]+)""", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Resource:
    """A part the HTML body shows in place (an image referenced by ``cid:``)."""

    content_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class HtmlBody:
    """An HTML body to render: its markup, its ``cid:`` images by normalised Content-ID, and the
    plain-text alternative the sender's client wrote beside it (empty when there was none)."""

    html: str
    resources: dict[str, Resource] = field(default_factory=dict)
    plain: str = ""


def normalised_cid(value: str) -> str:
    """A Content-ID or the target of a ``cid:`` URL, in the one form both are compared in."""
    return unquote(value.strip().strip("<>").strip()).lower()


def cid_references(html: str) -> set[str]:
    """Every Content-ID an HTML text refers to with ``cid:``."""
    return {normalised_cid(found) for found in _CID_REFERENCE.findall(html)}


def text_of(part: Message) -> str:
    """A text part's characters: its declared charset, else UTF-8, else Windows-1252."""
    raw = part.get_payload(decode=True)
    if not isinstance(raw, bytes):
        return ""
    charset = safe_read(part.get_content_charset)
    if charset and charset not in ("us-ascii", "ascii"):
        try:
            return raw.decode(charset, "replace")
        except (LookupError, UnicodeError, ValueError):
            pass
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", "replace")


def utf8(text: str) -> bytes:
    """UTF-8, with a byte-order mark when it is not plain ASCII so renderers do not guess."""
    data = text.encode("utf-8", "replace")
    return data if data.isascii() else _UTF8_BOM + data


def plain_document(texts: list[str]) -> Document | None:
    """The plain-text body as RingCentral gets it: the texts joined, CR LF line ends."""
    text = "\n\n".join(t.strip("\r\n") for t in texts if t.strip())
    if not text:
        return None
    text = _LINE_END.sub("\r\n", text + "\n")
    return Document("message.txt", "text/plain", utf8(text))


def html_markup(fragments: list[tuple[str, str]]) -> str | None:
    """One HTML text from the body's fragments in order (Apple Mail splits its HTML around the
    files it shows inline); plain fragments among them are kept as preformatted text. None
    when nothing in them would show on a page."""
    pieces = []
    for kind, text in fragments:
        if kind == "html":
            if shows_something(text):
                pieces.append(text)
        elif text.strip():
            escaped = html_escape.escape(text.strip("\r\n"))
            pieces.append(f'<pre style="white-space: pre-wrap; font-family: inherit">{escaped}</pre>')
    return "\n".join(pieces) if pieces else None


def shows_something(html: str) -> bool:
    """Whether a browser would show any text or image in this HTML."""
    return visible_text(html) or "<img" in html.lower()


def visible_text(html: str) -> bool:
    """Whether a browser would show any text: outside tags, comments, head, style and script."""
    lower, position = html.lower(), 0
    while position < len(lower):
        start = lower.find("<", position)
        visible = lower[position : start if start >= 0 else len(lower)].replace("&nbsp;", " ")
        if visible.strip():
            return True
        if start < 0:
            return False
        if lower.startswith("<!--", start):
            end = lower.find("-->", start)
            position = len(lower) if end < 0 else end + 3
            continue
        end = lower.find(">", start)
        if end < 0:
            return False
        tag = _TAG_NAME.match(lower, start)
        if tag and tag[1] in ("head", "style", "script", "title"):
            close = lower.find(f"</{tag[1]}", end)  # each search starts past the last: linear
            end = lower.find(">", close) if close >= 0 else -1
            if end < 0:
                return False
        position = end + 1
    return False


def one_line(text: str | None) -> str:
    """A header's text as one line that encodes as UTF-8: raw 8-bit bytes read as UTF-8, each
    run of spaces one space, invisible and control characters dropped."""
    try:
        text = (text or "").encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:
        text = (text or "").encode("utf-8", "replace").decode("utf-8")
    return " ".join("".join(c if c.isprintable() else " " if c.isspace() else "" for c in text).split())
