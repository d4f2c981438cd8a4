"""What mail2fax relies on inside aiosmtpd (and asyncio's stream reader), pinned.

mail2fax.smtp.protocol overrides and calls parts of aiosmtpd that are not its documented API.
pyproject.toml bounds aiosmtpd's version; if a release within the bound (or a new bound) changes
one of these behaviours, a test here fails and names it, instead of the gateway changing quietly.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator
from importlib.metadata import version
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from mail2fax.smtp.admission import SessionLimits
from mail2fax.smtp.envelope import FaxEnvelope
from mail2fax.smtp.listener import Listener
from mail2fax.smtp.protocol import AUTH_LINE, DATA_LINE, GatewaySMTP
from tests.raw_smtp import RawSMTP

pytestmark = pytest.mark.timeout(20)

ENCODED_CR = '"=?utf-8?q?a=0Db?="@example.com'


class Hooks:
    """The smallest intake: takes everything, remembers the envelopes it saw."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: FaxEnvelope, address: str, options: list[str]
    ) -> str:
        envelope.mail_from = address
        self.envelopes.append(envelope)
        return "250 2.1.0 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: FaxEnvelope, address: str, options: list[str]
    ) -> str:
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def before_data(self, session: Session, envelope: FaxEnvelope) -> str | None:
        return None

    async def handle_DATA(self, server: SMTP, session: Session, envelope: FaxEnvelope) -> str:
        return f"250 2.0.0 {len(envelope.original_content or b'')} bytes"

    async def handle_exception(self, error: Exception) -> str:
        return f"451 4.3.0 {type(error).__name__}"


@pytest.fixture
async def served() -> AsyncIterator[tuple[Listener, Hooks, int]]:
    hooks = Hooks()

    def make_session(listener: Listener) -> GatewaySMTP:
        return GatewaySMTP(listener, hooks, hostname="contract.test", timeout=0.5, transaction_timeout=60)

    listener = Listener(make_session, SessionLimits(total=10, per_client=10))
    port = await listener.listen("127.0.0.1", 0)
    try:
        yield listener, hooks, port
    finally:
        await listener.drain(1)


def test_the_version_is_within_the_bound_of_pyproject() -> None:
    major, minor, *_ = (int(part) for part in version("aiosmtpd").split(".")[:3])
    assert (major, minor) == (1, 4)


@pytest.mark.parametrize(
    ("name", "parameters"),
    [
        ("_getaddr", ["self", "arg"]),
        ("_reset_timeout", ["self", "duration"]),
        ("_timeout_cb", ["self"]),
        ("_create_envelope", ["self"]),
        ("_set_post_data_state", ["self"]),
        ("_call_handler_hook", ["self", "command", "args"]),
        ("smtp_MAIL", ["self", "arg"]),
        ("smtp_RCPT", ["self", "arg"]),
        ("smtp_DATA", ["self", "arg"]),
        ("smtp_VRFY", ["self", "arg"]),
        ("challenge_auth", ["self", "challenge", "encode_to_b64", "log_client_response"]),
    ],
)
def test_the_methods_mail2fax_overrides_or_calls_keep_their_signatures(
    name: str, parameters: list[str]
) -> None:
    assert list(inspect.signature(getattr(SMTP, name)).parameters) == parameters


async def test_aiosmtpds_own_address_parser_decodes_what_mail2fax_must_refuse() -> None:
    """Why _getaddr is replaced: aiosmtpd turns an encoded word into a line break, and drops a
    parenthesised part of a fax number as a comment."""
    plain = SMTP(Hooks(), loop=asyncio.get_running_loop())
    decoded, _ = plain._getaddr(f"<{ENCODED_CR}>")
    assert decoded is not None and "\r" in decoded
    number, _ = plain._getaddr("<(415)555-1212@fax.local>")
    assert number == "555-1212@fax.local"


async def test_the_stream_reader_keeps_its_limit_where_mail2fax_changes_it() -> None:
    reader = asyncio.StreamReader(limit=123)
    assert reader._limit == 123  # type: ignore[attr-defined]


async def test_mail_and_rcpt_hand_the_address_over_as_sent(served: tuple[Listener, Hooks, int]) -> None:
    """smtp_MAIL and smtp_RCPT call _getaddr with the text after the colon, and let its exception out."""
    _, hooks, port = served
    client = await RawSMTP.connect(port)
    await client.ehlo()
    refused = await client.command(f"MAIL FROM:<{ENCODED_CR}> SIZE=10")
    assert (refused.code, refused.text.split(" ", 1)[0]) == (553, "5.1.7")
    assert (await client.command("MAIL FROM: <a@example.com> SIZE=10")).code == 250
    assert (await client.command("RCPT TO:<(415)555-1212@fax.local>")).code == 250
    assert [envelope.mail_from for envelope in hooks.envelopes] == ["a@example.com"]
    assert isinstance(hooks.envelopes[0], FaxEnvelope)
    assert hooks.envelopes[0].rcpt_tos == ["(415)555-1212@fax.local"]
    await client.close()


async def test_command_lines_are_read_with_the_command_limit_and_data_with_the_data_limit(
    served: tuple[Listener, Hooks, int],
) -> None:
    listener, _, port = served
    client = await RawSMTP.connect(port)
    [session] = listener.sessions
    reader: Any = session._reader
    assert reader._limit == AUTH_LINE + 2  # aiosmtpd made its reader with line_length_limit
    await client.ehlo()
    too_long = await client.command(b"NOOP " + b"x" * (4 * AUTH_LINE))
    assert too_long.code == 500  # read past and refused by aiosmtpd, reworded by mail2fax
    assert too_long.text.startswith("5.5.2")
    assert (await client.command("MAIL FROM:<a@example.com>")).code == 250
    assert (await client.command("RCPT TO:<1@fax.local>")).code == 250
    assert (await client.command("DATA")).code == 354
    await client.send(b"Subject: x\r\n\r\n" + b"y" * (2 * AUTH_LINE) + b"\r\n.\r\n")
    reply = await client.reply()
    assert reply.code == 250, reply
    assert reader._limit == AUTH_LINE + 2  # back to the command limit after DATA
    assert DATA_LINE > AUTH_LINE
    await client.close()


async def test_aiosmtpd_resets_the_idle_timer_through_reset_timeout(
    served: tuple[Listener, Hooks, int],
) -> None:
    """The timer is aiosmtpd's: started in connection_made, reset per command via _reset_timeout,
    fired through _timeout_cb, which mail2fax makes answer 421 first."""
    _, _, port = served
    client = await RawSMTP.connect(port)
    goodbye = await client.reply()
    assert goodbye.code == 421
    assert await client.at_eof()
    await client.close()
