"""Builds the mails the end-to-end tests send, the way mail clients and scanners write them."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid


def mail(
    *,
    to: str = "14155551212@fax.local",
    subject: str = "Invoice 42",
    sender: str = "alice@example.com",
    body: str | None = None,
    html: str | None = None,
    attachments: list[tuple[str, bytes, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> EmailMessage:
    """A mail with an optional text or HTML body and attachments given as (filename, bytes, type)."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="example.com")
    for name, value in (headers or {}).items():
        message[name] = value
    if body is not None:
        message.set_content(body)
        if html is not None:
            message.add_alternative(html, subtype="html")
    elif html is not None:
        message.set_content(html, subtype="html")
    for filename, data, content_type in attachments or []:
        maintype, _, subtype = content_type.partition("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return message
