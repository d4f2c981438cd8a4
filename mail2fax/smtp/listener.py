"""The SMTP listeners: aiosmtpd protocols served from the daemon's own event loop.

While the daemon drains for shutdown, new connections are answered ``421`` and closed, open
transactions are allowed to finish, and idle sessions are closed.

On the implicit-TLS port the handshake is done here, before the SMTP session starts, so that a
failed one (an old scanner, a port probe) is logged as one line naming the client and the reason;
asyncio's own TLS server would drop it without a word.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable

from aiosmtpd.smtp import SMTP

from mail2fax.smtp.protocol import SHUTTING_DOWN, GatewaySMTP
from mail2fax.smtp.tls import log_failed_handshake

log = logging.getLogger("mail2fax.listener")

TLS_HANDSHAKE_TIMEOUT = 60.0


class _Refuse(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(SHUTTING_DOWN)
        transport.close()


class _ImplicitTls(asyncio.Protocol):
    """The first moments of a connection to the implicit-TLS port: the handshake, then the session."""

    def __init__(self, listener: Listener, session: asyncio.Protocol, context: Callable[[], ssl.SSLContext]):
        self._listener = listener
        self._session = session
        self._context = context

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        # Nothing may be read before the TLS layer takes the connection over.
        transport.pause_reading()
        task = asyncio.get_running_loop().create_task(self._handshake(transport))
        self._listener.handshakes.add(task)
        task.add_done_callback(self._listener.handshakes.discard)

    async def _handshake(self, transport: asyncio.Transport) -> None:
        peer = transport.get_extra_info("peername")
        if transport.is_closing():
            return
        loop = asyncio.get_running_loop()
        try:
            encrypted = await loop.start_tls(
                transport,
                self._session,
                self._context(),
                server_side=True,
                ssl_handshake_timeout=TLS_HANDSHAKE_TIMEOUT,
            )
        except (OSError, TimeoutError, EOFError) as exc:
            log_failed_handshake(peer, exc, listener="implicit")
            transport.close()
            return
        if encrypted is None:  # the connection was lost as the handshake ended
            log_failed_handshake(peer, None, listener="implicit")
            return
        self._session.connection_made(encrypted)


class Listener:
    """Serves one handler on one or more sockets and drains them on shutdown."""

    def __init__(self, make_session: Callable[[Listener], SMTP]):
        self._make_session = make_session
        self._servers: list[asyncio.Server] = []
        self.sessions: set[GatewaySMTP] = set()
        self.handshakes: set[asyncio.Task[None]] = set()
        self.draining = False

    def _protocol(self) -> asyncio.BaseProtocol:
        if self.draining:
            return _Refuse()
        session: asyncio.BaseProtocol = self._make_session(self)
        return session

    async def listen(
        self,
        host: str,
        port: int,
        *,
        tls_context: Callable[[], ssl.SSLContext] | None = None,
        reuse_port: bool = False,
    ) -> int:
        """Start listening, with implicit TLS when given a TLS context; returns the bound port.

        With ``reuse_port``, other intake processes may listen on the same port (``SO_REUSEPORT``).
        """
        loop = asyncio.get_running_loop()
        factory: Callable[[], asyncio.BaseProtocol] = self._protocol
        if tls_context is not None:
            context = tls_context

            def factory() -> asyncio.BaseProtocol:
                session = self._protocol()
                if isinstance(session, _Refuse):
                    return session
                assert isinstance(session, asyncio.Protocol)
                return _ImplicitTls(self, session, context)

        server = await loop.create_server(factory, host, port, reuse_port=reuse_port or None)
        self._servers.append(server)
        bound = int(server.sockets[0].getsockname()[1])
        log.info(
            "smtp listening", extra={"host": host, "port": bound, "tls": "implicit" if tls_context else "no"}
        )
        return bound

    async def drain(self, deadline: float, *, close: bool = True) -> None:
        """Refuse new sessions, wait up to ``deadline`` seconds for open transactions, close the rest.

        With ``close=False`` the sockets stay open, answering ``421``, until :meth:`close`: other
        processes sharing the port may still be draining, and a socket that closes resets the
        connections the kernel has already queued on it.
        """
        self.draining = True
        for handshake in list(self.handshakes):
            handshake.cancel()
        loop = asyncio.get_running_loop()
        end = loop.time() + deadline
        # aiosmtpd offers no event for "transaction finished"; a short, bounded poll at shutdown only.
        while any(session.in_transaction for session in self.sessions) and loop.time() < end:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        for session in list(self.sessions):
            session.close_now()
        if close:
            await self.close()

    async def close(self) -> None:
        for server in self._servers:
            server.close()
        for server in self._servers:
            await server.wait_closed()
