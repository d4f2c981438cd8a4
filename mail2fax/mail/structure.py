"""Which parts of a mail are its body, which are attachments, and which are left out.

The rule, as the sender's own client shows the mail:

- A part belongs to the body when an HTML text of the mail shows it (``cid:``), or when it is
  an alternative of the body (the plain copy beside an HTML text, an invitation's calendar
  data inside ``multipart/alternative``). It is faxed only as part of the body.
- Every other part that carries a filename, whatever its disposition, is an attachment; so is
  a part that is neither text nor named (a bare ``application/pdf`` from a script).
- Parts that are not content are left out: signatures, OpenPGP keys, vCards, and calendar
  data when the invitation's text is there. Each decision is kept in ``left_out``.
- An opaque-signed S/MIME part is replaced by the mail inside it; encrypted mail is refused.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from email.parser import BytesParser

from mail2fax.errors import MalformedMail, UnfaxableDocument
from mail2fax.mail.body import cid_references, normalised_cid, one_line, shows_something, text_of
from mail2fax.mail.payload import safe_read
from mail2fax.mail.smime import ENCRYPTED, declared_encrypted, is_pkcs7_mime, signed_content
from mail2fax.mail.sniffing import is_image

MAX_DEPTH = 50
MAX_PARTS = 1000
MAX_SIGNED_LAYERS = 5
MAX_CONTAINERS = 100  # multipart and message parts, counted before parsing
_CONTAINER = re.compile(rb"content-type:[ \t\r\n]*(?:multipart|message)/")  # on lower-cased bytes

_SIGNATURE_TYPES = frozenset(
    (
        "application/pgp-signature",
        "application/pkcs7-signature",
        "application/x-pkcs7-signature",
    )
)
_KEY_TYPES = frozenset(("application/pgp-keys",))
_VCARD_TYPES = frozenset(("text/vcard", "text/x-vcard", "text/directory"))
_CALENDAR_TYPES = frozenset(("text/calendar", "application/ics", "text/x-vcalendar"))
_NOT_CONTENT_EXTENSIONS = {
    ".p7s": "a signature",
    ".sig": "a signature",
    ".asc": "an OpenPGP key or signature",
    ".vcf": "a contact card (vCard)",
    ".vcard": "a contact card (vCard)",
}
_CALENDAR_EXTENSIONS = (".ics", ".vcs")
_CALENDAR_REASON = "calendar data of an invitation whose text is in the mail"
_UNSHOWN_REASON = "an unnamed part of the HTML text that it does not show"


@dataclass(frozen=True, slots=True)
class LeftOut:
    """A part that is not faxed as a document of its own, and why."""

    label: str
    reason: str


@dataclass(slots=True)
class Structure:
    fragments: list[tuple[str, str]] = field(default_factory=list)  # ("plain"|"html", text) of the body
    plain_alternatives: list[str] = field(default_factory=list)  # plain copies of an HTML body
    attachments: list[Message] = field(default_factory=list)
    resources: dict[str, Message] = field(default_factory=dict)  # normalised Content-ID -> part
    left_out: list[LeftOut] = field(default_factory=list)


@dataclass(slots=True)
class _Candidate:
    part: Message
    label: str
    in_related: bool  # a part of multipart/related other than its root
    named: bool
    calendar: bool


def filename_of(part: Message) -> str | None:
    name = safe_read(part.get_filename)
    return (one_line(name) or None) if isinstance(name, str) else None


def label_of(part: Message) -> str:
    return (filename_of(part) or safe_read(part.get_content_type) or "a part")[:100]


def check_sections(text: bytes) -> None:
    """MalformedMail when ``text`` declares more multipart or message sections than a mail may
    have: counted in its bytes, before the parser (slow on deep nesting) is given them."""
    containers = sum(1 for _ in _CONTAINER.finditer(text.lower()))
    if containers > MAX_CONTAINERS:
        raise MalformedMail(f"the mail has more than {MAX_CONTAINERS} multipart or message sections")


def walk(msg: Message, read: Callable[[Message], bytes]) -> Structure:
    """Sort the parts of ``msg``; ``read`` gives a part's decoded bytes."""
    found = Structure()
    candidates: list[_Candidate] = []
    html_texts: list[str] = []
    stack: list[tuple[Message, int, bool, bool]] = [(msg, 0, True, False)]  # part, depth, body, related
    seen = signed_layers = 0
    while stack:
        part, depth, body_ok, in_related = stack.pop()
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
                stack.extend((message, depth + 1, False, False) for message in reversed(inner))
            continue
        if maintype == "multipart":
            if inner is not None:
                children = _children(part, subtype, inner, found, html_texts)
                stack.extend(
                    reversed([(c, depth + 1, b, r) for c, b, r in _flags(part, subtype, children, body_ok)])
                )
            continue
        filename = filename_of(part)
        if is_pkcs7_mime(part, filename):
            if (signed_layers := signed_layers + 1) > MAX_SIGNED_LAYERS:
                raise MalformedMail(f"the mail is signed more than {MAX_SIGNED_LAYERS} times over")
            stack.append((_signed_mail(part, read, msg), depth + 1, body_ok, False))
            continue
        content_type = part.get_content_type()
        reason = _not_content(content_type, filename)
        if reason is not None:
            found.left_out.append(LeftOut(label_of(part), reason))
            continue
        disposition = safe_read(part.get_content_disposition)
        if (
            maintype == "text"
            and subtype in ("plain", "html")
            and disposition != "attachment"
            and not filename
        ):
            text = text_of(part)
            if subtype == "html":
                html_texts.append(text)
            if body_ok:
                found.fragments.append((subtype, text))
            continue
        calendar = content_type in _CALENDAR_TYPES or (filename or "").lower().endswith(_CALENDAR_EXTENSIONS)
        if maintype == "text" and disposition != "attachment" and not filename and not calendar:
            continue  # other inline text (the headers of a bounce) is no document
        candidates.append(_Candidate(part, label_of(part), in_related, filename is not None, calendar))
    _place(found, candidates, html_texts, read)
    return found


def _flags(
    part: Message, subtype: str, children: list[Message], body_ok: bool
) -> list[tuple[Message, bool, bool]]:
    """Each child with whether it may hold the body and whether it is a related non-root part."""
    if subtype == "related":
        root = _related_root(part, children)
        return [(child, body_ok and child is root, child is not root) for child in children]
    return [(child, body_ok, False) for child in children]


def _children(
    part: Message, subtype: str, payload: list[Message], found: Structure, html_texts: list[str]
) -> list[Message]:
    """The children of a multipart worth walking; the others are recorded as left out."""
    if subtype == "signed":
        found.left_out.extend(LeftOut(label_of(p), "a signature") for p in payload[1:])
        return payload[:1]
    if subtype == "appledouble":
        return payload[-1:]  # the first part is the Macintosh resource fork
    if subtype == "encrypted":
        raise UnfaxableDocument(ENCRYPTED)
    if subtype != "alternative" or not payload:
        return payload
    chosen, chosen_is_html = _preferred(payload)
    for child in payload:
        if child is chosen:
            continue
        for piece in child.walk():
            if piece.get_content_type() == "text/html":
                html_texts.append(text_of(piece))
            elif piece.get_content_type() == "text/plain" and chosen_is_html:
                found.plain_alternatives.append(text_of(piece))
        found.left_out.append(LeftOut(label_of(child), "an alternative of the body"))
    return [chosen]


def _preferred(children: list[Message]) -> tuple[Message, bool]:
    """The alternative the sender saw: the last one with HTML that shows something, else the last
    plain text that has any, else the last one; and whether it is the HTML one."""
    for child in reversed(children):
        if _holds_html(child):
            return child, True
    for child in reversed(children):
        if child.get_content_type() == "text/plain" and text_of(child).strip():
            return child, False
    return children[-1], False


def _holds_html(part: Message) -> bool:
    return any(
        piece.get_content_type() == "text/html"
        and safe_read(piece.get_content_disposition) != "attachment"
        and shows_something(text_of(piece))
        for piece in part.walk()
    )


def _related_root(part: Message, children: list[Message]) -> Message:
    start = safe_read(lambda: part.get_param("start"))
    if isinstance(start, str) and start.strip():
        wanted = normalised_cid(start)
        for child in children:
            if normalised_cid(str(child.get("content-id", ""))) == wanted:
                return child
    return children[0]


def _signed_mail(part: Message, read: Callable[[Message], bytes], msg: Message) -> Message:
    if declared_encrypted(part):
        raise UnfaxableDocument(ENCRYPTED)
    content = signed_content(read(part))
    part.set_payload("")
    check_sections(content)
    signed: Message = BytesParser(policy=msg.policy).parsebytes(content)
    return signed


def _not_content(content_type: str, filename: str | None) -> str | None:
    if content_type in _SIGNATURE_TYPES:
        return "a signature"
    if content_type in _KEY_TYPES:
        return "an OpenPGP key"
    if content_type in _VCARD_TYPES:
        return "a contact card (vCard)"
    name = (filename or "").lower()
    for extension, reason in _NOT_CONTENT_EXTENSIONS.items():
        if name.endswith(extension):
            return reason
    return None


def _place(
    found: Structure, candidates: list[_Candidate], html_texts: list[str], read: Callable[[Message], bytes]
) -> None:
    """Attachments in MIME order; parts an HTML text shows become its resources."""
    shown: set[str] = set()
    for text in html_texts:
        shown |= cid_references(text)
    has_text = any(text.strip() for _, text in found.fragments)
    for candidate in candidates:
        part = candidate.part
        cid = normalised_cid(str(safe_read(lambda part=part: part.get("content-id")) or ""))
        if cid and cid in shown and (part.get_content_maintype() == "image" or is_image(read(part))):
            found.resources[cid] = part
            found.left_out.append(LeftOut(candidate.label, "shown in place in the HTML text"))
        elif candidate.calendar and has_text:
            found.left_out.append(LeftOut(candidate.label, _CALENDAR_REASON))
        elif candidate.in_related and not candidate.named:
            found.left_out.append(LeftOut(candidate.label, _UNSHOWN_REASON))
        else:
            found.attachments.append(part)
