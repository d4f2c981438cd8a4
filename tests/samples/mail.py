"""Mails as a client would send them, built with the standard library."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import SMTP, default
from typing import Any


@dataclass(frozen=True)
class Attachment:
    """A file to attach. Scanners declare ``application/octet-stream`` whatever they send."""

    filename: str | None
    data: bytes
    content_type: str = "application/octet-stream"
    inline: bool = False


AttachmentLike = Attachment | tuple[str | None, bytes] | tuple[str | None, bytes, str]


def _attachment(item: AttachmentLike) -> Attachment:
    if isinstance(item, Attachment):
        return item
    if len(item) == 2:
        return Attachment(item[0], item[1])
    return Attachment(item[0], item[1], item[2])


def build_mail(
    *,
    subject: str | None = "Fax",
    body: str | None = "Please fax the attached document.",
    html: str | None = None,
    attachments: Iterable[AttachmentLike] = (),
    sender: str = "Alice Example <alice@example.com>",
    to: str | Sequence[str] = "14155551212@fax.local",
    cc: str | Sequence[str] | None = None,
    headers: Mapping[str, str] | None = None,
    message_id: str | None = "<sample-1@example.com>",
) -> EmailMessage:
    """A mail with a text and/or HTML body (as alternatives when both) and attachments."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to if isinstance(to, str) else ", ".join(to)
    if cc:
        msg["Cc"] = cc if isinstance(cc, str) else ", ".join(cc)
    if subject is not None:
        msg["Subject"] = subject
    if message_id:
        msg["Message-ID"] = message_id
    for name, value in (headers or {}).items():
        msg[name] = value
    if body is not None:
        msg.set_content(body)
        if html is not None:
            msg.add_alternative(html, subtype="html")
    elif html is not None:
        msg.set_content(html, subtype="html")
    for item in attachments:
        attachment = _attachment(item)
        maintype, _, subtype = attachment.content_type.partition("/")
        msg.add_attachment(
            attachment.data,
            maintype=maintype,
            subtype=subtype,
            filename=attachment.filename,
            disposition="inline" if attachment.inline else "attachment",
        )
    return msg


def mail_bytes(**kwargs: Any) -> bytes:
    """``build_mail(**kwargs)`` as the bytes an SMTP client sends (CRLF line ends)."""
    return build_mail(**kwargs).as_bytes(policy=SMTP)


def forward_bytes(
    inner: EmailMessage | bytes, *, body: str = "Forwarding this mail.", **kwargs: Any
) -> bytes:
    """A mail that carries ``inner`` as a forwarded (message/rfc822) attachment."""
    message = inner if isinstance(inner, EmailMessage) else message_from_bytes(inner, policy=default)
    outer = build_mail(body=body, **kwargs)
    outer.add_attachment(message)
    return outer.as_bytes(policy=SMTP)
