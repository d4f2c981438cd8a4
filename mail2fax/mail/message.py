"""A raw mail turned into the documents to fax and the facts intake needs about it.

``parse_mail`` never trusts a declared Content-Type or filename: every attachment is sniffed
and renamed. It returns a ParsedMail or raises a Refusal; the email package's own surprises on
hostile input are turned into a Refusal too, so the SMTP reply always says what happened.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import Message
from email.parser import BytesFeedParser
from email.policy import EmailPolicy
from typing import Any, Literal

from mail2fax.errors import MalformedMail, NothingToFax, Refusal, TooLarge, UnfaxableDocument
from mail2fax.mail.payload import Runs, attachment_bytes, safe_read
from mail2fax.mail.sniffing import safe_filename, sniff
from mail2fax.models import Document

BodyMode = Literal["auto", "always", "never"]

COVER_TEXT_LIMIT = 1024  # RingCentral's coverPageText maxLength
MAX_DEPTH = 50
MAX_CONTAINERS = 100  # multipart and message parts, counted before parsing
MAX_PARTS = 1000
MAX_HEADER_CHARS = 4096
_CONTAINER = re.compile(rb"content-type:[ \t\r\n]*(?:multipart|message)/")  # on lower-cased bytes
_UTF8_BOM = b"\xef\xbb\xbf"
_LINE_END = re.compile(r"\r\n|\r|\n")
_TAG_NAME = re.compile(r"<([a-z][a-z0-9]*)")
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
    """What intake learns from a mail's content."""

    subject: str = ""
    message_id: str | None = None
    auto_submitted: bool = False
    recipient_names: dict[str, str] = field(default_factory=dict)
    fax_headers: dict[str, str] = field(default_factory=dict)
    documents: tuple[Document, ...] = ()


@dataclass(slots=True)
class _Content:
    attachments: list[Message] = field(default_factory=list)
    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)


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


def _parse(raw: bytes, body_mode: BodyMode, limit: int) -> ParsedMail:
    runs = Runs.cut(raw)
    # Counted where the parser looks: a cut stretch holds no header (no colon, no space), and the
    # mail is not lower-cased as a whole (a second copy of a scan).
    containers = sum(1 for _ in _CONTAINER.finditer(runs.text.lower()))
    if containers > MAX_CONTAINERS:
        raise MalformedMail(f"the mail has more than {MAX_CONTAINERS} multipart or message sections")
    msg = _message(runs.text)
    runs.text = b""
    runs.restore_texts(msg)
    content = _walk(msg)
    body = _body_document(content)
    if body_mode == "never" or (body_mode == "auto" and any(map(_attached, content.attachments))):
        body = None
    documents: list[Document] = [body] if body else []
    total = len(body.data) if body else 0
    for part in content.attachments:
        data = attachment_bytes(part, runs)  # bytes as sent, also for text files
        part.set_payload("")  # the encoded copy is no longer needed
        total += len(data)
        if total > limit:
            continue  # only counted, so the refusal can say how large the documents are
        position = len(documents) + 1
        original = _filename(part)
        found = sniff(data, label=original[:100] if original else f"attachment {position}")
        name = safe_filename(original, found.extension, position)
        documents.append(Document(filename=name, content_type=found.content_type, data=data))
    if total > limit:
        raise TooLarge(f"the documents are {_size(total, limit)}, over the limit of {_size(limit, total)}")
    if not documents:
        raise NothingToFax("the mail has no attachment or text to fax")
    return ParsedMail(
        subject=_one_line(_header(msg, "subject")),
        message_id=_one_line(_header(msg, "message-id"))[:998] or None,
        auto_submitted=_auto_submitted(msg),
        recipient_names=_recipient_names(msg),
        fax_headers=_fax_headers(msg),
        documents=tuple(documents),
    )


def _message(raw: bytes) -> Message:
    """``email.message_from_bytes(raw)``, fed in slices: the same message without ever holding
    the whole mail as a string (its parser reads a string through io.StringIO, four bytes a
    character: over 100 MB for a 28 MB scan)."""
    parser = BytesFeedParser(policy=_policy_for_one_mail())
    for start in range(0, len(raw), _FEED_BYTES):
        parser.feed(raw[start : start + _FEED_BYTES])
    return parser.close()


def _walk(msg: Message) -> _Content:
    """Attachments in MIME order and the body texts, without recursion."""
    found = _Content()
    stack: list[tuple[Message, int, bool]] = [(msg, 0, True)]  # part, depth, may hold the body
    seen = 0
    while stack:
        part, depth, body_ok = stack.pop()
        if depth > MAX_DEPTH:
            raise MalformedMail(f"the mail is nested more than {MAX_DEPTH} levels deep")
        if (seen := seen + 1) > MAX_PARTS:
            raise MalformedMail(f"the mail has more than {MAX_PARTS} parts")
        maintype, subtype = part.get_content_maintype(), part.get_content_subtype()
        payload = part.get_payload()
        inner = [p for p in payload if isinstance(p, Message)] if isinstance(payload, list) else None
        if maintype == "message":
            if subtype in ("rfc822", "global") and inner:
                # A forwarded mail: its attachments are faxed, its own text is not.
                stack.extend((message, depth + 1, False) for message in reversed(inner))
            continue
        if maintype == "multipart":
            if inner is None:
                continue  # no usable boundary: nothing in it can be trusted to be a document
            children = _children(part, subtype, inner)
            chosen = _preferred(children) if subtype == "alternative" else None
            for child in reversed(children):
                stack.append((child, depth + 1, body_ok and (chosen is None or child is chosen)))
            continue
        disposition = safe_read(part.get_content_disposition)
        if maintype == "text" and disposition != "attachment" and _filename(part) is None:
            if body_ok and subtype in ("plain", "html"):
                (found.plain if subtype == "plain" else found.html).append(_text(part))
            continue  # other inline text (calendar, headers of a bounce) is no document
        found.attachments.append(part)
    return found


def _children(part: Message, subtype: str, payload: list[Message]) -> list[Message]:
    if subtype == "signed":
        return payload[:1]  # the second part is the signature
    if subtype == "appledouble":
        return payload[-1:]  # the first part is the Macintosh resource fork
    if subtype == "encrypted":
        raise UnfaxableDocument("the mail is encrypted; send it unencrypted to fax it")
    return payload


def _preferred(children: list[Message]) -> Message | None:
    """The alternative whose text becomes the body: plain text if it has any, else HTML."""
    for child in children:
        if child.get_content_type() == "text/plain" and _text(child).strip():
            return child
    for child in children:
        if child.get_content_type() in ("text/html", "multipart/related"):
            return child
    return children[-1] if children else None


def _body_document(content: _Content) -> Document | None:
    text = "\n\n".join(t.strip("\r\n") for t in content.plain if t.strip())
    if text:
        text = _LINE_END.sub("\r\n", text + "\n")  # CRLF, as any text renderer reads it
        return Document("message.txt", "text/plain", _utf8(text))
    for html in content.html:
        if _visible_text(html):
            return Document("message.html", "text/html", _utf8(html))
    return None


def _visible_text(html: str) -> bool:
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


def _utf8(text: str) -> bytes:
    """UTF-8, with a byte-order mark when it is not plain ASCII so renderers do not guess."""
    data = text.encode("utf-8", "replace")
    return data if data.isascii() else _UTF8_BOM + data


def _text(part: Message) -> str:
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


def _filename(part: Message) -> str | None:
    name = safe_read(part.get_filename)
    return (_one_line(name) or None) if isinstance(name, str) else None


def _size(value: int, other: int) -> str:
    """``value`` in MiB, or in bytes when MiB would not tell it from ``other``."""
    text, beside = (f"{n / (1024 * 1024):.1f} MiB" for n in (value, other))
    return text if text != beside else f"{value:,} bytes"


def _header(msg: Message, name: str) -> str | None:
    value = safe_read(lambda: msg.get(name))
    return None if value is None else str(value)


def _one_line(text: str | None) -> str:
    """A header's text as one line that encodes as UTF-8: raw 8-bit bytes read as UTF-8, each
    run of spaces one space, invisible and control characters dropped."""
    try:
        text = (text or "").encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:
        text = (text or "").encode("utf-8", "replace").decode("utf-8")
    return " ".join("".join(c if c.isprintable() else " " if c.isspace() else "" for c in text).split())


def _attached(part: Message) -> bool:
    """A part sent as an attachment, not an image embedded in the text (a signature logo)."""
    return part.get_content_disposition() == "attachment" or (
        part.get_content_disposition() is None and part.get("content-id") is None
    )


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
                name = _one_line(str(address.display_name))[:100]
                key = _one_line(str(address.addr_spec)).lower()
                if name and key and key not in names:
                    names[key] = name
    return names


def _fax_headers(msg: Message) -> dict[str, str]:
    headers: dict[str, str] = {}
    for key in safe_read(msg.keys) or []:
        name = key.strip().lower()
        if name.startswith("x-fax-") and name not in headers:
            headers[name] = _one_line(_header(msg, key))
    return headers
