"""A small HTTP/1.1 server for tests, built on asyncio streams and h11.

It listens on 127.0.0.1 at a port the kernel picks, inside the running event loop. Each request
is read whole (Content-Length or chunked; h11 does the framing), handed to the handler mounted
at the longest matching path prefix, and answered on the same keep-alive connection.

A handler returns a :class:`Response`, :class:`Hang` (never answer) or :class:`Reset` (drop the
connection with a TCP reset). ``Response.delay`` makes the server wait before writing the answer.
:class:`FaultQueue` turns "the next N matching requests misbehave" into those replies, so every
emulator mounted here injects faults the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import http
import json
import socket
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qs, unquote, urlsplit

import h11

READ_SIZE = 1024 * 1024


@dataclass(slots=True)
class Request:
    """One request as received: header names are lower-case, the path is percent-decoded."""

    method: str
    target: str
    path: str
    query: dict[str, list[str]]
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        """The first value of a header, or None."""
        name = name.lower()
        return next((value for key, value in self.headers if key == name), None)

    def header_all(self, name: str) -> list[str]:
        name = name.lower()
        return [value for key, value in self.headers if key == name]


@dataclass(slots=True)
class Response:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    delay: float = 0.0

    @classmethod
    def json(cls, status: int, payload: Any, headers: list[tuple[str, str]] | None = None) -> Response:
        body = b"" if status == 204 else json.dumps(payload).encode()
        content_type = [] if status == 204 else [("Content-Type", "application/json; charset=UTF-8")]
        return cls(status, content_type + list(headers or []), body)

    def header(self, name: str) -> str | None:
        name = name.lower()
        return next((value for key, value in self.headers if key.lower() == name), None)

    def set_header(self, name: str, value: str) -> None:
        """Replace every value of ``name`` with ``value``."""
        self.headers = [(k, v) for k, v in self.headers if k.lower() != name.lower()]
        self.headers.append((name, value))


@dataclass(frozen=True, slots=True)
class Hang:
    """Never answer: keep the connection open until the client gives up or the server stops."""


@dataclass(frozen=True, slots=True)
class Reset:
    """Drop the connection at once with a TCP reset, without answering."""


Reply = Response | Hang | Reset
Handler = Callable[[Request], Awaitable[Reply]]
FaultAction = Literal["answer", "hang", "reset", "slow"]


@dataclass(slots=True)
class Fault:
    """How one matching request misbehaves.

    ``response`` replaces the handler's answer (for "answer" and "slow"); ``headers`` are set on
    whichever answer goes out. ``process`` says whether the handler still runs (its state
    changes happen) before the fault takes effect; for "slow" without ``process`` the handler runs
    after the delay instead.
    """

    matches: Callable[[Request], bool]
    action: FaultAction = "answer"
    response: Response | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    delay: float = 0.0
    process: bool = False
    remaining: int = 1

    def shape(self, answer: Response | None) -> Reply:
        if self.action == "hang":
            return Hang()
        if self.action == "reset":
            return Reset()
        base = self.response if self.response is not None else answer
        if base is None:
            raise ValueError("a fault that answers needs a response")
        shaped = Response(base.status, list(base.headers), base.body, base.delay)
        for name, value in self.headers:
            shaped.set_header(name, value)
        if self.action == "slow" and self.process:
            shaped.delay = self.delay
        return shaped


class FaultQueue:
    """Faults waiting for their requests; each matching request uses up one turn of the first match."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        if fault.remaining < 1:
            raise ValueError("a fault needs at least one turn")
        if fault.delay < 0:
            raise ValueError("delay must not be negative")
        self._faults.append(fault)

    def clear(self) -> None:
        self._faults.clear()

    def __len__(self) -> int:
        return len(self._faults)

    def take(self, request: Request) -> Fault | None:
        for fault in self._faults:
            if fault.matches(request):
                fault.remaining -= 1
                if fault.remaining == 0:
                    self._faults.remove(fault)
                return fault
        return None

    async def run(self, request: Request, handle: Callable[[Request], Awaitable[Response]]) -> Reply:
        """Answer ``request`` with ``handle``, unless a fault is waiting for it."""
        fault = self.take(request)
        if fault is None:
            return await handle(request)
        if fault.process:
            return fault.shape(await handle(request))
        if fault.action in ("hang", "reset"):
            return fault.shape(None)
        if fault.action == "slow":
            await asyncio.sleep(fault.delay)
        if fault.response is not None:
            return fault.shape(fault.response)
        return fault.shape(await handle(request))


class _BodyTooLarge(Exception):
    pass


class HTTPServer:
    """An HTTP/1.1 server on 127.0.0.1, port chosen by the kernel; handlers mounted by path prefix."""

    def __init__(
        self, handler: Handler | None = None, *, host: str = "127.0.0.1", max_body: int = 128 * 1024 * 1024
    ) -> None:
        self.host = host
        self.max_body = max_body
        self._routes: list[tuple[str, Handler]] = []
        self._server: asyncio.Server | None = None
        self._port: int | None = None
        self._connections: dict[asyncio.Task[None], asyncio.StreamWriter] = {}
        self.connections_opened = 0
        # Exceptions raised by handlers: each was answered 500; a test may assert this stays empty.
        self.errors: list[BaseException] = []
        if handler is not None:
            self.mount("/", handler)

    def mount(self, prefix: str, handler: Handler) -> None:
        """Send requests whose path is ``prefix`` or lies under it to ``handler``; longest prefix wins."""
        if not prefix.startswith("/"):
            raise ValueError("a prefix starts with /")
        if any(existing == prefix for existing, _ in self._routes):
            raise ValueError(f"{prefix} is already mounted")
        self._routes.append((prefix, handler))
        self._routes.sort(key=lambda route: len(route[0]), reverse=True)

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the server is not started")
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        """Start listening; does nothing if already started."""
        if self._server is not None:
            return
        self._server = await asyncio.start_server(self._connection, self.host, 0)
        self._port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and drop every open connection, including hanging ones."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for task, writer in list(self._connections.items()):
            writer.transport.abort()
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        await server.wait_closed()

    async def __aenter__(self) -> HTTPServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def _handler_for(self, path: str) -> Handler | None:
        for prefix, handler in self._routes:
            if prefix == "/" or path == prefix or path.startswith(prefix.rstrip("/") + "/"):
                return handler
        return None

    async def _dispatch(self, request: Request) -> Reply:
        handler = self._handler_for(request.path)
        if handler is None:
            return Response(404, [("Content-Type", "text/plain")], b"no handler for this path\n")
        try:
            return await handler(request)
        except Exception as exc:  # a handler bug must reach the test, not kill the connection
            self.errors.append(exc)
            return Response(500, [("Content-Type", "text/plain")], f"handler failed: {exc!r}\n".encode())

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections[task] = writer
        self.connections_opened += 1
        try:
            await self._serve(reader, writer)
        except asyncio.CancelledError:
            # Only stop() cancels a connection; ending quietly keeps asyncio's stream callback,
            # which would otherwise ask a cancelled task for its exception, from logging noise.
            pass
        finally:
            self._connections.pop(task, None)
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                try:
                    request = await self._receive(conn, reader, writer)
                except h11.RemoteProtocolError as exc:
                    await self._send_plain(conn, writer, exc.error_status_hint, str(exc))
                    break
                except _BodyTooLarge:
                    await self._send_plain(conn, writer, 413, "request body too large")
                    break
                if request is None:
                    break
                reply = await self._dispatch(request)
                if isinstance(reply, Hang):
                    while await reader.read(READ_SIZE):
                        pass
                    break
                if isinstance(reply, Reset):
                    _reset(writer)
                    break
                if reply.delay > 0:
                    await asyncio.sleep(reply.delay)
                await self._send(conn, writer, reply)
                if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                    break
                conn.start_next_cycle()
        except (ConnectionError, OSError, h11.LocalProtocolError):
            pass
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()

    async def _receive(
        self, conn: h11.Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> Request | None:
        head: h11.Request | None = None
        body = bytearray()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                if conn.they_are_waiting_for_100_continue:
                    writer.write(conn.send(h11.InformationalResponse(status_code=100, headers=[])))
                conn.receive_data(await reader.read(READ_SIZE))
            elif isinstance(event, h11.Request):
                head = event
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > self.max_body:
                    raise _BodyTooLarge
            elif isinstance(event, h11.EndOfMessage):
                assert head is not None
                return _request(head, bytes(body))
            else:  # ConnectionClosed, or PAUSED after a protocol switch we never agree to
                return None

    async def _send(self, conn: h11.Connection, writer: asyncio.StreamWriter, response: Response) -> None:
        headers = [(name.encode(), value.encode()) for name, value in response.headers]
        names = {name.lower() for name, _ in response.headers}
        if response.status not in (204, 304) and "content-length" not in names:
            headers.append((b"Content-Length", str(len(response.body)).encode()))
        if "date" not in names:
            headers.append((b"Date", email.utils.formatdate(usegmt=True).encode()))
        try:
            reason = http.HTTPStatus(response.status).phrase.encode()
        except ValueError:
            reason = b""
        writer.write(conn.send(h11.Response(status_code=response.status, headers=headers, reason=reason)))
        if response.body:
            writer.write(conn.send(h11.Data(data=response.body)))
        writer.write(conn.send(h11.EndOfMessage()))
        await writer.drain()

    async def _send_plain(
        self, conn: h11.Connection, writer: asyncio.StreamWriter, status: int, text: str
    ) -> None:
        if conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return
        response = Response(status, [("Content-Type", "text/plain"), ("Connection", "close")], text.encode())
        with contextlib.suppress(ConnectionError, OSError, h11.LocalProtocolError):
            await self._send(conn, writer, response)


def _request(head: h11.Request, body: bytes) -> Request:
    target = head.target.decode("ascii", "replace")
    parts = urlsplit(target)
    return Request(
        method=head.method.decode("ascii", "replace"),
        target=target,
        path=unquote(parts.path),
        query=parse_qs(parts.query, keep_blank_values=True),
        headers=[(name.decode("latin-1").lower(), value.decode("latin-1")) for name, value in head.headers],
        body=body,
    )


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close so that the peer sees a reset: SO_LINGER with a zero timeout, then abort."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
