"""``python -m bench.render``: what laying out HTML bodies costs intake.

A dry-run daemon (in this process, as ``mail2fax serve`` runs it) gets mails over SMTP, one
session at a time, and the time from the end of DATA to the reply is measured for:

- ``text``: a plain-text mail (its body stays text, nothing is rendered);
- ``html-logo``: an Outlook-style HTML mail with a signature logo and no attachment (rendered);
- ``pdf-logo``: the same with a PDF attached (the body is not faxed, nothing is rendered);

then PDF mails on 8 sessions while one more session sends only HTML mails, against the same PDF
mails without the HTML session: whether rendering holds up everyone else.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

import aiosmtplib

from mail2fax.app import Daemon
from mail2fax.settings import Settings
from tests.samples.images import png_bytes
from tests.samples.other import pdf_bytes

HTML = (
    "<html><body><p>Dear Bob,</p><p>please call me back about the order of {n}.</p>"
    '<p>Kind regards<br>Alice Example<br><img src="cid:image001.png@01DA"></p></body></html>'
)


def _mail(kind: str, n: int) -> bytes:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "alice@example.com", "14155551212@fax.local", f"m{n}"
    message["Message-ID"] = f"<bench-{kind}-{n}@example.com>"
    message.set_content(f"Dear Bob,\n\nplease call me back about the order of {n}.\n\nAlice\n")
    if kind != "text":
        message.add_alternative(HTML.format(n=n), subtype="html")
        message.get_payload()[1].add_related(
            png_bytes(120, 40),
            maintype="image",
            subtype="png",
            cid="<image001.png@01DA>",
            filename="image001.png",
        )
    if kind == "pdf-logo":
        message.add_attachment(pdf_bytes(2), maintype="application", subtype="pdf", filename="order.pdf")
    return message.as_bytes(policy=SMTP)


async def _send(port: int, mails: list[bytes], latencies: list[float]) -> None:
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port) as client:
        for raw in mails:
            started = time.perf_counter()
            code, _ = await client.sendmail("alice@example.com", ["14155551212@fax.local"], raw)
            latencies.append(time.perf_counter() - started)
            assert not code, code


def _ms(latencies: list[float]) -> str:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return f"{1000 * statistics.median(ordered):.1f} ms | {1000 * p99:.1f} ms"


async def main(count: int) -> None:
    with tempfile.TemporaryDirectory() as data:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            backend="dry-run",
            data_dir=Path(data),
            smtp={"host": "127.0.0.1", "port": 0},
            relay={"host": "127.0.0.1", "port": 9},
            duplicate_window=0,
        )
        daemon = Daemon(settings)
        stop = asyncio.Event()
        task = asyncio.create_task(daemon.run(stop))
        await daemon.ready.wait()
        port = daemon.smtp_port or 0
        await _send(port, [_mail("html-logo", -1)], [])  # the render worker starts once
        print("| mail | median | p99 |\n|---|---|---|")
        for kind in ("text", "html-logo", "pdf-logo"):
            latencies: list[float] = []
            await _send(port, [_mail(kind, n) for n in range(count)], latencies)
            print(f"| {kind}, 1 session | {_ms(latencies)} |")
        for with_html in (False, True):
            pdf_latencies: list[float] = []
            senders = [
                _send(port, [_mail("pdf-logo", 1000 * s + n) for n in range(count // 4)], pdf_latencies)
                for s in range(8)
            ]
            if with_html:
                senders.append(_send(port, [_mail("html-logo", 9000 + n) for n in range(count)], []))
            await asyncio.gather(*senders)
            label = "pdf-logo, 8 sessions" + (" + 1 session of html-logo" if with_html else "")
            print(f"| {label} | {_ms(pdf_latencies)} |")
        stop.set()
        await task


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=60, help="mails of each kind (60)")
    asyncio.run(main(parser.parse_args().count))
