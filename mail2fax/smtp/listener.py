"""The SMTP listeners: aiosmtpd protocols served from the daemon's own event loop.

While the daemon drains for shutdown, new connections are answered ``421`` and closed, open
transactions are allowed to finish, and idle sessions are closed.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable

from aiosmtpd.smtp import SMTP

from mail2fax.smtp.protocol import SHUTTING_DOWN, GatewaySMTP

log = logging.getLogger("mail2fax.listener")


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
