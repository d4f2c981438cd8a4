"""A small HTTP/1.1 listener in the daemon's event loop for ``GET /metrics`` and ``GET /healthz``.

It answers one request per connection and closes it. Each route is an async function that
returns an :class:`Answer`; :func:`daemon_routes` makes the two the daemon serves.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus

from prometheus_client import CONTENT_TYPE_LATEST

from mail2fax.monitor.health import Health
from mail2fax.monitor.metrics import Metrics
from mail2fax.queue.base import Store

log = logging.getLogger("mail2fax.metrics_server")

REQUEST_TIMEOUT = 10.0
MAX_LINE = 8192
MAX_HEADERS = 100


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    content_type: str
    body: bytes


Route = Callable[[], Awaitable[Answer]]


def _plain(status: HTTPStatus, text: str | None = None) -> Answer:
    return Answer(status, "text/plain; charset=utf-8", ((text or status.phrase) + "\n").encode())


class _BadRequest(Exception):
    pass


class MetricsServer:
    """Serves ``routes`` (path -> route) on one socket until :meth:`close`."""

    def __init__(self, routes: Mapping[str, Route]) -> None:
        self._routes = dict(routes)
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self, host: str, port: int) -> int:
        """Listen on ``host:port`` (port 0: any free port) and return the bound port."""
        self._server = await asyncio.start_server(self._serve, host, port, limit=MAX_LINE)
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        try:
            try:
                async with asyncio.timeout(REQUEST_TIMEOUT):
                    method, path = await self._read_request(reader)
            except (_BadRequest, ValueError, asyncio.LimitOverrunError, asyncio.IncompleteReadError):
                await self._write(writer, "GET", _plain(HTTPStatus.BAD_REQUEST))
                return
            except (TimeoutError, ConnectionError):
                return
            answer = await self._answer(method, path)
            await self._write(writer, method, answer)
        except ConnectionError:
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
            if task is not None:
                self._connections.discard(task)

    @staticmethod
    async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str]:
        line = await reader.readuntil(b"\n")
        parts = line.decode("latin-1").split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            raise _BadRequest(line)
        for _ in range(MAX_HEADERS):
            header = await reader.readuntil(b"\n")
            if header in (b"\r\n", b"\n"):
                return parts[0], parts[1]
        raise _BadRequest("too many headers")

    async def _answer(self, method: str, target: str) -> Answer:
        path = target.split("?", 1)[0]
        route = self._routes.get(path)
        if route is None:
            return _plain(HTTPStatus.NOT_FOUND)
        if method not in ("GET", "HEAD"):
            return _plain(HTTPStatus.METHOD_NOT_ALLOWED)
        try:
            return await route()
        except Exception:  # one failed scrape must not take the listener down
            log.exception("metrics listener: %s failed", path)
            return _plain(HTTPStatus.INTERNAL_SERVER_ERROR)

    @staticmethod
    async def _write(writer: asyncio.StreamWriter, method: str, answer: Answer) -> None:
        status = HTTPStatus(answer.status)
        head = [
            f"HTTP/1.1 {status.value} {status.phrase}",
            f"Content-Type: {answer.content_type}",
            f"Content-Length: {len(answer.body)}",
            "Cache-Control: no-store",
            "Connection: close",
        ]
        if status is HTTPStatus.METHOD_NOT_ALLOWED:
            head.append("Allow: GET, HEAD")
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        if method != "HEAD":
            writer.write(answer.body)
        await writer.drain()


def daemon_routes(metrics: Metrics, store: Store, health: Health) -> dict[str, Route]:
    """``/metrics`` in Prometheus' text format and ``/healthz`` as JSON (200 or 503)."""

    async def scrape() -> Answer:
        return Answer(HTTPStatus.OK, CONTENT_TYPE_LATEST, await metrics.exposition(store))

    async def healthz() -> Answer:
        report = await health.report()
        status = HTTPStatus.OK if report.healthy else HTTPStatus.SERVICE_UNAVAILABLE
        body = json.dumps(report.body(), indent=2).encode() + b"\n"
        return Answer(status, "application/json", body)

    return {"/metrics": scrape, "/healthz": healthz}
