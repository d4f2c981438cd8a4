"""mailbox: envelope addresses read by RFC 5321's grammar, from the command line as sent."""

from __future__ import annotations

import pytest

from mail2fax.errors import MalformedAddress
from mail2fax.mail.mailbox import Mailbox, Role, parse_mailbox, parse_path
from mail2fax.mail.safe_text import for_reply, in_angles, one_line

S, R = Role.SENDER, Role.RECIPIENT


@pytest.mark.parametrize(
    ("argument", "role", "mailbox", "parameters"),
    [
        ("<alice@example.com>", S, "alice@example.com", ""),
        (" <alice@example.com> SIZE=1234 BODY=8BITMIME", S, "alice@example.com", "SIZE=1234 BODY=8BITMIME"),
        ("alice@example.com", S, "alice@example.com", ""),  # no brackets: RFC 5321 wants them, clients forget
        ('<"john doe"@example.com>', S, '"john doe"@example.com', ""),
        ('<"a\\"b"@example.com>', S, '"a\\"b"@example.com', ""),
        ('<"a>b"@example.com>', S, '"a>b"@example.com', ""),
        ("<first.last+tag@sub.example.com>", S, "first.last+tag@sub.example.com", ""),
        ("<user@[192.0.2.1]>", S, "user@[192.0.2.1]", ""),
        ("<user@[IPv6:2001:db8::1]>", S, "user@[IPv6:2001:db8::1]", ""),
        ("<@relay.example,@other.example:user@example.com>", S, "user@example.com", ""),
        ("<(415)555-1212@fax.local>", R, "(415)555-1212@fax.local", ""),
        ("<+1(415)555-1212@fax.local>", R, "+1(415)555-1212@fax.local", ""),
        ('<"+1 415 555 1212"@fax.local>', R, '"+1 415 555 1212"@fax.local', ""),
        ("<1-415-555-1212@fax.local>", R, "1-415-555-1212@fax.local", ""),
    ],
)
def test_addresses_rfc_5321_allows(argument: str, role: Role, mailbox: str, parameters: str) -> None:
    parsed, rest = parse_path(argument, role)
    assert str(parsed) == mailbox
    assert rest == parameters


def test_the_null_sender_is_taken_and_means_nobody() -> None:
    assert parse_path("<>", S) == (None, "")
    with pytest.raises(MalformedAddress) as refused:
        parse_path("<>", R)
    assert refused.value.reply == "553 5.1.3 The recipient address is empty"


@pytest.mark.parametrize(
    ("argument", "role", "reply"),
    [
        (
            '<"=?utf-8?q?a=0Db?="@example.com>',
            S,
            "553 5.1.7 The sender address holds an RFC 2047 encoded word",
        ),
        (
            "<victim@=?utf-8?q?evil.com=2C_victim2=40evil.org=2Cx=40example.com?=>",
            S,
            "553 5.1.7 The sender address holds an RFC 2047 encoded word",
        ),
        ("<=?utf-8?b?QUJD?=@fax.local>", R, "553 5.1.3 The recipient address holds an RFC 2047 encoded word"),
        ("<a\x00b@example.com>", S, "553 5.1.7 The sender address has control characters"),
        ('<"a\tb"@example.com>', S, "553 5.1.7 The sender address has control characters"),
        ("<ä@example.com>", S, "553 5.1.7 The sender address has characters outside ASCII"),
        ("<a\u2028b@example.com>", S, "553 5.1.7 The sender address has characters outside ASCII"),
        ("<a@example.com,b@example.org>", S, "553 5.1.7 The sender address holds a list separator"),
        ('<"a,b"@example.com>', S, "553 5.1.7 The sender address holds a list separator"),
        ("<a;b@example.com>", S, "553 5.1.7 The sender address holds a list separator"),
        ("<a(comment)@example.com>", S, "553 5.1.7 The sender address holds parentheses"),
        ('<"(415)555-1212"@fax.local>', R, "553 5.1.3 The recipient address holds parentheses"),
        ("<a@example.com", S, "553 5.1.7 The sender address has no closing >"),
        ("<a@example.com>junk", S, "553 5.1.7 The sender address is followed by text that is not a param"),
        ("<a@example.com> SIZE==1", S, "553 5.1.7 The sender address is followed by parameters"),
        ("<alice>", S, "553 5.1.7 The sender address has no @domain"),
        ("<@example.com>", S, "553 5.1.7 The sender address starts with @ but has no source route"),
        ("<@bad_host:a@example.com>", S, "553 5.1.7 The sender address has a malformed source route"),
        ("<a..b@example.com>", S, "553 5.1.7 The sender address has a local part with characters"),
        ("<a b@example.com>", S, "553 5.1.7 The sender address has a local part with characters"),
        ("<a@exa_mple.com>", S, "553 5.1.7 The sender address has a malformed domain"),
        ("<a@example.com.>", S, "553 5.1.7 The sender address has a malformed domain"),
        ("<a@-example.com>", S, "553 5.1.7 The sender address has a malformed domain"),
        ("<a@[300.1.1.1]>", S, "553 5.1.7 The sender address has a malformed address literal"),
        ("<a@[IPv6:fe80::1%eth0]>", S, "553 5.1.7 The sender address has a malformed address literal"),
        ("<a@[tag:anything]>", S, "553 5.1.7 The sender address has a malformed address literal"),
        (f"<{'a' * 65}@example.com>", S, "553 5.1.7 The sender address has a local part longer than 64"),
        (f"<a@{'b' * 63}.{'c' * 63}.{'d' * 63}.{'e' * 63}.com>", S, "553 5.1.7 The sender address is longer"),
    ],
)
def test_what_is_refused_and_why(argument: str, role: Role, reply: str) -> None:
    with pytest.raises(MalformedAddress) as refused:
        parse_path(argument, role)
    assert refused.value.reply.startswith(reply)
    assert refused.value.reply.isascii()


def test_a_quoted_local_part_reads_back_without_its_quotes() -> None:
    assert parse_mailbox('"+1 415\\-555"@fax.local', R).bare_local_part == "+1 415-555"
    assert Mailbox("plain", "example.com").bare_local_part == "plain"


def test_reply_text_is_printable_ascii_on_one_line() -> None:
    assert for_reply("Überweisung\r\n250 OK\x00\u202e.pdf") == "Uberweisung 250 OK??.pdf"
    assert for_reply("x" * 100, 10) == "xxxxxxx..."
    assert in_angles("<a\nb@c>") == "<a b@c>"
    assert in_angles("a@b") == "<a@b>"


def test_header_text_keeps_every_script_and_loses_every_break() -> None:
    assert one_line("Rechnung\r\nBcc: evil@example.org\u2028über\u0085\u202ex") == (
        "Rechnung Bcc: evil@example.org über x"
    )
    assert one_line("a" * 300, 20) == "a" * 17 + "..."
    assert one_line(None) == ""
