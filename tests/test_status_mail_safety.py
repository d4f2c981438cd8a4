"""Status mails built only from safe parts, sent to exactly one envelope recipient."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest

from mail2fax.mail.mailbox import Mailbox
from mail2fax.mail.status_mail import compose, replied_id, status_recipient
from mail2fax.mailer import Mailer
from mail2fax.models import FaxOptions, Job, JobState, Recipient, RecipientResult
from mail2fax.settings import RelaySettings
from tests.capture import CaptureRelay

pytestmark = pytest.mark.timeout(20)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
HOSTILE = "Bad number\r\nBcc: victim@example.org\r\n\r\nbody\u2028X-Evil: 1\x00"


def job(**fields: object) -> Job:
    values: dict[str, object] = {
        "id": "9f2c41d07a3b",
        "sender": "alice@example.com",
        "recipients": (Recipient("+14155551212", "John\r\nBcc: x@evil.example"),),
        "cover_text": "",
        "options": FaxOptions(),
        "state": JobState.FAILED,
        "attempts": 1,
        "created_at": NOW,
        "updated_at": NOW,
        "next_attempt_at": None,
        "expires_at": NOW,
        "message_id": "<abc@example.com>",
        "subject": "Invoice\r\nBcc: y@evil.example",
        "backend": "ringcentral",
        "last_error": HOSTILE,
        "results": (RecipientResult("+14155551212", "SendingFailed\r\nX: y", "LineBusy\nX: z"),),
    }
    values.update(fields)
    return Job(**values)  # type: ignore[arg-type]


def reparsed(message: EmailMessage) -> EmailMessage:
    parsed = email.message_from_bytes(bytes(message), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def test_every_outside_value_is_one_line_and_no_header_is_forged() -> None:
    to = status_recipient("alice@example.com")
    assert to is not None
    message = reparsed(compose(job(), from_address="mail2fax@gateway.test", now=NOW, to=to))
    assert message["Bcc"] is None
    assert message["X-Evil"] is None
    assert [str(a.addr_spec) for a in message["To"].addresses] == ["alice@example.com"]
    subject = str(message["Subject"]).strip()
    assert "\n" not in subject and "\r" not in subject and "\u2028" not in subject
    assert subject.startswith("Fax to +14155551212 failed: Bad number Bcc: victim@example.org body X-Evil: 1")
    body = message.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "Original subject:   Invoice Bcc: y@evil.example\n" in text
    assert (
        "  John Bcc: x@evil.example <+14155551212>: SendingFailed X: y: LineBusy X: z (LineBusy X: z)" in text
    )
    assert message["In-Reply-To"] == "<abc@example.com>"


@pytest.mark.parametrize(
    "message_id",
    ["<a@b>\r\nBcc: x@evil.example", "no brackets@example.com", "<a b@example.com>", "<=?utf-8?q?x?=@y>", ""],
)
def test_a_message_id_that_is_not_a_plain_msg_id_is_left_out(message_id: str) -> None:
    to = Mailbox("alice", "example.com")
    message = reparsed(compose(job(message_id=message_id), from_address="m@g.test", now=NOW, to=to))
    assert message["In-Reply-To"] is None
    assert message["References"] is None
    assert replied_id(message_id) is None


@pytest.mark.parametrize(
    "sender",
    [
        '"=?utf-8?q?a=0Db?="@example.com',
        "victim@evil.com, victim2@evil.org",
        "a@b\r\nBcc: c@d",
        "Name <a@example.com>",
        "",
        "<>",
    ],
)
def test_a_sender_that_is_not_one_mailbox_gets_no_status_mail(sender: str) -> None:
    assert status_recipient(sender) is None


async def test_the_relay_gets_exactly_one_recipient_whatever_the_headers_say() -> None:
    message = EmailMessage()
    message["From"] = "mail2fax@gateway.test"
    message["To"] = "alice@example.com, victim@evil.example"
    message["Cc"] = "other@evil.example"
    message["Bcc"] = "hidden@evil.example"
    message["Subject"] = "x"
    message.set_content("x\n")
    async with CaptureRelay() as relay:
        mailer = Mailer(RelaySettings(host="127.0.0.1", port=relay.port))
        await mailer.send(message, recipient=Mailbox("alice", "example.com"))
        (captured,) = await relay.wait_for(1)
    assert captured.recipients == ["alice@example.com"]
