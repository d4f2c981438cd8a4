"""The SMTP protocol of one session: aiosmtpd's, with mail2fax's AUTH, address reading, limits and DATA.

What it changes in aiosmtpd (tests/test_aiosmtpd_contract.py pins the parts of aiosmtpd it uses):

- ``MAIL`` and ``RCPT`` read the address from the command line as sent, by RFC 5321's grammar
  (:mod:`mail2fax.mail.mailbox`), instead of aiosmtpd's RFC 5322 parser, which decodes encoded
  words and drops comments. A bad address is answered ``553 5.1.7`` or ``553 5.1.3``.
- Command lines are read with RFC 5321's limits (512 characters, 12288 for ``AUTH``); only DATA
  is read in large slices, with lines up to 1 MiB.
- ``MAIL2FAX_SMTP__TIMEOUT`` counts silence: every piece that arrives resets it, also during
  DATA. A separate, longer limit bounds each mail (from connecting or the end of the previous
  mail to the end of DATA). Both are answered ``421`` before the connection is closed.
- The whole mail can be refused before ``354``, so a client over a quota does not upload it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import TYPE_CHECKING, Any, AnyStr, cast

from aiosmtpd.smtp import MISSING, TLSSetupException, syntax

from mail2fax.errors import MalformedAddress
from mail2fax.mail.mailbox import NULL_SENDER, Role, check_argument, parse_path
from mail2fax.smtp.auth import AuthSMTP
from mail2fax.smtp.data_reader import AIOSMTPD_LINE_TOO_LONG, DataReader
from mail2fax.smtp.envelope import FaxEnvelope, IntakeHooks
from mail2fax.smtp.peers import IPAddress, peer_address
from mail2fax.smtp.tls import log_failed_handshake

if TYPE_CHECKING:
    from mail2fax.smtp.listener import Listener

log = logging.getLogger("mail2fax.listener")

SHUTTING_DOWN = b"421 4.3.2 Fax gateway shutting down, please try again later\r\n"
MiB = 1024 * 1024
COMMAND_LINE = 512  # RFC 5321, section 4.5.3.1.4, the CR LF included
AUTH_LINE = 12288  # RFC 4954, section 4: an AUTH command with its initial response
DATA_LINE = MiB
LINE_TOO_LONG = "554 5.6.0 The mail has a line longer than 1 MiB; mail lines are limited to 1000 characters"
COMMAND_TOO_LONG = "500 5.5.2 Command line too long: 512 characters at most (12288 for AUTH)"
AIOSMTPD_COMMAND_TOO_LONG = "500 Command line too long"
REWORDED = {AIOSMTPD_LINE_TOO_LONG: LINE_TOO_LONG, AIOSMTPD_COMMAND_TOO_LONG: COMMAND_TOO_LONG}


class GatewaySMTP(AuthSMTP):
    """aiosmtpd's protocol with mail2fax's AUTH, registered with the listener for shutdown."""

    # The stream reader aiosmtpd creates holds at most about twice this before it stops reading.
    line_length_limit = AUTH_LINE + 2

    def __init__(
        self, listener: Listener, handler: IntakeHooks, *args: Any, transaction_timeout: float, **kwargs: Any
    ):
        super().__init__(handler, *args, **kwargs)
        self._listener = listener
        self._hooks = handler
        # aiosmtpd keeps these in a dict shared by every session, which each EHLO enlarges.
        self.command_size_limits = defaultdict(lambda: COMMAND_LINE, {"AUTH": AUTH_LINE})
        self.command_size_limit = COMMAND_LINE
        self._transaction_timeout = transaction_timeout
        self._transaction_handle: asyncio.TimerHandle | None = None
        self._last_heard = 0.0
        self._settling = False  # the intake stage is storing a mail that has fully arrived
        self._reading = Role.SENDER  # whose address _getaddr reads

    def _create_envelope(self) -> FaxEnvelope:
        return FaxEnvelope()

    def _peer(self) -> IPAddress | None:
        return peer_address(self.session.peer if self.session is not None else None)

    def _fax_envelope(self) -> FaxEnvelope:
        assert isinstance(self.envelope, FaxEnvelope)
        return self.envelope

    # --- addresses -------------------------------------------------------------------------

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        mailbox, parameters = parse_path(arg, self._reading)
        return NULL_SENDER if mailbox is None else str(mailbox), parameters

    async def smtp_MAIL(self, arg: str | None) -> None:
        self._reading = Role.SENDER
        try:
            check_argument(arg or "", Role.SENDER)
            await super().smtp_MAIL(arg)
        except MalformedAddress as refusal:
            log.info("refused MAIL", extra={"peer": self._peer(), "reason": refusal.reason})
            await self.push(refusal.reply)

    async def smtp_RCPT(self, arg: str | None) -> None:
        self._reading = Role.RECIPIENT
        try:
            check_argument(arg or "", Role.RECIPIENT)
            await super().smtp_RCPT(arg)
        except MalformedAddress as refusal:
            log.info("refused RCPT", extra={"peer": self._peer(), "reason": refusal.reason})
            await self.push(refusal.reply)

    @syntax("VRFY <address>")
    async def smtp_VRFY(self, arg: str | None) -> None:
        if await self.check_auth_needed("VRFY"):
            return
        if not arg:
            await self.push("501 5.5.4 Syntax: VRFY <address>")
            return
        await self.push("252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery")

    async def push(self, status: AnyStr) -> None:
        if isinstance(status, str) and status in REWORDED:
            await super().push(REWORDED[status])
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

    # --- timers ------------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        self._last_heard = self.loop.time()
        super().data_received(data)

    def _reset_timeout(self, duration: float | None = None) -> None:
        """aiosmtpd calls this after each command; here each piece received counts (data_received)."""
        self._last_heard = self.loop.time()
        if self._timeout_handle is None:
            self._timeout_handle = self.loop.call_later(self._timeout_duration, self._timeout_cb)

    def _timeout_cb(self) -> None:
        silent = self.loop.time() - self._last_heard
        if silent < self._timeout_duration:
            self._timeout_handle = self.loop.call_later(self._timeout_duration - silent, self._timeout_cb)
            return
        log.info(
            "smtp session closed: idle for too long", extra={"peer": self._peer(), "silent": round(silent)}
        )
        self._goodbye(f"421 4.4.2 {self.hostname} Idle for too long, closing the connection")

    def _start_transaction_clock(self) -> None:
        if self._transaction_handle is not None:
            self._transaction_handle.cancel()
        self._transaction_handle = self.loop.call_later(self._transaction_timeout, self._transaction_expired)

    def _transaction_expired(self) -> None:
        if self._settling:
            return  # the mail is being stored; its end restarts the clock
        log.info(
            "smtp session closed: the mail took too long",
            extra={"peer": self._peer(), "limit": self._transaction_timeout},
        )
        self._goodbye(
            f"421 4.4.2 {self.hostname} This mail has taken longer than "
            f"{self._transaction_timeout:g} seconds, closing the connection"
        )

    def _goodbye(self, reply: str) -> None:
        # uvloop's transports have asyncio's methods without being its subclasses: no isinstance.
        transport = cast(asyncio.WriteTransport | None, self.transport)
        if transport is not None and not transport.is_closing():
            transport.write(reply.encode("ascii") + b"\r\n")
            transport.close()

    # --- DATA --------------------------------------------------------------------------------

    async def smtp_DATA(self, arg: str) -> None:
        """aiosmtpd's DATA with the same checks and replies, reading the mail in large slices.

        aiosmtpd reads a mail line by line and keeps each line as an object until the end: a
        28 MB scan is 370,000 lines, about a second of the event loop that every other session
        waits for, and 50 MB on top of the mail. Here the mail is read up to each ``.\r\n`` or
        a mebibyte at a time, and the line and size limits are checked on the slices.
        """
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return
        envelope, session = self._fax_envelope(), self.session
        assert session is not None
        if not envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        refusal = await self._hooks.before_data(session, envelope)
        if refusal is not None:
            await self.push(refusal)
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        received = await self._read_data()
        if received is None:
            return
        if received.problem is not None:
            await self.push(received.problem)
            self._set_post_data_state()  # type: ignore[no-untyped-call]
            self._start_transaction_clock()
            return
        envelope.original_content = received.content()
        envelope.content = envelope.original_content
        self._settling = True
        try:
            status = await self._call_handler_hook("DATA")
        finally:
            self._settling = False
        self._set_post_data_state()  # type: ignore[no-untyped-call]
        self._start_transaction_clock()
        await self.push("250 OK" if status is MISSING else status)

    async def _read_data(self) -> DataReader | None:
        """The mail up to the lone dot, read in slices of up to a mebibyte; None if the client left."""
        received = DataReader(self.data_size_limit, DATA_LINE)
        reader = self._reader
        reader._limit = DATA_LINE  # type: ignore[attr-defined]
        try:
            while self.transport is not None:
                try:
                    try:
                        piece = await reader.readuntil(b".\r\n")
                    except asyncio.LimitOverrunError as exc:
                        piece = await reader.readexactly(exc.consumed)
                except (asyncio.CancelledError, asyncio.IncompleteReadError):
                    log.info("Connection lost during DATA")
                    self._writer.close()
                    raise
                if received.add(piece):
                    return received
            return None
        finally:
            reader._limit = self.line_length_limit  # type: ignore[attr-defined]

    # --- the session's life ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        first = self.transport is None
        super().connection_made(transport)
        if first:
            self._start_transaction_clock()

    def connection_lost(self, error: Exception | None) -> None:
        self._listener.forget(self)
        if self._transaction_handle is not None:
            self._transaction_handle.cancel()
        if self.session is None:  # a failed implicit-TLS handshake: the session never began
            return
        super().connection_lost(error)

    @property
    def in_transaction(self) -> bool:
        return self.envelope is not None and self.envelope.mail_from is not None

    def close_now(self) -> None:
        transport = cast(asyncio.WriteTransport | None, self.transport)
        if transport is not None:
            transport.write(SHUTTING_DOWN)
            transport.close()
