"""A raw mail turned into the documents to fax and the facts intake needs about it.

``parse_mail`` never trusts a declared Content-Type or filename: every attachment is sniffed
and renamed. It returns a ParsedMail or raises a Refusal; the email package's own surprises on
hostile input are turned into a Refusal too, so the SMTP reply always says what happened.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import Message
from email.parser import BytesFeedParser
from email.policy import EmailPolicy
from typing import Any, Literal

from mail2fax.errors import MalformedMail, NothingToFax, Refusal, TooLarge
from mail2fax.mail.body import HtmlBody, Resource, html_markup, one_line, plain_document
from mail2fax.mail.pages import count_pages
from mail2fax.mail.payload import Runs, attachment_bytes, safe_read
from mail2fax.mail.sniffing import safe_filename, sniff
from mail2fax.mail.structure import LeftOut, Structure, check_sections, filename_of, label_of, walk
from mail2fax.mail.tnef import is_tnef, tnef_files
from mail2fax.models import Document

BodyMode = Literal["auto", "always", "never"]

COVER_TEXT_LIMIT = 1024  # RingCentral's coverPageText maxLength
MAX_HEADER_CHARS = 4096
_EMPTY_TNEF = "Outlook formatting data (winmail.dat) without files"
_FEED_BYTES = 64 * 1024  # the parser is fed this much at a time, never the whole mail as one string


class _Registry(HeaderRegistry):
    """policy.default's header classes, each made once instead of on every header access."""

    def __init__(self) -> None:
        super().__init__()
        self._made: dict[type[Any], type[BaseHeader]] = {}

    def map_to_type(self, name: str, cls: type[BaseHeader]) -> None:
        super().map_to_type(name, cls)
        self._made.clear()

    def __getitem__(self, name: str) -> type[BaseHeader]:
        cls = self.registry.get(name.lower(), self.default_class)
        made = self._made.get(cls)
        if made is None:
            made = self._made.setdefault(cls, super().__getitem__(name))
        return made


class _Policy(EmailPolicy):
    """policy.default, but a header is cut to MAX_HEADER_CHARS before it is parsed: the header
    parser is quadratic on some hostile headers, and no honest header comes near the limit."""

    def header_fetch_parse(self, name: str, value: str) -> Any:
        if hasattr(value, "name"):
            return super().header_fetch_parse(name, value)
        if len(value) > MAX_HEADER_CHARS:
            value = value[:MAX_HEADER_CHARS]
        # A mail's own policy (see _policy_for_one_mail) parses each header once: the parser and
        # the walk ask for Content-Type a dozen times, and every parse costs tens of microseconds.
        parsed: dict[tuple[str, str], Any] | None = self.__dict__.get("_parsed")
        if parsed is None:
            return super().header_fetch_parse(name, value)
        key = (name, value)
        if key not in parsed:
            parsed[key] = super().header_fetch_parse(name, value)
        return parsed[key]


_POLICY = _Policy(header_factory=_Registry())


def _policy_for_one_mail() -> _Policy:
    """A copy of the policy that remembers the headers it parsed, for one mail only."""
    policy = _POLICY.clone()
    object.__setattr__(policy, "_parsed", {})  # policies are read-only; this one is private
    return policy


@dataclass(frozen=True, slots=True)
class ParsedMail:
    """What intake learns from a mail's content.

    ``documents`` are the attachments (and a plain-text body) in fax order; an HTML body that is
    to be faxed is ``html_body``, rendered by intake and faxed before them.
    """

    subject: str = ""
    message_id: str | None = None
    auto_submitted: bool = False
    recipient_names: dict[str, str] = field(default_factory=dict)
    fax_headers: dict[str, str] = field(default_factory=dict)
    documents: tuple[Document, ...] = ()
    html_body: HtmlBody | None = None
    left_out: tuple[LeftOut, ...] = ()


def parse_mail(raw: bytes, *, body_mode: BodyMode, max_document_bytes: int) -> ParsedMail:
    """The documents and headers of ``raw``; Refusal if it can never be faxed."""
    try:
        return _parse(raw, body_mode, max_document_bytes)
    except (Refusal, MemoryError):
        raise
    except Exception as exc:  # the email package fails in assorted ways on hostile input
        reason = f"the mail cannot be parsed ({type(exc).__name__})"
        raise MalformedMail(reason, code=554, enhanced="5.6.0") from exc


def cut_cover_text(subject: str) -> str:
    """``subject`` shortened to RingCentral's cover-page text limit, at a word if one is near."""
    if len(subject) <= COVER_TEXT_LIMIT:
        return subject
    cut = subject[: COVER_TEXT_LIMIT - 3]
    space = cut.rfind(" ")
    if space > COVER_TEXT_LIMIT - 80:
        cut = cut[:space]
    return cut.rstrip() + "..."


def too_large(total: int, limit: int) -> TooLarge:
    return TooLarge(f"the documents are {_size(total, limit)}, over the limit of {_size(limit, total)}")


def _parse(raw: bytes, body_mode: BodyMode, limit: int) -> ParsedMail:
    runs = Runs.cut(raw)
    # Counted where the parser looks: a cut stretch holds no header (no colon, no space), and the
    # mail is not lower-cased as a whole (a second copy of a scan).
    check_sections(runs.text)
    msg = _message(runs.text)
    runs.text = b""
    runs.restore_texts(msg)

    def read(part: Message) -> bytes:
        return attachment_bytes(part, runs)  # bytes as sent, also for text files

    structure = walk(msg, read)
    left_out = list(structure.left_out)
    files: list[tuple[str | None, bytes]] = []
    total = found = 0
    for part in structure.attachments:
        data = read(part)
        part.set_payload("")  # the encoded copy is no longer needed
        name = filename_of(part)
        pieces: list[tuple[str | None, bytes]] = [(name, data)]
        if is_tnef(part, name, data):
            pieces = tnef_files(data, label_of(part))
            if not pieces:
                left_out.append(LeftOut(label_of(part), _EMPTY_TNEF))
        for piece in pieces:
            found += 1
            total += len(piece[1])
            if total <= limit:  # past it only counted, so the refusal can say how large they are
                files.append(piece)
    html_body, body = None, None
    if body_mode == "always" or (body_mode == "auto" and not found):
        html_body, body = _body(structure, read)
    total += len(body.data) if body else 0
    if total > limit:
        raise too_large(total, limit)
    documents: list[Document] = [body] if body else []
    for original, data in files:
        position = len(documents) + 1 + (html_body is not None)
        sniffed = sniff(data, label=original[:100] if original else f"attachment {position}")
        name = safe_filename(original, sniffed.extension, position)
        pages = count_pages(sniffed.content_type, data)
        documents.append(Document(name, sniffed.content_type, data, pages))
    if not documents and html_body is None:
        raise NothingToFax("the mail has no attachment or text to fax" + _naming(left_out))
    return ParsedMail(
        subject=one_line(_header(msg, "subject")),
        message_id=one_line(_header(msg, "message-id"))[:998] or None,
        auto_submitted=_auto_submitted(msg),
        recipient_names=_recipient_names(msg),
        fax_headers=_fax_headers(msg),
        documents=tuple(documents),
        html_body=html_body,
        left_out=tuple(left_out),
    )


def _body(structure: Structure, read: Callable[[Message], bytes]) -> tuple[HtmlBody | None, Document | None]:
    """The body to fax: HTML (to be rendered, with the images it shows) or plain text."""
    fragments = structure.fragments
    if any(kind == "html" for kind, _ in fragments):
        markup = html_markup(fragments)
        if markup is not None:
            resources = {
                cid: Resource(part.get_content_type(), read(part))
                for cid, part in structure.resources.items()
            }
            plain = "\n\n".join(t.strip("\r\n") for t in structure.plain_alternatives if t.strip())
            return HtmlBody(markup, resources, plain), None
    return None, plain_document([text for kind, text in fragments if kind == "plain"])


def _message(raw: bytes) -> Message:
    """``email.message_from_bytes(raw)``, fed in slices: the same message without ever holding
    the whole mail as a string (its parser reads a string through io.StringIO, four bytes a
    character: over 100 MB for a 28 MB scan)."""
    parser = BytesFeedParser(policy=_policy_for_one_mail())
    for start in range(0, len(raw), _FEED_BYTES):
        parser.feed(raw[start : start + _FEED_BYTES])
    return parser.close()


def _naming(left_out: list[LeftOut]) -> str:
    """The parts that were left out, for a refusal that would otherwise puzzle the sender."""
    named = [f'"{item.label}" ({item.reason})' for item in left_out if "alternative" not in item.reason]
    if not named:
        return ""
    text = "; left out: " + ", ".join(named[:3])
    return text.encode("ascii", "replace").decode()[:300]


def _size(value: int, other: int) -> str:
    """``value`` in MiB, or in bytes when MiB would not tell it from ``other``."""
    text, beside = (f"{n / (1024 * 1024):.1f} MiB" for n in (value, other))
    return text if text != beside else f"{value:,} bytes"


def _header(msg: Message, name: str) -> str | None:
    value = safe_read(lambda: msg.get(name))
    return None if value is None else str(value)


def _auto_submitted(msg: Message) -> bool:
    auto = re.split(r"[;(]", _header(msg, "auto-submitted") or "")[0].strip().lower()
    precedence = (_header(msg, "precedence") or "").strip().lower()
    return (auto not in ("", "no")) or precedence in ("bulk", "junk", "list")


def _recipient_names(msg: Message) -> dict[str, str]:
    names: dict[str, str] = {}
    for header in ("to", "cc"):
        values = safe_read(lambda header=header: msg.get_all(header)) or []
        for value in values:
            for address in safe_read(lambda value=value: value.addresses) or ():
                name = one_line(str(address.display_name))[:100]
                key = one_line(str(address.addr_spec)).lower()
                if name and key and key not in names:
                    names[key] = name
    return names


def _fax_headers(msg: Message) -> dict[str, str]:
    headers: dict[str, str] = {}
    for key in safe_read(msg.keys) or []:
        name = key.strip().lower()
        if name.startswith("x-fax-") and name not in headers:
            headers[name] = one_line(_header(msg, key))
    return headers
