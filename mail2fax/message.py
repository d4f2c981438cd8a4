"""A raw mail turned into the documents to fax and the facts intake needs about it.

``parse_mail`` never trusts a declared Content-Type or filename: every attachment is sniffed
and renamed. It returns a ParsedMail or raises a Refusal; the email package's own surprises on
hostile input are turned into a Refusal too, so the SMTP reply always says what happened.
"""

from __future__ import annotations

import email
import re
from dataclasses import dataclass, field
from email.message import Message
from email.policy import EmailPolicy
from typing import Any, Literal

from mail2fax.errors import NothingToFax, Refusal, TooLarge, UnfaxableDocument
from mail2fax.models import Document
from mail2fax.sniffing import safe_filename, sniff

BodyMode = Literal["auto", "always", "never"]

COVER_TEXT_LIMIT = 1024  # RingCentral's coverPageText maxLength
MAX_DEPTH = 50
MAX_CONTAINERS = 100  # multipart and message parts, counted before parsing
MAX_PARTS = 1000
MAX_HEADER_CHARS = 4096
_CONTAINER = re.compile(rb"content-type:[ \t\r\n]*(?:multipart|message)/")  # on lower-cased bytes
_UTF8_BOM = b"\xef\xbb\xbf"


class _Policy(EmailPolicy):
    """policy.default, except that a header is cut to MAX_HEADER_CHARS before it is parsed.

    The structured header parser is quadratic on some hostile headers (thousands of
    parameters, nested comments); no honest header comes near the limit.
    """

    def header_fetch_parse(self, name: str, value: str) -> Any:
        if not hasattr(value, "name") and len(value) > MAX_HEADER_CHARS:
            value = value[:MAX_HEADER_CHARS]
        return super().header_fetch_parse(name, value)


_POLICY = _Policy()


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
    """What the walk over the MIME tree found."""

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
        raise Refusal(reason, code=554, enhanced="5.6.0") from exc


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
    containers = sum(1 for _ in _CONTAINER.finditer(raw.lower()))
    if containers > MAX_CONTAINERS:
        raise Refusal(f"the mail has more than {MAX_CONTAINERS} multipart or message sections")
    msg = email.message_from_bytes(raw, policy=_POLICY)
    content = _walk(msg)
    body = _body_document(content)
    if body_mode == "never" or (body_mode == "auto" and content.attachments):
        body = None
    documents: list[Document] = [body] if body else []
    total = len(body.data) if body else 0
    for part in content.attachments:
        data = part.get_payload(decode=True)  # bytes as sent, also for text files
        data = data if isinstance(data, bytes) else b""
        part.set_payload("")  # the encoded copy is no longer needed
        total += len(data)
        if total > limit:
            continue  # only counted, so the refusal can say how large the documents are
        position = len(documents) + 1
        original = _filename(part)
        found = sniff(data, label=_label(original) or f"attachment {position}")
        name = safe_filename(original, found.extension, position)
        documents.append(Document(filename=name, content_type=found.content_type, data=data))
    if total > limit:
        raise TooLarge(f"the documents are {_size(total, limit)}, over the limit of {_size(limit, total)}")
    if not documents:
        raise NothingToFax("the mail has no attachment or text to fax")
    return ParsedMail(
        subject=" ".join(_clean(_header(msg, "subject") or "").split()),
        message_id=_message_id(msg),
        auto_submitted=_auto_submitted(msg),
        recipient_names=_recipient_names(msg),
        fax_headers=_fax_headers(msg),
        documents=tuple(documents),
    )


def _walk(msg: Message) -> _Content:
    """Attachments in MIME order and the body texts, without recursion."""
    found = _Content()
    stack: list[tuple[Message, int, bool]] = [(msg, 0, True)]  # part, depth, may hold the body
    seen = 0
    while stack:
        part, depth, body_ok = stack.pop()
        seen += 1
        if depth > MAX_DEPTH or seen > MAX_PARTS:
            limit = f"nested more than {MAX_DEPTH} levels deep" if depth > MAX_DEPTH else "too many parts"
            raise Refusal(f"the mail is {limit}")
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
        disposition = _safe(part.get_content_disposition)
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
        return Document("message.txt", "text/plain", _utf8(text + "\n"))
    for html in content.html:
        if _visible_text(html):
            return Document("message.html", "text/html", _utf8(html))
    return None


def _visible_text(html: str) -> str:
    html = re.sub(r"(?is)<(head|style|script)\b.*?</\1\s*>", " ", html)
    html = re.sub(r"(?s)<[^>]*>|&nbsp;|&#160;", " ", html)
    return html.strip()


def _utf8(text: str) -> bytes:
    """UTF-8, with a byte-order mark when it is not plain ASCII so renderers do not guess."""
    data = text.encode("utf-8", "replace")
    return data if data.isascii() else _UTF8_BOM + data


def _text(part: Message) -> str:
    """A text part's characters: its declared charset, else UTF-8, else Windows-1252."""
    raw = part.get_payload(decode=True)
    if not isinstance(raw, bytes):
        return ""
    charset = _safe(part.get_content_charset)
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
    name = _safe(part.get_filename)
    return _clean(name) if isinstance(name, str) and name.strip() else None


def _label(original: str | None) -> str:
    return " ".join(original.split())[:100] if original else ""


def _size(value: int, other: int) -> str:
    mib = 1024 * 1024
    text = f"{value / mib:.1f} MiB"
    return text if text != f"{other / mib:.1f} MiB" else f"{value:,} bytes"


def _safe(getter: Any) -> Any:
    """A header-derived value, or None when the email package cannot read it."""
    try:
        return getter()
    except Exception:  # noqa: BLE001 - an unreadable header is treated as absent
        return None


def _header(msg: Message, name: str) -> str | None:
    value = _safe(lambda: msg.get(name))
    return None if value is None else str(value)


def _clean(text: str) -> str:
    """Text that encodes as UTF-8: raw 8-bit bytes are read as UTF-8, control characters dropped."""
    try:
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return "".join(c for c in text if c.isprintable() or c in "\t\n\r")


def _message_id(msg: Message) -> str | None:
    value = " ".join(_clean(_header(msg, "message-id") or "").split())
    return value[:998] or None


def _auto_submitted(msg: Message) -> bool:
    auto = (_header(msg, "auto-submitted") or "").split(";")[0].strip().lower()
    precedence = (_header(msg, "precedence") or "").strip().lower()
    return (auto not in ("", "no")) or precedence in ("bulk", "junk", "list")


def _recipient_names(msg: Message) -> dict[str, str]:
    names: dict[str, str] = {}
    for header in ("to", "cc"):
        values = _safe(lambda header=header: msg.get_all(header)) or []
        for value in values:
            for address in _safe(lambda value=value: value.addresses) or ():
                name = " ".join(_clean(str(address.display_name)).split())[:100]
                key = _clean(str(address.addr_spec)).strip().lower()
                if name and key and key not in names:
                    names[key] = name
    return names


def _fax_headers(msg: Message) -> dict[str, str]:
    headers: dict[str, str] = {}
    for key in _safe(msg.keys) or []:
        name = key.strip().lower()
        if name.startswith("x-fax-") and name not in headers:
            headers[name] = " ".join(_clean(_header(msg, key) or "").split())
    return headers
