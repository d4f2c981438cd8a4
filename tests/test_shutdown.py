"""Graceful shutdown of the real process: open transactions finish, new sessions get 421."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from tests.capture import CaptureRelay
from tests.daemon_process import DaemonProcess, environment
from tests.mailbuilder import mail
from tests.samples.other import pdf_bytes


async def command(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, line: str) -> str:
    writer.write(line.encode() + b"\r\n")
    await writer.drain()
    return await read_reply(reader)


async def read_reply(reader: asyncio.StreamReader) -> str:
    while True:
        line = (await reader.readline()).decode()
        if line[3:4] != "-":
            return line.rstrip()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_open_transaction_finishes_and_new_sessions_are_refused(
    tmp_path: Path, relay: CaptureRelay, sig: int
) -> None:
    daemon = DaemonProcess(environment(tmp_path / "data", relay.port), tmp_path)
    port = await daemon.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert (await read_reply(reader)).startswith("220")
        assert (await command(reader, writer, "EHLO client.test")).startswith("250")
        assert (await command(reader, writer, "MAIL FROM:<alice@example.com>")).startswith("250")
        assert (await command(reader, writer, "RCPT TO:<14155551212@fax.local>")).startswith("250")
        assert (await command(reader, writer, "DATA")).startswith("354")
        raw = bytes(mail(attachments=[("a.pdf", pdf_bytes(), "application/pdf")])).replace(b"\n", b"\r\n")
        half = len(raw) // 2
        writer.write(raw[:half])
        await writer.drain()

        daemon.process.send_signal(sig)
        await daemon.wait_for_line("shutting down")
        late_reader, late_writer = await asyncio.open_connection("127.0.0.1", port)
        assert (await read_reply(late_reader)).startswith("421")
        late_writer.close()

        writer.write(raw[half:] + b"\r\n.\r\n")
        await writer.drain()
        assert (await read_reply(reader)).startswith("250")
        writer.close()
        assert await daemon.wait(at_most=30) == 0
    finally:
        await daemon.kill()
    assert "mail2fax stopped" in daemon.log_text()

    again = DaemonProcess(environment(tmp_path / "data", relay.port), tmp_path)
    await again.start()
    try:
        [status] = await relay.wait_for(1)
        assert status.recipients == ["alice@example.com"]
    finally:
        await again.terminate()


async def test_idle_sessions_do_not_delay_shutdown(tmp_path: Path, relay: CaptureRelay) -> None:
    env = environment(tmp_path / "data", relay.port, MAIL2FAX_SHUTDOWN_TIMEOUT="20")
    daemon = DaemonProcess(env, tmp_path)
    port = await daemon.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert (await read_reply(reader)).startswith("220")
        assert (await command(reader, writer, "HELO client.test")).startswith("250")
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await daemon.terminate() == 0
        assert loop.time() - started < 10
        assert (await read_reply(reader)).startswith("421")
        writer.close()
    finally:
        await daemon.kill()
