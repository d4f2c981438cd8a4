"""Rendering an HTML body: one PDF showing the mail's own images, nothing fetched from outside,
and a body that takes too long or grows too large never holds up the gateway."""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import io
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from pypdf import PdfReader

from mail2fax.errors import TooLarge, UnrenderableBody
from mail2fax.mail.body import HtmlBody, Resource
from mail2fax.rendering.pool import Renderer, RenderLimits
from tests.samples.images import png_bytes


def images_on(pdf: bytes) -> list[tuple[int, int]]:
    """The size of every image drawn on the PDF's pages."""
    found = []
    for page in PdfReader(io.BytesIO(pdf)).pages:
        found.extend((image.image.width, image.image.height) for image in page.images)
    return found


def text_of(pdf: bytes) -> str:
    return " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


@pytest.fixture
async def renderer() -> Renderer:
    pool = Renderer(RenderLimits(timeout=30))
    yield pool  # type: ignore[misc]
    await pool.close()


class _Counting(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []  # noqa: RUF012 - shared with the test on purpose

    def do_GET(self) -> None:
        self.hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.end_headers()
        self.wfile.write(png_bytes(40, 40))

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def web_server() -> Iterator[tuple[str, list[str]]]:
    hits: list[str] = []
    handler = type("Handler", (_Counting,), {"hits": hits})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hits
    finally:
        server.shutdown()
        server.server_close()


async def test_an_html_body_with_an_inline_image_is_one_pdf_page_showing_the_image(
    renderer: Renderer,
) -> None:
    body = HtmlBody(
        '<p>Dear Bob, the signed order follows.</p><p>Alice<br><img src="cid:image001.png@01DA2B3C"></p>',
        {"image001.png@01da2b3c": Resource("image/png", png_bytes(120, 40))},
    )
    rendered = await renderer.render(body)
    assert rendered.pages == 1
    assert len(PdfReader(io.BytesIO(rendered.pdf)).pages) == 1
    assert images_on(rendered.pdf) == [(120, 40)]
    assert "the signed order follows" in text_of(rendered.pdf)
    assert rendered.images == 1
    assert rendered.refused == ()


async def test_urls_outside_the_mail_fetch_nothing(
    renderer: Renderer, web_server: tuple[str, list[str]], tmp_path: Path
) -> None:
    base, hits = web_server
    local = tmp_path / "secret.png"
    local.write_bytes(png_bytes(50, 50))
    html = (
        "<p>Look</p>"
        f'<img src="{base}/tracker.png">'
        f'<img src="file://{local}">'
        '<img src="cid:missing@example.com">'
        f'<div style="background: url({base}/background.png)">x</div>'
        f'<link rel="stylesheet" href="{base}/style.css">'
    )
    rendered = await renderer.render(HtmlBody(html, {}))
    assert hits == []
    assert images_on(rendered.pdf) == []
    assert rendered.images == 0
    assert f"{base}/tracker.png" in rendered.refused
    assert f"file://{local}" in rendered.refused
    assert "cid:missing@example.com" in rendered.refused


async def test_a_base_element_cannot_turn_relative_urls_into_files(
    renderer: Renderer, tmp_path: Path
) -> None:
    (tmp_path / "logo.png").write_bytes(png_bytes(30, 30))
    html = (
        f'<html><head><base href="file://{tmp_path}/"></head><body><p>x</p><img src="logo.png"></body></html>'
    )
    rendered = await renderer.render(HtmlBody(html, {}))
    assert images_on(rendered.pdf) == []
    assert rendered.refused == (f"file://{tmp_path}/logo.png",)


async def test_a_cid_naming_a_url_is_not_followed(
    renderer: Renderer, web_server: tuple[str, list[str]]
) -> None:
    base, hits = web_server
    body = HtmlBody(f'<p>x</p><img src="cid:{base}/x.png">', {"real@x": Resource("image/png", png_bytes())})
    rendered = await renderer.render(body)
    assert hits == []
    assert images_on(rendered.pdf) == []


async def test_a_body_of_more_than_200_pages_is_refused_with_its_count(renderer: Renderer) -> None:
    html = "".join('<p style="page-break-after: always">page</p>' for _ in range(201))
    with pytest.raises(TooLarge) as caught:
        await renderer.render(HtmlBody(html, {}))
    assert caught.value.reply == "552 5.3.4 the mail's text makes 201 pages; RingCentral faxes at most 200"


async def test_a_body_that_takes_too_long_is_stopped_and_the_next_one_renders() -> None:
    pool = Renderer(RenderLimits(timeout=0.5))
    try:
        slow = HtmlBody("<table>" + "<tr><td>cell</td><td>cell</td></tr>" * 40_000 + "</table>", {})
        with pytest.raises(UnrenderableBody, match=r"within 0\.5 seconds"):
            await pool.render(slow)
        pool.limits = RenderLimits(timeout=30)
        assert (await pool.render(HtmlBody("<p>fine</p>", {}))).pages == 1
    finally:
        await pool.close()


async def test_other_mails_are_rendered_while_one_body_is_slow() -> None:
    pool = Renderer(RenderLimits(timeout=30, workers=2))
    try:
        slow = asyncio.create_task(pool.render(HtmlBody("<p>x</p>" * 30_000, {})))
        quick = await pool.render(HtmlBody("<p>quick</p>", {}))
        assert quick.pages == 1
        assert not slow.done()
        slow.cancel()
    finally:
        await pool.close()


async def test_a_worker_out_of_memory_refuses_the_body_not_the_daemon() -> None:
    pool = Renderer(RenderLimits(timeout=60, memory_bytes=300 * 1024 * 1024))
    try:
        huge = HtmlBody("<p>" + "word " * 3_000_000 + "</p>", {})
        with pytest.raises(UnrenderableBody):
            await pool.render(huge)
        assert (await pool.render(HtmlBody("<p>after</p>", {}))).pages == 1
    finally:
        await pool.close()


def render_workers() -> set[int]:
    """The render worker processes this test process has started and not yet reaped."""
    children: set[int] = set()
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        children |= {int(pid) for pid in (task / "children").read_text().split()}
    found = set()
    for pid in children:
        with contextlib.suppress(OSError):
            if b"mail2fax.rendering.worker" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.add(pid)
    return found


async def test_a_render_whose_mail_is_abandoned_stops_its_worker() -> None:
    # aiosmtpd cancels intake when the client hangs up; the worker is then mid-answer.
    pool = Renderer(RenderLimits(timeout=30))
    before = render_workers()
    try:
        assert (await pool.render(HtmlBody("<p>first</p>", {}))).pages == 1
        worker = render_workers() - before
        assert len(worker) == 1
        slow = asyncio.create_task(pool.render(HtmlBody("<p>x</p>" * 30_000, {})))
        await asyncio.sleep(0)  # the body is on its way to the idle worker
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        assert render_workers() & worker == set()
        assert (await pool.render(HtmlBody("<p>next</p>", {}))).pages == 1
    finally:
        await pool.close()
