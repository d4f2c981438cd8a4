"""What a client can hold before and after logging in: line lengths, sessions, time.

Each test here failed on the tree before these limits existed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

import pytest

from mail2fax.smtp.passwords import MIN_N, hash_password
from tests.capture import CaptureRelay
from tests.conftest import running, settings_for
from tests.daemon_process import DaemonProcess, environment
from tests.mailbuilder import mail
from tests.raw_smtp import RawSMTP, b64, dot_stuffed
from tests.samples.other import pdf_bytes

pytestmark = pytest.mark.timeout(60)

TO = "14155551212@fax.local"
NOT_LOOPBACK = ["192.0.2.0/24"]  # trust someone else, so that the tests' own client is a stranger


def fax() -> bytes:
    raw = bytes(mail(to=TO, attachments=[("a.pdf", pdf_bytes(), "application/pdf")]))
    return dot_stuffed(raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")) + b".\r\n"


async def test_a_command_line_over_rfc_5321s_limit_is_refused_and_the_session_goes_on(
    tmp_path: Path, relay: CaptureRelay
) -> None:
    async with running(settings_for(tmp_path, relay)) as daemon:
        assert daemon.smtp_port
        client = await RawSMTP.connect(daemon.smtp_port)
        await client.ehlo()
        long_mail = await client.command("MAIL FROM:<" + "a" * 600 + "@example.com>")
        assert (long_mail.code, long_mail.text) == (
            500,
            "5.5.2 Command line too long: 512 characters at most (12288 for AUTH)",
        )
        huge = await client.command(b"NOOP " + b"x" * (1024 * 1024))
        assert huge.code == 500
        assert huge.text.startswith("5.5.2 Command line too long")
        assert (await client.command("MAIL FROM:<alice@example.com>")).code == 250
        await client.close()


async def test_auth_takes_the_longer_line_rfc_4954_asks_for(tmp_path: Path, relay: CaptureRelay) -> None:
    settings = settings_for(
        tmp_path,
        relay,
        smtp={"allow_plain_auth_from_trusted": True},
        auth={"users": {"u": hash_password("pw", n=MIN_N)}},
    )
    async with running(settings) as daemon:
        assert daemon.smtp_port
        client = await RawSMTP.connect(daemon.smtp_port)
        await client.ehlo()
        # A long initial response is read and judged (it does not split into three parts), not cut off.
        reply = await client.command("AUTH PLAIN " + b64("x" * 8000))
        assert (reply.code, reply.text) == (501, "5.5.2 Cannot split the PLAIN response")
        await client.close()


async def test_sessions_beyond_the_limit_are_answered_421_and_logged_once(
    tmp_path: Path, relay: CaptureRelay, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="mail2fax")
    settings = settings_for(tmp_path, relay, smtp={"max_sessions": 3})
    async with running(settings) as daemon:
        assert daemon.smtp_port
        held = [await RawSMTP.connect(daemon.smtp_port) for _ in range(3)]
        assert all(client.greeting is not None and client.greeting.code == 220 for client in held)
        for _ in range(5):
            refused = await RawSMTP.connect(daemon.smtp_port)
            assert refused.greeting is not None
            assert (refused.greeting.code, refused.greeting.text) == (
                421,
                "4.7.0 Too many connections to the fax gateway, please try again later",
            )
            assert await refused.at_eof()
            await refused.close()
        await held[0].command("QUIT")
        await held[0].close()
        admitted = await connect_when_admitted(daemon.smtp_port)
        assert (await admitted.command("NOOP")).code == 250
        for client in (admitted, *held[1:]):
            await client.close()
    refusals = [r for r in caplog.records if r.getMessage() == "smtp connections refused with 421"]
    assert len(refusals) == 1
    assert refusals[0].__dict__["setting"] == "MAIL2FAX_SMTP__MAX_SESSIONS"


async def test_one_stranger_cannot_take_every_session(tmp_path: Path, relay: CaptureRelay) -> None:
    settings = settings_for(
        tmp_path, relay, trusted_networks=NOT_LOOPBACK, smtp={"max_sessions_per_client": 2}
    )
    async with running(settings) as daemon:
        assert daemon.smtp_port
        held = [await RawSMTP.connect(daemon.smtp_port) for _ in range(2)]
        refused = await RawSMTP.connect(daemon.smtp_port)
        assert refused.greeting is not None
        assert (refused.greeting.code, refused.greeting.text) == (
            421,
            "4.7.0 Too many connections from your address, please try again later",
        )
        for client in (refused, *held):
            await client.close()


async def test_trusted_clients_have_no_per_client_limit(tmp_path: Path, relay: CaptureRelay) -> None:
    settings = settings_for(tmp_path, relay, smtp={"max_sessions_per_client": 2})
    async with running(settings) as daemon:
        assert daemon.smtp_port
        clients = [await RawSMTP.connect(daemon.smtp_port) for _ in range(4)]
        assert all(client.greeting is not None and client.greeting.code == 220 for client in clients)
        for client in clients:
            await client.close()


async def test_a_silent_session_is_told_421_before_it_is_closed(tmp_path: Path, relay: CaptureRelay) -> None:
    async with running(settings_for(tmp_path, relay, smtp={"timeout": 0.3})) as daemon:
        assert daemon.smtp_port
        client = await RawSMTP.connect(daemon.smtp_port)
        goodbye = await client.reply()
        assert (goodbye.code, goodbye.text) == (
            421,
            "4.4.2 mail2fax.test Idle for too long, closing the connection",
        )
        assert await client.at_eof()
        await client.close()


async def test_a_slow_upload_is_never_cut_off_while_it_moves(tmp_path: Path, relay: CaptureRelay) -> None:
    """Each piece arrives within the idle timeout; together they take four times as long."""
    async with running(settings_for(tmp_path, relay, smtp={"timeout": 0.5})) as daemon:
        assert daemon.smtp_port
        client = await RawSMTP.connect(daemon.smtp_port)
        await client.ehlo()
        assert (await client.command("MAIL FROM:<alice@example.com>")).code == 250
        assert (await client.command(f"RCPT TO:<{TO}>")).code == 250
        assert (await client.command("DATA")).code == 354
        data = fax()
        pieces = [data[i : i + len(data) // 10 + 1] for i in range(0, len(data), len(data) // 10 + 1)]
        for piece in pieces:
            await client.send(piece)
            await asyncio.sleep(0.2)  # the slow uplink itself
        reply = await client.reply()
        assert reply.code == 250, reply
        await client.close()


async def test_a_mail_that_takes_too_long_is_answered_421(tmp_path: Path, relay: CaptureRelay) -> None:
    settings = settings_for(tmp_path, relay, smtp={"timeout": 5, "transaction_timeout": 0.5})
    async with running(settings) as daemon:
        assert daemon.smtp_port
        client = await RawSMTP.connect(daemon.smtp_port)
        await client.ehlo()
        assert (await client.command("MAIL FROM:<alice@example.com>")).code == 250
        assert (await client.command(f"RCPT TO:<{TO}>")).code == 250
        assert (await client.command("DATA")).code == 354
        reply = None
        while reply is None:  # keep the upload moving, slowly, until the limit ends it
            await client.send(b"X-Filler: still coming\r\n")
            try:
                reply = await asyncio.wait_for(client.reply(), timeout=0.1)
            except TimeoutError:
                continue
        assert (reply.code, reply.text) == (
            421,
            "4.4.2 mail2fax.test This mail has taken longer than 0.5 seconds, closing the connection",
        )
        assert await client.at_eof()
        await client.close()
        assert daemon.store is not None
        assert await daemon.store.list_jobs() == []


@pytest.mark.parametrize("network", ["0.0.0.0/0", "::/0", "::ffff:0:0/96", "0.0.0.0/1", "2000::/3"])
async def test_trusting_the_whole_internet_is_a_loud_warning_at_start(
    tmp_path: Path, relay: CaptureRelay, caplog: pytest.LogCaptureFixture, network: str
) -> None:
    async with running(settings_for(tmp_path, relay, trusted_networks=[network, "127.0.0.1/32"])):
        pass
    warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    relay_warnings = [text for text in warned if "OPEN FAX RELAY" in text]
    assert len(relay_warnings) == 1
    assert relay_warnings[0].startswith(f"MAIL2FAX_TRUSTED_NETWORKS includes {network}, a good part")


async def test_trusting_private_networks_is_no_warning(
    tmp_path: Path, relay: CaptureRelay, caplog: pytest.LogCaptureFixture
) -> None:
    networks = ["10.0.0.0/8", "192.168.0.0/16", "fd00::/8", "127.0.0.0/8"]
    async with running(settings_for(tmp_path, relay, trusted_networks=networks)):
        pass
    assert not [r for r in caplog.records if "OPEN FAX RELAY" in r.getMessage()]


async def connect_when_admitted(port: int) -> RawSMTP:
    """Connect until a freed session slot is taken (the daemon notices a closed session at once)."""
    async with asyncio.timeout(10):
        while True:
            client = await RawSMTP.connect(port)
            assert client.greeting is not None
            if client.greeting.code == 220:
                return client
            await client.close()


async def test_failed_accepts_are_one_log_line_and_the_daemon_serves_again(
    tmp_path: Path, relay: CaptureRelay
) -> None:
    """With too few file descriptors for the connections, accept() fails; asyncio reports each
    failure with a traceback, mail2fax once a minute."""
    env = environment(tmp_path / "data", relay.port, MAIL2FAX_SMTP__PROCESSES="1")
    daemon = DaemonProcess(env, tmp_path, open_files=48)
    port = await daemon.start()
    held: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    try:
        with contextlib.suppress(OSError):  # the client runs out of nothing: the daemon does
            for _ in range(80):
                held.append(await asyncio.open_connection("127.0.0.1", port))
        await daemon.wait_for_line("smtp cannot accept connections")
        for _, writer in held:
            writer.close()
        held.clear()
        client = await connect_when_admitted(port)
        assert (await client.command("NOOP")).code == 250
        await client.close()
    finally:
        for _, writer in held:
            writer.close()
        assert await daemon.terminate() == 0
    log = daemon.log_text()
    assert log.count("smtp cannot accept connections") == 1
    assert "Traceback" not in log
    assert "socket.accept() out of system resource" not in log
