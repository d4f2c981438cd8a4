"""The SMTP listeners: aiosmtpd protocols served from the daemon's own event loop.

While the daemon drains for shutdown, new connections are answered ``421`` and closed, open
transactions are allowed to finish, and idle sessions are closed.
"""

from __future__ import annotations

import asyncio
import io
import logging
import ssl
import warnings
from collections.abc import Callable
from typing import Any, AnyStr

from aiosmtpd.smtp import MISSING, SMTP

from mail2fax.smtp_auth import AuthSMTP

log = logging.getLogger("mail2fax.listener")

SHUTTING_DOWN = b"421 4.3.2 Fax gateway shutting down, please try again later\r\n"
MiB = 1024 * 1024
_AIOSMTPD_LINE_TOO_LONG = "500 Line too long (see RFC5321 4.5.3.1.6)"
LINE_TOO_LONG = "554 5.6.0 The mail has a line longer than 1 MiB; mail lines are limited to 1000 characters"


class GatewaySMTP(AuthSMTP):
    """aiosmtpd's protocol with mail2fax's AUTH, registered with the listener for shutdown."""

    # RFC 5321 allows 1000 characters a line, but mail software writes longer ones (HTML, unwrapped
    # base64): take lines up to 1 MiB, and answer a longer one with a clear 5xx, not aiosmtpd's 500.
    line_length_limit = MiB

    async def push(self, status: AnyStr) -> None:
        if status == _AIOSMTPD_LINE_TOO_LONG:
            await super().push(LINE_TOO_LONG)
            return
        await super().push(status)

    async def smtp_DATA(self, arg: str) -> None:
        """aiosmtpd's DATA with the same checks and replies, reading the mail in large slices.

        aiosmtpd reads a mail line by line and keeps each line as an object until the end: a
        28 MB scan is 370,000 lines, about a second of the event loop that every other session
        waits for, and 50 MB on top of the mail. Here the mail is read up to each ``.\r\n`` or
        a mebibyte at a time, and the line and size limits are checked on the slices.
        """
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        received = _Received(self.data_size_limit, self.line_length_limit)
        while self.transport is not None:
            try:
                try:
                    piece = await self._reader.readuntil(b".\r\n")
                except asyncio.LimitOverrunError as exc:
                    piece = await self._reader.readexactly(exc.consumed)
            except (asyncio.CancelledError, asyncio.IncompleteReadError):
                log.info("Connection lost during DATA")
                self._writer.close()
                raise
            if received.add(piece):
                break
        else:
            return
        if received.problem is not None:
            await self.push(received.problem)
            self._set_post_data_state()  # type: ignore[no-untyped-call]
            return
        original_content = received.content()
        content: str | bytes = original_content
        if self._decode_data:
            if self.enable_SMTPUTF8:
                content = original_content.decode("utf-8", errors="surrogateescape")
            else:
                try:
                    content = original_content.decode("ascii", errors="strict")
                except UnicodeDecodeError:
                    await self.push("500 Error: strict ASCII mode")
                    return
        self.envelope.content = content
        self.envelope.original_content = original_content
        status = await self._call_handler_hook("DATA") if "DATA" in self._handle_hooks else MISSING
        self._set_post_data_state()  # type: ignore[no-untyped-call]
        await self.push("250 OK" if status is MISSING else status)

    def __init__(self, listener: Listener, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._listener = listener

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        first = self.transport is None
        super().connection_made(transport)
        if first:
            self._listener.sessions.add(self)

    def connection_lost(self, error: Exception | None) -> None:
        self._listener.sessions.discard(self)
        super().connection_lost(error)

    @property
    def in_transaction(self) -> bool:
        return self.envelope is not None and self.envelope.mail_from is not None

    def close_now(self) -> None:
        transport = self.transport
        if isinstance(transport, asyncio.WriteTransport):
            transport.write(SHUTTING_DOWN)
            transport.close()


class _Received:
    """The DATA of one mail as it arrives, checked as aiosmtpd checks it line by line.

    A line (its CR LF included) longer than ``line_limit`` makes it ``500 Line too long``, more
    than ``size_limit`` bytes ``552``; whichever line comes first decides, and on the same line
    the length wins only when the line without its CR LF is already too long (aiosmtpd's reader
    notices that before counting the line). After a problem the rest is read and dropped.
    """

    def __init__(self, size_limit: int | None, line_limit: int):
        self._size_limit = size_limit
        self._line_limit = line_limit
        self._content = io.BytesIO()  # grows in place: no second copy of a large mail at the end
        self._stuffed = False  # a line of it begins with a dot
        self._size = 0  # bytes so far
        self._line_start = 0  # where the line being read began
        self._tail = b""  # the last two bytes so far
        self._too_long: tuple[int, bool] | None = None  # (line start, too long without CR LF)
        self._too_much: int | None = None  # start of the line that went over the size limit
        self.problem: str | None = None

    def add(self, piece: bytes) -> bool:
        """Take a piece; True when it ended the mail (the lone dot line, left out)."""
        ended = piece.endswith(b".\r\n") and (self._tail + piece[:-3]).endswith(b"\r\n")
        ended = ended or (piece == b".\r\n" and self._size == 0)
        data = piece[:-3] if ended else piece
        self._stuffed = self._stuffed or b"\r\n." in data or b"\r\n." in self._tail + data[:2]
        self._stuffed = self._stuffed or (self._size == 0 and data.startswith(b"."))
        self._measure(data)
        if self._too_long is None and self._too_much is None:
            self._content.write(data)
        elif self._content.tell():
            self._content = io.BytesIO()  # never kept, like aiosmtpd
        if ended:
            self._decide()
        return ended

    def _measure(self, data: bytes) -> None:
        if not data:
            return
        at = self._size
        text = self._tail[-1:] + data if self._tail.endswith(b"\r") else data
        shift = len(text) - len(data)  # a CR from the last piece may begin a CR LF here
        self._size += len(data)
        self._tail = (self._tail + data)[-2:]
        if self._size_limit and self._too_much is None and self._size > self._size_limit:
            over = self._size_limit - at + shift  # the first byte over the limit, in text
            start = text.rfind(b"\r\n", 0, over)
            self._too_much = self._line_start if start < 0 else at - shift + start + 2
        first = text.find(b"\r\n")
        if first < 0:
            self._check_unfinished(self._size - self._line_start)
            return
        self._check_line(self._line_start, at - shift + first + 2 - self._line_start)
        last = text.rfind(b"\r\n")
        # A longer line than the limit inside this piece holds one of these probe positions.
        probe = first + 2 + self._line_limit
        while probe < last + 2:
            start = text.rfind(b"\r\n", 0, probe) + 2
            end = text.find(b"\r\n", probe - 1) + 2
            self._check_line(at - shift + start, end - start)
            probe = end + self._line_limit
        self._line_start = at - shift + last + 2
        self._check_unfinished(self._size - self._line_start)

    def _check_line(self, start: int, length: int) -> None:
        if length > self._line_limit and self._too_long is None:
            self._too_long = (start, length - 2 > self._line_limit)

    def _check_unfinished(self, length: int) -> None:
        without_cr = length - 1 if self._tail.endswith(b"\r") else length
        if without_cr > self._line_limit and self._too_long is None:
            self._too_long = (self._line_start, True)

    def _decide(self) -> None:
        long_line, much = self._too_long, self._too_much
        if long_line is None and much is None:
            return
        too_long = much is None or (
            long_line is not None and (long_line[0] < much or (long_line[0] == much and long_line[1]))
        )
        self.problem = _AIOSMTPD_LINE_TOO_LONG if too_long else "552 Error: Too much mail data"

    def content(self) -> bytes:
        """The mail as sent, the dot that starts a line removed (RFC 5321, section 4.5.2)."""
        content = self._content.getvalue()
        self._content = io.BytesIO()
        if not self._stuffed:
            return content
        if content.startswith(b"."):
            content = content[1:]
        return content.replace(b"\r\n.", b"\r\n")


class _Refuse(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(SHUTTING_DOWN)
        transport.close()


class Listener:
    """Serves one handler on one or more sockets and drains them on shutdown."""

    def __init__(self, make_session: Callable[[Listener], SMTP]):
        self._make_session = make_session
        self._servers: list[asyncio.Server] = []
        self.sessions: set[GatewaySMTP] = set()
        self.draining = False

    def _protocol(self) -> asyncio.BaseProtocol:
        if self.draining:
            return _Refuse()
        session: asyncio.BaseProtocol = self._make_session(self)
        return session

    async def listen(self, host: str, port: int, *, ssl_context: ssl.SSLContext | None = None) -> int:
        """Start listening; returns the bound port (useful with port 0)."""
        loop = asyncio.get_running_loop()
        server = await loop.create_server(self._protocol, host, port, ssl=ssl_context)
        self._servers.append(server)
        bound = int(server.sockets[0].getsockname()[1])
        log.info("smtp listening host=%s port=%d tls=%s", host, bound, "implicit" if ssl_context else "no")
        return bound

    async def drain(self, deadline: float) -> None:
        """Refuse new sessions, wait up to ``deadline`` seconds for open transactions, close the rest."""
        self.draining = True
        loop = asyncio.get_running_loop()
        end = loop.time() + deadline
        # aiosmtpd offers no event for "transaction finished"; a short, bounded poll at shutdown only.
        while any(session.in_transaction for session in self.sessions) and loop.time() < end:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        for session in list(self.sessions):
            session.close_now()
        for server in self._servers:
            server.close()
        for server in self._servers:
            await server.wait_closed()


def server_tls_context(cert: str, key: str, minimum: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    versions = {
        "1.0": ssl.TLSVersion.TLSv1,
        "1.1": ssl.TLSVersion.TLSv1_1,
        "1.2": ssl.TLSVersion.TLSv1_2,
        "1.3": ssl.TLSVersion.TLSv1_3,
    }
    if minimum in ("1.0", "1.1"):
        # Python deprecates these versions; the operator chose them for old scanners on purpose.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = versions[minimum]
        # OpenSSL's default security level refuses the SHA-1 signatures that TLS 1.0/1.1 need.
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    else:
        context.minimum_version = versions[minimum]
    return context
