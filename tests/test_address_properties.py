"""Any envelope address a stranger can write: refused at MAIL or RCPT with a 5xx, or a status mail
to exactly that one address. Nothing raises.

Over 100,000 generated senders and recipients (RFC 2047 words, quoted local parts, control and
separator characters, Unicode, address literals, source routes) go through the real MAIL and RCPT
handling: aiosmtpd's commands with mail2fax's address reading, the intake hooks and the policy
gate, on a session connected through a socket pair and driven in-process, command by command
(a socket per address would be too slow). Each sender that gets ``250`` then has its status mail
composed and serialised. tests/test_address_classes.py sends one address of each class through
a real socket to the running daemon.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from mail2fax.app import intake_rules, smtp_listener
from mail2fax.mail.status_mail import compose, status_recipient
from mail2fax.models import FaxOptions, Job, JobState, Recipient
from mail2fax.queue.sqlite import SqliteStore
from mail2fax.rendering.pool import Renderer
from mail2fax.smtp.gate import build_gate
from mail2fax.smtp.listener import Doorman
from mail2fax.smtp.protocol import GatewaySMTP
from mail2fax.stages.doorbell import Doorbell
from mail2fax.stages.intake import IntakeHandler
from tests.capture import CaptureRelay
from tests.conftest import settings_for

pytestmark = pytest.mark.timeout(600)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
SIDE = 20  # local parts and domains drawn per example: 400 addresses
EXAMPLES = 250  # senders and recipients in turn: 100,000 addresses in all

ATEXT = "abcxyzABCXYZ0189!#$%&'*+-/=?^_`{|}~"
SPECIALS = '()<>[]:;@\\,."'
CONTROLS = "".join(map(chr, range(32))) + "\x7f"
UNICODE = "äßé中文\u00a0\u0085\u2028\u2029\u202e\u200b１２\U0001f600\udc80"
ANYTHING = ATEXT + SPECIALS + CONTROLS + UNICODE + " "


@dataclass(frozen=True)
class Address:
    """A generated MAIL/RCPT argument and the mailbox it names when it is valid."""

    argument: str
    local: str
    domain: str


def _text(alphabet: str, max_size: int = 12) -> st.SearchStrategy[str]:
    return st.text(alphabet=alphabet, min_size=1, max_size=max_size)


atoms = _text(ATEXT, 10)
dot_atoms = st.lists(atoms, min_size=1, max_size=3).map(".".join)
quoted = st.lists(
    st.one_of(_text(ATEXT + " @<>[]:,;()." + CONTROLS + UNICODE, 3), st.sampled_from(['\\"', "\\\\", "\\a"])),
    min_size=1,
    max_size=4,
).map(lambda parts: '"' + "".join(parts) + '"')
encoded_words = st.builds(
    lambda charset, kind, text: f"=?{charset}?{kind}?{text}?=",
    st.sampled_from(["utf-8", "UTF-8", "iso-8859-1"]),
    st.sampled_from(["q", "Q", "b", "B"]),
    st.sampled_from(["a=0Db", "a=0D=0Ab", "evil.com=2C_x=40evil.org", "QUJD", "x=2Cy", "=00", "_"]),
)
numbers = st.builds(
    lambda prefix, area, rest: f"{prefix}{area}{rest}",
    st.sampled_from(["", "+1", "1-", "+1 ", "00"]),
    st.sampled_from(["(415)", "415", "415-", "(212) ", "9"]),
    st.sampled_from(["555-1212", "5551212", "555.1212", "55512", "555-1212x"]),
)
local_parts = st.one_of(
    dot_atoms,
    quoted,
    encoded_words,
    numbers,
    st.builds(lambda a, b: a + b, encoded_words, dot_atoms),
    _text(ANYTHING, 12),
)
hosts = st.lists(
    st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True), min_size=1, max_size=3
).map(".".join)
domains = st.one_of(
    hosts,
    st.sampled_from(["fax.local", "example.com", "FAX.LOCAL"]),
    encoded_words,
    st.sampled_from(["[192.0.2.1]", "[IPv6:2001:db8::1]", "[IPv6:::1]", "[300.1.1.1]", "[tag:x]", "[]"]),
    st.builds(lambda h: h + ".", hosts),
    _text(ANYTHING, 12),
)
routes = st.one_of(
    st.just(""),
    st.builds(lambda a, b: f"@{a},@{b}:", hosts, hosts),
    st.builds(lambda text: f"@{text}:", _text("@,." + ATEXT + CONTROLS, 6)),  # well or badly formed
)
tails = st.sampled_from(["", " SIZE=1000", " BODY=8BITMIME", " SIZE=", " X=Y Z", "junk", " \x00"])


@st.composite
def address_batches(draw: Any) -> list[Address]:
    """Every local part with every domain: few draws, many addresses, each with a route, a shape
    and parameters taken in turn."""
    locals_ = draw(st.lists(local_parts, min_size=SIDE, max_size=SIDE))
    domains_ = draw(st.lists(domains, min_size=SIDE, max_size=SIDE))
    routes_ = draw(st.lists(routes, min_size=3, max_size=3))
    tails_ = draw(st.lists(tails, min_size=3, max_size=3))
    shapes = draw(st.permutations(["<{}>", "<{}>", "{}", "<{}", "{}>"]))
    batch = []
    for index, (local, domain) in enumerate(itertools.product(locals_, domains_)):
        route, tail, shape = routes_[index % 3], tails_[index % 3 - 1], shapes[index % 5]
        batch.append(address(shape, route, local, domain, tail))
    return batch


def address(shape: str, route: str, local: str, domain: str, tail: str) -> Address:
    """The argument ``shape`` makes of a path and parameters, and the mailbox it names."""
    if not shape.endswith(">") and tail and not tail.startswith(" "):
        tail = " " + tail  # without its bracket, the address would run on into the tail
    argument = shape.format(route + local + "@" + domain) + tail
    if not shape.startswith("<") and not route:
        # Without a bracket, spaces after the colon only separate, as in "MAIL FROM: a@b".
        local = local.lstrip(" ")
    return Address(argument, local, domain)


class Harness:
    """One GatewaySMTP session, made by the daemon's listener for a loopback TCP connection, fed
    commands without the line reader; its replies are read from the client's end."""

    def __init__(self, session: GatewaySMTP, client: socket.socket):
        self.session = session
        self.client = client
        self.buffer = b""

    async def reply(self) -> tuple[int, str]:
        loop = asyncio.get_running_loop()
        lines: list[bytes] = []
        while True:
            while b"\r\n" not in self.buffer:
                self.buffer += await loop.sock_recv(self.client, 1 << 16)
            line, self.buffer = self.buffer.split(b"\r\n", 1)
            lines.append(line)
            if line[3:4] != b"-":
                return int(line[:3]), b"\n".join(part[4:] for part in lines).decode("ascii")

    async def command(self, verb: str, arg: str | None) -> tuple[int, str]:
        await self.send(verb, arg)
        return await self.reply()

    async def send(self, verb: str, arg: str | None) -> None:
        """Run one command; its reply waits in the socket until read (a batch's replies fit)."""
        await getattr(self.session, f"smtp_{verb}")(arg)

    @property
    def envelope(self) -> Any:
        return self.session.envelope


Connect = Callable[[], AbstractAsyncContextManager[Harness]]


@pytest.fixture
async def connect(tmp_path: Path) -> AsyncIterator[Connect]:
    """A new session for each example: the daemon's listener, intake hooks and gate, a real store."""
    async with CaptureRelay() as relay:
        config = settings_for(tmp_path, relay)
    store = await SqliteStore.open(config.database_path, config.spool_dir)
    handler = IntakeHandler(
        store,
        intake_rules(config),
        gate=build_gate(config, store, lambda: NOW),
        submit_bell=Doorbell(),
        clock=lambda: NOW,
        renderer=Renderer(),
    )
    listener = smtp_listener(config, handler, None)

    @asynccontextmanager
    async def session() -> AsyncIterator[Harness]:
        with socket.create_server(("127.0.0.1", 0)) as server:
            client = socket.create_connection(server.getsockname())
            accepted, _ = server.accept()
        client.setblocking(False)
        loop = asyncio.get_running_loop()
        before = set(listener.sessions)
        transport, _ = await loop.connect_accepted_socket(lambda: Doorman(listener, None), accepted)
        try:
            [made] = listener.sessions - before
            harness = Harness(made, client)
            assert (await harness.reply())[0] == 220
            assert (await harness.command("EHLO", "client.test"))[0] == 250
            yield harness
        finally:
            transport.close()
            client.close()

    try:
        yield session
    finally:
        await store.close()


def job_for(sender: str) -> Job:
    return Job(
        id="9f2c41d07a3b",
        sender=sender,
        recipients=(Recipient("+14155551212"),),
        cover_text="",
        options=FaxOptions(),
        state=JobState.FAILED,
        attempts=1,
        created_at=NOW,
        updated_at=NOW,
        next_attempt_at=None,
        expires_at=NOW,
        subject="=?utf-8?q?x=0D=0AX:_y?=",
        last_error="Bad\r\nBcc: x@evil.example",
    )


def bare(local: str) -> str:
    if len(local) >= 2 and local[0] == local[-1] == '"':
        out, escaped = [], False
        for char in local[1:-1]:
            if escaped or char != "\\":
                out.append(char)
                escaped = False
            else:
                escaped = True
        return "".join(out)
    return local


def check_status_mail(address: Address, sender: str) -> None:
    """A sender that got 250 is exactly the mailbox written, and its status mail goes there only."""
    assert sender == f"{address.local}@{address.domain}", (address, sender)
    mailbox = status_recipient(sender)
    assert mailbox is not None, sender
    assert str(mailbox) == sender
    message = compose(job_for(sender), from_address="mail2fax@gateway.test", now=NOW, to=mailbox)
    raw = bytes(message)
    [to] = message["To"].addresses
    assert (to.username, to.domain) == (bare(address.local), address.domain), (address, to)
    assert raw.count(b"\nTo: ") == 1
    assert b"\nBcc:" not in raw and b"\nX:" not in raw


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    database=None,
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
)
@given(batch=address_batches(), as_recipients=st.booleans())
@example(batch=[address("{}", "", " 0", "0", "")], as_recipients=False)
async def test_every_address_is_refused_or_reaches_exactly_that_mailbox(
    connect: Connect, batch: list[Address], as_recipients: bool
) -> None:
    async with connect() as harness:
        expected: list[tuple[Address, bool]] = []  # each command's address, and whether it was taken
        for address in batch:
            if as_recipients:
                expected += await try_recipient(harness, address)
            else:
                expected += await try_sender(harness, address)
        replies = [await harness.reply() for _ in expected]
    for (address, taken), (code, text) in zip(expected, replies, strict=True):
        if taken:
            assert code == 250, (address, code, text)
        else:
            assert 500 <= code < 600, (address, code, text)
            assert text.isascii() and text.isprintable(), text


async def try_sender(harness: Harness, address: Address) -> list[tuple[Address, bool]]:
    await harness.send("MAIL", "FROM:" + address.argument)
    sender = harness.envelope.mail_from
    if sender is None:
        return [(address, False)]
    if sender != "<>":
        check_status_mail(address, sender)
    await harness.send("RSET", None)
    return [(address, True), (address, True)]


async def try_recipient(harness: Harness, address: Address) -> list[tuple[Address, bool]]:
    await harness.send("MAIL", "FROM:<alice@example.com>")
    await harness.send("RCPT", "TO:" + address.argument)
    taken = bool(harness.envelope.rcpt_tos)
    if taken:
        assert harness.envelope.rcpt_tos == [f"{address.local}@{address.domain}"]
        assert address.domain.lower() == "fax.local"
        [recipient] = harness.envelope.fax_recipients
        assert recipient.number.startswith("+") and recipient.number[1:].isdigit()
    await harness.send("RSET", None)
    return [(address, True), (address, taken), (address, True)]
