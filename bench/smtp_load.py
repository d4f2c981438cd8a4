"""The load generator: plain SMTP over asyncio streams, timing each mail from end of DATA to the reply."""

from __future__ import annotations

import asyncio
import contextlib
import time

from bench.mails import RECIPIENT, SENDER

CHUNK = 256 * 1024


class SMTPFailure(Exception):
    pass


class Session:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self._reader = reader
        self._writer = writer

    @classmethod
    async def open(cls, port: int, host: str = "127.0.0.1") -> Session:
        reader, writer = await asyncio.open_connection(host, port)
        session = cls(reader, writer)
        await session._expect(220)
        await session.command(b"EHLO client.bench.test", 250)
        return session

    async def _reply(self) -> tuple[int, bytes]:
        text = b""
        while True:
            line = await self._reader.readline()
            if not line:
                raise SMTPFailure("connection closed")
            text += line
            if line[3:4] != b"-":
                return int(line[:3]), text

    async def _expect(self, code: int) -> bytes:
        got, text = await self._reply()
        if got != code:
            raise SMTPFailure(text.decode(errors="replace").strip())
        return text

    async def command(self, line: bytes, code: int) -> bytes:
        self._writer.write(line + b"\r\n")
        return await self._expect(code)

    async def send(self, data: bytes, *, sender: str = SENDER, recipient: str = RECIPIENT) -> float:
        """Send one mail (``data`` as on the wire, lone dot included); seconds from its end to 250."""
        await self.command(f"MAIL FROM:<{sender}>".encode(), 250)
        await self.command(f"RCPT TO:<{recipient}>".encode(), 250)
        await self.command(b"DATA", 354)
        view = memoryview(data)
        for start in range(0, len(view), CHUNK):
            self._writer.write(view[start : start + CHUNK])
            await self._writer.drain()
        sent = time.perf_counter()
        await self._expect(250)
        return time.perf_counter() - sent

    async def close(self) -> None:
        try:
            self._writer.write(b"QUIT\r\n")
            await self._reply()
        except (SMTPFailure, ConnectionError):
            pass
        self._writer.close()
        with contextlib.suppress(ConnectionError):
            await self._writer.wait_closed()
