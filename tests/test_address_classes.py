"""One address of each class a stranger may write, through a real socket to the running daemon.

The same classes, a hundred thousand times over, are driven in-process by
tests/test_address_properties.py; here each goes the whole way: the command line as the client
sends it, and for a sender that is taken, a mail that is faxed and a status mail that reaches
exactly that address at the relay.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.capture import CaptureRelay
from tests.conftest import running, settings_for
from tests.mailbuilder import mail
from tests.raw_smtp import RawSMTP
from tests.samples.other import pdf_bytes

pytestmark = pytest.mark.timeout(60)

TO = "14155551212@fax.local"


@pytest.mark.parametrize(
    ("argument", "mailbox"),
    [
        ('<"john doe"@example.com>', '"john doe"@example.com'),  # quoted local part
        ("<alice@[192.0.2.1]>", "alice@[192.0.2.1]"),  # address literal
        ("<alice@[IPv6:2001:db8::1]>", "alice@[IPv6:2001:db8::1]"),
        ("<@relay.example,@other.example:alice@example.com>", "alice@example.com"),  # source route
    ],
)
async def test_a_sender_that_is_taken_gets_its_status_mail_and_no_one_else(
    tmp_path: Path, relay: CaptureRelay, argument: str, mailbox: str
) -> None:
    raw = bytes(mail(to=TO, attachments=[("a.pdf", pdf_bytes(), "application/pdf")]))
    async with running(settings_for(tmp_path, relay)) as daemon:
        assert daemon.smtp_port
        client = await RawSMTP.connect(daemon.smtp_port)
        await client.ehlo()
        assert (await client.command(f"MAIL FROM:{argument}")).code == 250
        assert (await client.command(f"RCPT TO:<{TO}>")).code == 250
        assert (await client.data(raw)).code == 250
        await client.close()
        [status] = await relay.wait_for(1)
    assert status.recipients == [mailbox]
    assert [a.addr_spec for a in status.message["To"].addresses] == [mailbox]


@pytest.mark.parametrize(
    ("line", "code", "says"),
    [
        ('MAIL FROM:<"=?utf-8?q?a=0Db?="@example.com>', 553, "5.1.7 The sender address holds an RFC 2047"),
        ("MAIL FROM:<a\x0bb@example.com>", 553, "5.1.7 The sender address has control characters"),
        ("MAIL FROM:<a@example.com,b@example.org>", 553, "5.1.7 The sender address holds a list separator"),
        ("MAIL FROM:<a(x)@example.com>", 553, "5.1.7 The sender address holds parentheses"),
        ("MAIL FROM:<ä@example.com>", 500, "Error: strict ASCII mode"),
        ("MAIL FROM:<a\u2028b@example.com>", 500, "Error: strict ASCII mode"),
        ("MAIL FROM:<alice@[300.1.2.3]>", 553, "5.1.7 The sender address has a malformed address literal"),
        ("MAIL FROM:<@bad_host:alice@example.com>", 553, "5.1.7 The sender address has a malformed source"),
    ],
)
async def test_a_sender_of_each_bad_class_is_refused_on_the_wire(
    tmp_path: Path, relay: CaptureRelay, line: str, code: int, says: str
) -> None:
    async with running(settings_for(tmp_path, relay)) as daemon:
        assert daemon.smtp_port
        client = await RawSMTP.connect(daemon.smtp_port)
        await client.ehlo()
        reply = await client.command(line.encode())
        assert reply.code == code, reply
        assert reply.text.startswith(says), reply
        assert (await client.command("MAIL FROM:<alice@example.com>")).code == 250
        await client.close()


@pytest.mark.parametrize(
    ("argument", "code", "says"),
    [
        ("<(415)555-1212@fax.local>", 250, "2.1.5 OK"),
        ('<"+1 415 555 1212"@fax.local>', 250, "2.1.5 OK"),
        ("<=?utf-8?q?14155551212?=@fax.local>", 553, "5.1.3 The recipient address holds an RFC 2047"),
        ('<"(415)555-1212"@fax.local>', 553, "5.1.3 The recipient address holds parentheses"),
        ("<14155551212@fax.local,14155551313@fax.local>", 553, "5.1.3 The recipient address holds a list"),
        ("<1415555\x001212@fax.local>", 553, "5.1.3 The recipient address has control characters"),
        ("<１４１５５５５１２１２@fax.local>", 500, "Error: strict ASCII mode"),
        ("<14155551212@[192.0.2.1]>", 550, "5.7.1 relaying to [192.0.2.1] is denied"),
        ("<@relay.example:14155551212@fax.local>", 250, "2.1.5 OK"),
    ],
)
async def test_a_recipient_of_each_class_on_the_wire(
    tmp_path: Path, relay: CaptureRelay, argument: str, code: int, says: str
) -> None:
    async with running(settings_for(tmp_path, relay)) as daemon:
        assert daemon.smtp_port
        client = await RawSMTP.connect(daemon.smtp_port)
        await client.ehlo()
        assert (await client.command("MAIL FROM:<alice@example.com>")).code == 250
        reply = await client.command(f"RCPT TO:{argument}".encode())
        assert (reply.code, reply.text[: len(says)]) == (code, says)
        await client.close()
