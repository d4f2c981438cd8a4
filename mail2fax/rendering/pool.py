"""Render workers as the daemon sees them: ``await renderer.render(body)`` gives a PDF or an error.

Layout is CPU work on strangers' HTML, so it never runs in the daemon's process: each worker is
a separate process (``python -m mail2fax.rendering.worker``) with a memory limit, started on
the first HTML body and kept for the next ones. A body that takes longer than the timeout gets
its worker killed; the next body starts a fresh one. Workers see no MAIL2FAX_* setting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from dataclasses import dataclass

from mail2fax.errors import Deferral, TooLarge, UnrenderableBody
from mail2fax.mail.body import HtmlBody
from mail2fax.rendering import frames

log = logging.getLogger("mail2fax.render")

RECYCLE_AFTER = 200  # renders per worker, so memory a layout keeps cannot pile up


@dataclass(frozen=True, slots=True)
class RenderLimits:
    timeout: float = 30.0
    workers: int = 1
    memory_bytes: int = 1024 * 1024 * 1024
    max_pages: int = 200


@dataclass(frozen=True, slots=True)
class RenderedBody:
    pdf: bytes
    pages: int
    images: int
    refused: tuple[str, ...]


class _Worker:
    def __init__(self, process: asyncio.subprocess.Process):
        self.process = process
        self.renders = 0

    async def ask(self, request: bytes) -> tuple[dict[str, object], list[bytes]]:
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None
        assert stdout is not None
        stdin.write(request)
        await stdin.drain()
        length = frames.header_length(await stdout.readexactly(frames.PREFIX_BYTES))
        header, blobs = frames.decode_header(await stdout.readexactly(length))
        return header, [await stdout.readexactly(size) for size in blobs]

    async def stop(self, *, kill: bool) -> None:
        with contextlib.suppress(ProcessLookupError):
            if kill:
                self.process.kill()
            elif self.process.stdin is not None:
                self.process.stdin.close()  # the worker ends at the end of its input
        with contextlib.suppress(ProcessLookupError):
            await self.process.wait()


class Renderer:
    """A small pool of render workers, ``limits.workers`` of them rendering at once."""

    def __init__(self, limits: RenderLimits | None = None):
        self.limits = limits or RenderLimits()
        self._slots = asyncio.Semaphore(self.limits.workers)
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()

    async def render(self, body: HtmlBody) -> RenderedBody:
        """``body`` as one PDF. UnrenderableBody when it cannot be laid out within the limits,
        TooLarge when it makes more pages than a fax takes, Deferral when no worker starts."""
        resources = list(body.resources.items())
        request = frames.encode(
            {
                "html": body.html,
                "max_pages": self.limits.max_pages,
                "resources": [[cid, resource.content_type] for cid, resource in resources],
            },
            [resource.data for _, resource in resources],
        )
        async with self._slots:
            worker = self._idle.pop() if self._idle else await self._start()
            self._busy.add(worker)
            try:
                header, blobs = await asyncio.wait_for(worker.ask(request), self.limits.timeout)
            except TimeoutError:
                await worker.stop(kill=True)
                raise UnrenderableBody(
                    f"the HTML text of the mail could not be laid out within {self.limits.timeout:g} seconds"
                ) from None
            except (EOFError, ConnectionError, ValueError, asyncio.IncompleteReadError):
                await worker.stop(kill=True)
                log.warning("render worker ended with %s", worker.process.returncode)
                raise UnrenderableBody(
                    "the HTML text of the mail made the renderer stop (too large or too complex)"
                ) from None
            except asyncio.CancelledError:
                # The mail was abandoned mid-render (its client hung up): the worker's answer
                # would be read by the next body, so it is stopped, not kept.
                await worker.stop(kill=True)
                raise
            finally:
                self._busy.discard(worker)
            worker.renders += 1
            if worker.renders >= RECYCLE_AFTER or worker.process.returncode is not None:
                await worker.stop(kill=False)
            else:
                self._idle.append(worker)
        return self._result(header, blobs)

    def _result(self, header: dict[str, object], blobs: list[bytes]) -> RenderedBody:
        pages = header.get("pages")
        if header.get("ok") is not True or not blobs or not isinstance(pages, int):
            if isinstance(pages, int) and pages > self.limits.max_pages:
                raise TooLarge(
                    f"the mail's text makes {pages} pages; RingCentral faxes at most {self.limits.max_pages}"
                )
            reason = str(header.get("error") or "no document came back")
            log.info("render failed: %s", reason)
            raise UnrenderableBody("the HTML text of the mail cannot be laid out for faxing")
        refused = header.get("refused")
        images = header.get("images")
        return RenderedBody(
            pdf=blobs[0],
            pages=pages,
            images=images if isinstance(images, int) else 0,
            refused=tuple(str(url) for url in refused) if isinstance(refused, list) else (),
        )

    async def _start(self) -> _Worker:
        environment = {key: value for key, value in os.environ.items() if not key.startswith("MAIL2FAX_")}
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "mail2fax.rendering.worker",
                str(self.limits.memory_bytes),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL,
                env=environment,
            )
        except OSError as exc:
            log.error("cannot start a render worker: %s", exc)
            raise Deferral(
                "the fax gateway cannot lay out HTML mail right now, please try again later"
            ) from exc
        return _Worker(process)

    async def close(self) -> None:
        """Stop every worker (at shutdown); a render in progress ends with UnrenderableBody."""
        idle, self._idle = self._idle, []
        for worker in [*idle, *self._busy]:
            await worker.stop(kill=worker not in idle)
