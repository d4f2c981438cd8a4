"""The SMTP listeners: aiosmtpd protocols served from the daemon's own event loop.

Each new connection passes :class:`~mail2fax.smtp.admission.Admission` first: over the session
limits it is answered ``421 4.7.0`` and closed before any session is set up.

While the daemon drains for shutdown, new connections are answered ``421`` and closed, open
transactions are allowed to finish, and idle sessions are closed.

On the implicit-TLS port the handshake is done here, before the SMTP session starts, so that a
failed one (an old scanner, a port probe) is logged as one line naming the client and the reason;
asyncio's own TLS server would drop it without a word.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Callable
from typing import cast

from mail2fax.smtp.admission import Admission, SessionLimits, quiet_accept_failures
from mail2fax.smtp.protocol import SHUTTING_DOWN, GatewaySMTP
from mail2fax.smtp.tls import log_failed_handshake

log = logging.getLogger("mail2fax.listener")

TLS_HANDSHAKE_TIMEOUT = 60.0


class Doorman(asyncio.Protocol):
    """Stands at a new connection: hands it to a session (after the TLS handshake on the implicit
    TLS port), or answers it ``421`` and closes it."""

    def __init__(self, listener: Listener, tls_context: Callable[[], ssl.SSLContext] | None):
        self._listener = listener
        self._tls_context = tls_context

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports have asyncio's methods without being its subclasses: no isinstance.
        transport = cast(asyncio.Transport, transport)
        session = self._listener.admit(transport)
        if session is None:
            return
        if self._tls_context is None:
            transport.set_protocol(session)
            session.connection_made(transport)
            return
        # Nothing may be read before the TLS layer takes the connection over.
        transport.pause_reading()
        task = asyncio.get_running_loop().create_task(self._handshake(transport, session, self._tls_context))
        self._listener.handshakes.add(task)
        task.add_done_callback(self._listener.handshakes.discard)

    async def _handshake(
        self, transport: asyncio.Transport, session: GatewaySMTP, context: Callable[[], ssl.SSLContext]
    ) -> None:
        peer = transport.get_extra_info("peername")
        started = False
        try:
            if transport.is_closing():
                return
            try:
                encrypted = await asyncio.get_running_loop().start_tls(
                    transport,
                    session,
                    context(),
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
            started = True
            session.connection_made(encrypted)
        finally:
            if not started:
                self._listener.forget(session)


class Listener:
    """Serves one handler on one or more sockets and drains them on shutdown."""

    def __init__(self, make_session: Callable[[Listener], GatewaySMTP], limits: SessionLimits):
        self._make_session = make_session
        self._admission = Admission(limits)
        self._servers: list[asyncio.Server] = []
        self.sessions: set[GatewaySMTP] = set()
        self.handshakes: set[asyncio.Task[None]] = set()
        self.draining = False

    def admit(self, transport: asyncio.WriteTransport) -> GatewaySMTP | None:
        """A new session for this connection, or None after answering it ``421`` and closing it."""
        peer = transport.get_extra_info("peername")
        refusal = SHUTTING_DOWN if self.draining else self._admission.refusal(peer)
        if refusal is not None:
            transport.write(refusal)
            transport.close()
            return None
        session = self._make_session(self)
        self.sessions.add(session)
        self._admission.enter(session, peer)
        return session

    def forget(self, session: GatewaySMTP) -> None:
        """A session has ended, or never started: it no longer counts against the limits."""
        self.sessions.discard(session)
        self._admission.leave(session)

    async def listen(
        self,
        host: str,
        port: int,
        *,
        tls_context: Callable[[], ssl.SSLContext] | None = None,
        reuse_port: bool = False,
        joining: bool = False,
    ) -> int:
        """Start listening, with implicit TLS when given a TLS context; returns the bound port.

        With ``reuse_port``, other intake processes may listen on the same port (``SO_REUSEPORT``).
        The first of them (not ``joining``) refuses a port that anything listens on already: the
        kernel would let another daemon of the same user share it.
        """
        loop = asyncio.get_running_loop()
        if reuse_port and not joining and port:
            await refuse_taken_port(host, port)
        quiet_accept_failures(loop, lambda: self.draining)
        server = await loop.create_server(
            lambda: Doorman(self, tls_context), host, port, reuse_port=reuse_port or None
        )
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


async def refuse_taken_port(host: str, port: int) -> None:
    """Raise ``OSError`` (address in use) when anything listens on ``host:port`` already."""
    loop = asyncio.get_running_loop()
    addresses = await loop.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    for family, kind, protocol, _name, address in addresses:
        try:
            probe = socket.socket(family, kind, protocol)
        except OSError:
            continue  # a family this host lacks (no IPv6): create_server skips it too
        with probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            probe.bind(address)
