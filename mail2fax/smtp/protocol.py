"""The SMTP protocol of one session: aiosmtpd's, with mail2fax's AUTH and DATA reading."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, AnyStr

from aiosmtpd.smtp import MISSING, TLSSetupException

from mail2fax.smtp.auth import AuthSMTP
from mail2fax.smtp.data_reader import AIOSMTPD_LINE_TOO_LONG, DataReader
from mail2fax.smtp.tls import log_failed_handshake

if TYPE_CHECKING:
    from mail2fax.smtp.listener import Listener

log = logging.getLogger("mail2fax.listener")

SHUTTING_DOWN = b"421 4.3.2 Fax gateway shutting down, please try again later\r\n"
MiB = 1024 * 1024
LINE_TOO_LONG = "554 5.6.0 The mail has a line longer than 1 MiB; mail lines are limited to 1000 characters"


class GatewaySMTP(AuthSMTP):
    """aiosmtpd's protocol with mail2fax's AUTH, registered with the listener for shutdown."""

    # RFC 5321 allows 1000 characters a line, but mail software writes longer ones (HTML, unwrapped
    # base64): take lines up to 1 MiB, and answer a longer one with a clear 5xx, not aiosmtpd's 500.
    line_length_limit = MiB

    async def push(self, status: AnyStr) -> None:
        if status == AIOSMTPD_LINE_TOO_LONG:
            await super().push(LINE_TOO_LONG)
            return
        await super().push(status)

    async def handle_exception(self, error: Exception) -> str:
        if isinstance(error, TLSSetupException):
            # aiosmtpd closes the connection after a failed STARTTLS; the reply is never sent.
            log_failed_handshake(
                self.session.peer if self.session else None, error.__cause__, listener="starttls"
            )
            return "421 4.7.0 TLS handshake failed"
        status: str = await super().handle_exception(error)
        return status

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
        received = DataReader(self.data_size_limit, self.line_length_limit)
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
        if self.session is None:  # a failed implicit-TLS handshake: the session never began
            return
        super().connection_lost(error)

    @property
    def in_transaction(self) -> bool:
        return self.envelope is not None and self.envelope.mail_from is not None

    def close_now(self) -> None:
        transport = self.transport
        if isinstance(transport, asyncio.WriteTransport):
            transport.write(SHUTTING_DOWN)
            transport.close()
