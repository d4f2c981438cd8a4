"""The SMTP listeners: aiosmtpd protocols served from the daemon's own event loop.

While the daemon drains for shutdown, new connections are answered ``421`` and closed, open
transactions are allowed to finish, and idle sessions are closed.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import warnings
from collections.abc import Callable
from typing import Any, AnyStr

from aiosmtpd.smtp import SMTP

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
