"""The mails the benchmark sends: a small office mail and a large colour scan, ready for the wire."""

from __future__ import annotations

import base64
import random
from email.utils import formatdate

from tests.samples.other import pdf_bytes

MiB = 1024 * 1024
SENDER = "scanner@bench.test"
RECIPIENT = "14155551212@fax.local"
_BOUNDARY = "bench-boundary-7f3a"
_WORDS = [
    *("please", "find", "the", "signed", "order", "attached", "and", "fax", "it", "to"),
    *("the", "supplier", "before", "noon", "the", "delivery", "address", "is", "unchanged"),
    *("and", "the", "invoice", "follows", "by", "post", "this", "week"),
]


def _lines(text_bytes: int, seed: int) -> str:
    rng = random.Random(seed)
    lines: list[str] = []
    size = 0
    while size < text_bytes:
        line = " ".join(rng.choice(_WORDS) for _ in range(11)).capitalize() + "."
        lines.append(line)
        size += len(line) + 2
    return "\r\n".join(lines)


def _base64_lines(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


def pdf_of_size(size: int, *, seed: int = 20) -> bytes:
    """A PDF of about ``size`` bytes: one page showing one incompressible JPEG-like image."""
    image = random.Random(seed).randbytes(size)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /XObject << /Im1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /XObject /Subtype /Image /Width 2550 /Height 3300 /ColorSpace /DeviceRGB "
        b"/BitsPerComponent 8 /Filter /DCTDecode /Length %d >>\nstream\n"
        % len(image)
        + image
        + b"\nendstream",
        b"<< /Length 35 >>\nstream\nq 612 0 0 792 0 0 cm /Im1 Do Q\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _mail(message_id: str, subject: str, text: str, filename: str, document: bytes) -> bytes:
    head = (
        f"From: Scanner <{SENDER}>\r\n"
        f"To: Supplier <{RECIPIENT}>\r\n"
        f"Subject: {subject}\r\n"
        f"Date: {formatdate(localtime=False)}\r\n"
        f"Message-ID: <{message_id}@bench.test>\r\n"
        "MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/mixed; boundary="{_BOUNDARY}"\r\n'
        "\r\n"
        f"--{_BOUNDARY}\r\n"
        'Content-Type: text/plain; charset="utf-8"\r\n'
        "Content-Transfer-Encoding: 7bit\r\n"
        "\r\n"
        f"{text}\r\n"
        f"--{_BOUNDARY}\r\n"
        f'Content-Type: application/pdf; name="{filename}"\r\n'
        "Content-Transfer-Encoding: base64\r\n"
        f'Content-Disposition: attachment; filename="{filename}"\r\n'
        "\r\n"
    ).encode()
    return head + _base64_lines(document) + f"--{_BOUNDARY}--\r\n".encode()


def wire(message: bytes) -> bytes:
    """The DATA section as sent: dot-stuffed, ending with the lone dot."""
    stuffed = (b"\r\n" + message).replace(b"\r\n.", b"\r\n..")[2:]
    if not stuffed.endswith(b"\r\n"):
        stuffed += b"\r\n"
    return stuffed + b".\r\n"


class SmallMails:
    """About 2 KB of text and a one-page PDF; every mail has its own Message-ID."""

    def __init__(self, text_bytes: int = 2048):
        self._text = _lines(text_bytes, seed=2)
        self._pdf = pdf_bytes(1, "mail2fax benchmark order")

    def make(self, tag: str) -> bytes:
        return wire(_mail(tag, f"Order {tag}", self._text, "order.pdf", self._pdf))


def big_scan(tag: str, pdf: bytes) -> bytes:
    return wire(_mail(tag, f"Scan {tag}", "Scanned document attached.", "scan.pdf", pdf))
