"""A line-by-line SMTP client for the security tests, and trustme certificates for the listener.

It writes exactly the bytes a test gives it, so scanner quirks (lower-case commands, initial
responses, IP-literal HELO) and hostile clients can be reproduced, and it reads every reply.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ssl
import warnings
from dataclasses import dataclass
from pathlib import Path

import trustme

SERVER_NAME = "mail2fax.test"


@dataclass
class Reply:
    code: int
    lines: list[str]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def __str__(self) -> str:
        return f"{self.code} {self.text}"


class RawSMTP:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, timeout: float):
        self.reader = reader
        self.writer = writer
        self.timeout = timeout
        self.greeting: Reply | None = None

    @classmethod
    async def connect(cls, port: int, *, tls: ssl.SSLContext | None = None, timeout: float = 10.0) -> RawSMTP:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, ssl=tls, server_hostname=SERVER_NAME if tls else None, limit=2**20
            )
        client = cls(reader, writer, timeout)
        client.greeting = await client.reply()
        return client

    async def reply(self) -> Reply:
        lines: list[str] = []
        async with asyncio.timeout(self.timeout):
            while True:
                raw = await self.reader.readline()
                if not raw:
                    raise ConnectionError(f"the server closed the connection after {lines!r}")
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                lines.append(line[4:])
                if line[3:4] != "-":
                    return Reply(int(line[:3]), lines)

    async def send(self, data: str | bytes) -> None:
        raw = data.encode() if isinstance(data, str) else data
        self.writer.write(raw if raw.endswith(b"\n") else raw + b"\r\n")
        await self.writer.drain()

    async def command(self, line: str | bytes) -> Reply:
        await self.send(line)
        return await self.reply()

    async def starttls(self, context: ssl.SSLContext) -> Reply:
        reply = await self.command("STARTTLS")
        assert reply.code == 220, reply
        async with asyncio.timeout(self.timeout):
            await self.writer.start_tls(context, server_hostname=SERVER_NAME)
        return reply

    async def ehlo(self, name: str = "client.test") -> Reply:
        reply = await self.command(f"EHLO {name}")
        assert reply.code == 250, reply
        return reply

    async def auth_plain(self, user: str, password: str) -> Reply:
        response = b64("\0".join(("", user, password)))
        return await self.command(f"AUTH PLAIN {response}")

    async def data(self, raw: bytes, *, crlf: bool = True) -> Reply:
        """DATA with ``raw``: bare LFs become CRLF unless ``crlf`` is false; dot-stuffed, ended."""
        reply = await self.command("DATA")
        if reply.code != 354:
            return reply
        if crlf:
            raw = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        await self.send(dot_stuffed(raw) + b".\r\n")
        return await self.reply()

    async def at_eof(self) -> bool:
        """Whether the server has closed the connection (waits up to the timeout for it)."""
        try:
            async with asyncio.timeout(self.timeout):
                return await self.reader.read(1) == b""
        except (ConnectionError, ssl.SSLError):
            return True

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await self.writer.wait_closed()


def dot_stuffed(raw: bytes) -> bytes:
    """The message as it travels after DATA: a dot doubled at each line start, ending in CRLF."""
    if not raw:
        return b""
    lines = raw.split(b"\r\n")
    if lines[-1] == b"":
        lines.pop()
    return b"".join((b"." + line if line.startswith(b".") else line) + b"\r\n" for line in lines)


def b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


def advertised(ehlo: Reply) -> dict[str, str]:
    """EHLO keywords and their parameters: ``{"AUTH": "LOGIN PLAIN", "STARTTLS": ""}``."""
    keywords = {}
    for line in ehlo.lines[1:]:
        keyword, _, rest = line.partition(" ")
        keywords[keyword.upper()] = rest
    return keywords


@dataclass
class Certificates:
    """A CA of trustme's and a server certificate for ``mail2fax.test``, as files for the settings."""

    ca: trustme.CA
    cert: Path
    key: Path

    @classmethod
    def create(cls, directory: Path) -> Certificates:
        ca = trustme.CA()
        server = ca.issue_cert(SERVER_NAME, "127.0.0.1")
        cert, key = directory / "server.crt", directory / "server.key"
        server.private_key_and_cert_chain_pem.write_to_path(str(cert))
        server.private_key_pem.write_to_path(str(key))
        return cls(ca, cert, key)

    def client_context(
        self, *, maximum: ssl.TLSVersion | None = None, minimum: ssl.TLSVersion | None = None
    ) -> ssl.SSLContext:
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        with warnings.catch_warnings():
            # Python deprecates TLS 1.0 and 1.1; the tests play an old scanner on purpose.
            warnings.simplefilter("ignore", DeprecationWarning)
            if minimum is not None:
                context.minimum_version = minimum
            if maximum is not None:
                context.maximum_version = maximum
        if maximum in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
            context.set_ciphers("DEFAULT:@SECLEVEL=0")
        return context

    def smtp_settings(self, **extra: object) -> dict[str, object]:
        return {"tls_cert": self.cert, "tls_key": self.key, **extra}
