"""A soak: hostile sessions and good ones at once against ``mail2fax serve``; every good mail is
faxed and its sender told, and the daemon's memory stays bounded.

The hostile clients come from other loopback addresses than the trusted 127.0.0.1, so they are
strangers to the daemon: idle sockets up to the per-client session limit, mebibyte command
lines, senders with encoded words, and uploads that trickle until the whole-mail limit ends them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from tests.capture import CaptureRelay
from tests.daemon_process import DaemonProcess, environment
from tests.mailbuilder import mail
from tests.raw_smtp import RawSMTP, dot_stuffed
from tests.samples.other import pdf_bytes

pytestmark = pytest.mark.timeout(180)

MiB = 1024 * 1024
GOOD_MAILS = 30
PER_CLIENT = 10
STRANGERS = ("127.0.0.2", "127.0.0.3")  # each holds idle sockets up to its session limit
MEMORY_GROWTH = 64 * MiB


async def connect(port: int, source: str) -> RawSMTP:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0), limit=MiB)
    client = RawSMTP(reader, writer, timeout=30)
    client.greeting = await client.reply()
    return client


async def keep_going(stop: asyncio.Event, session: Callable[[], Awaitable[None]]) -> None:
    """Run one kind of hostile session again and again until the good mails are through."""
    while not stop.is_set():
        with contextlib.suppress(ConnectionError, OSError, TimeoutError, asyncio.IncompleteReadError):
            await session()


def idle(port: int, source: str, stop: asyncio.Event) -> Callable[[], Awaitable[None]]:
    async def session() -> None:
        client = await connect(port, source)
        try:
            if client.greeting is not None and client.greeting.code == 421:
                await asyncio.wait_for(stop.wait(), 0.2)  # over the limit: come back soon
                return
            await client.at_eof()  # the idle timeout ends it, with a 421 first
        finally:
            await client.close()

    return session


def long_lines(port: int, source: str) -> Callable[[], Awaitable[None]]:
    async def session() -> None:
        client = await connect(port, source)
        try:
            for _ in range(3):
                reply = await client.command(b"HELO " + b"x" * MiB)
                assert reply.code == 500, reply
        finally:
            await client.close()

    return session


def encoded_words(port: int) -> Callable[[], Awaitable[None]]:
    async def session() -> None:
        client = await connect(port, "127.0.0.1")
        try:
            await client.ehlo()
            for sender in ('"=?utf-8?q?a=0Db?="@example.com', "v@=?utf-8?q?evil.com=2C_x=40example.com?="):
                reply = await client.command(f"MAIL FROM:<{sender}>")
                assert reply.code == 553, reply
        finally:
            await client.close()

    return session


def trickle(port: int) -> Callable[[], Awaitable[None]]:
    async def session() -> None:
        client = await connect(port, "127.0.0.1")
        try:
            await client.ehlo()
            assert (await client.command("MAIL FROM:<slow@example.com>")).code == 250
            assert (await client.command("RCPT TO:<14155551313@fax.local>")).code == 250
            assert (await client.command("DATA")).code == 354
            while True:  # never finishes: the whole-mail limit ends it
                await client.send(b"X-Slow: still here\r\n")
                with contextlib.suppress(TimeoutError):
                    reply = await asyncio.wait_for(client.reply(), 0.3)
                    assert reply.code == 421, reply
                    return
        finally:
            await client.close()

    return session


async def deliver_good(port: int, number: int) -> None:
    """One good mail from a trusted client, tried again after a 421 as mail servers do."""
    sender = f"good{number}@example.com"
    raw = bytes(
        mail(
            sender=sender, to="14155551212@fax.local", attachments=[("a.pdf", pdf_bytes(), "application/pdf")]
        )
    )
    data = dot_stuffed(raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")) + b".\r\n"
    async with asyncio.timeout(120):
        while True:
            client = await connect(port, "127.0.0.1")
            try:
                if client.greeting is None or client.greeting.code != 220:
                    await asyncio.sleep(0.1)  # a mail server's retry, much shortened
                    continue
                await client.ehlo()
                assert (await client.command(f"MAIL FROM:<{sender}>")).code == 250
                assert (await client.command("RCPT TO:<14155551212@fax.local>")).code == 250
                assert (await client.command("DATA")).code == 354
                await client.send(data)
                reply = await client.reply()
                assert reply.code == 250, reply
                return
            finally:
                await client.close()


async def test_good_mail_gets_through_a_siege_and_memory_stays_bounded(
    tmp_path: Path, relay: CaptureRelay
) -> None:
    env = environment(
        tmp_path / "data",
        relay.port,
        MAIL2FAX_SMTP__PROCESSES="1",
        MAIL2FAX_TRUSTED_NETWORKS='["127.0.0.1/32"]',
        MAIL2FAX_SMTP__MAX_SESSIONS="60",
        MAIL2FAX_SMTP__MAX_SESSIONS_PER_CLIENT=str(PER_CLIENT),
        MAIL2FAX_SMTP__TIMEOUT="1",
        MAIL2FAX_SMTP__TRANSACTION_TIMEOUT="3",
    )
    daemon = DaemonProcess(env, tmp_path)
    port = await daemon.start()
    baseline = daemon.peak_memory()
    stop = asyncio.Event()
    hostile = [
        *(keep_going(stop, idle(port, source, stop)) for source in STRANGERS for _ in range(PER_CLIENT + 2)),
        *(keep_going(stop, long_lines(port, "127.0.0.4")) for _ in range(4)),
        *(keep_going(stop, encoded_words(port)) for _ in range(2)),
        *(keep_going(stop, trickle(port)) for _ in range(2)),
    ]
    siege = [asyncio.create_task(attack) for attack in hostile]
    try:
        for first in range(0, GOOD_MAILS, 5):  # five good clients at a time, amid it all
            await asyncio.gather(*(deliver_good(port, n) for n in range(first, first + 5)))
        statuses = await relay.wait_for(GOOD_MAILS, timeout=60)
    finally:
        stop.set()
        await asyncio.gather(*siege, return_exceptions=True)
        peak = daemon.peak_memory()
        assert await daemon.terminate() == 0
    told = sorted(recipient for status in statuses for recipient in status.recipients)
    assert told == sorted(f"good{n}@example.com" for n in range(GOOD_MAILS))
    outbox = tmp_path / "data" / "outbox"
    assert len([job for job in outbox.iterdir() if job.is_dir()]) == GOOD_MAILS
    assert peak - baseline <= MEMORY_GROWTH, f"grew by {(peak - baseline) / MiB:.0f} MiB"
    log = daemon.log_text()
    assert "Traceback" not in log
    assert log.count("smtp connections refused with 421") <= 2
