"""A corpus of malformed and hostile mails, built byte by byte, each with the outcome it must get.

Every case is raw bytes as a client would send them after DATA. ``expect`` says what a correct
gateway answers: ``fax`` (250; ``documents`` names each faxed PDF, ``*`` where any safe name
will do) or ``refuse`` with ``code`` and a reply that contains every fragment in ``says``.
Nothing here may end in a dropped connection, a ``500``, a ``451`` from an internal error,
or a session that stops answering.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, replace

from tests.samples.other import pdf_bytes, tnef_bytes, zip_bytes

FROM = "alice@example.com"
TO = "12015550123@fax.local"
PDF = pdf_bytes(text="hostile corpus page")
PDF_B64 = base64.b64encode(PDF)


@dataclass(frozen=True)
class Case:
    name: str
    raw: bytes
    expect: str  # "fax" or "refuse"
    code: int = 250
    says: tuple[str, ...] = ()
    documents: tuple[str, ...] = ()  # the filename of each faxed document, in order


def _headers(content_type: str, *extra: str, subject: str = "hostile") -> bytes:
    lines = [
        f"From: {FROM}",
        f"To: {TO}",
        f"Subject: {subject}",
        "Message-ID: <hostile@example.com>",
        "MIME-Version: 1.0",
        f"Content-Type: {content_type}",
        *extra,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _wrap(data: bytes, width: int = 76) -> bytes:
    return b"\r\n".join(data[i : i + width] for i in range(0, len(data), width))


def _pdf_part(disposition: str = 'attachment; filename="scan.pdf"', data: bytes = PDF_B64) -> bytes:
    return (
        b"Content-Type: application/pdf\r\n"
        b"Content-Transfer-Encoding: base64\r\n"
        b"Content-Disposition: " + disposition.encode("latin-1") + b"\r\n\r\n" + _wrap(data) + b"\r\n"
    )


def _multipart(
    *parts: bytes, boundary: str = "b1", preamble: bytes = b"", extra: tuple[str, ...] = ()
) -> bytes:
    body = preamble
    for part in parts:
        body += f"--{boundary}\r\n".encode() + part
    body += f"--{boundary}--\r\n".encode()
    return _headers(f'multipart/mixed; boundary="{boundary}"', *extra) + body


def broken_boundary() -> Case:
    """The header declares one boundary, the body uses another: no part can be trusted."""
    raw = _headers('multipart/mixed; boundary="declared"') + (
        b"--actual\r\n" + _pdf_part() + b"--actual--\r\n"
    )
    return Case("broken-boundary", raw, "refuse", 554, ("no attachment or text to fax",))


def missing_boundary() -> Case:
    raw = _headers("multipart/mixed") + b"--x\r\n" + _pdf_part() + b"--x--\r\n"
    return Case("missing-boundary", raw, "refuse", 554, ("no attachment or text to fax",))


def unterminated_multipart() -> Case:
    """No closing boundary: the PDF part is still complete, so it is faxed."""
    raw = _headers('multipart/mixed; boundary="b1"') + b"--b1\r\n" + _pdf_part()
    return Case("unterminated-multipart", raw, "fax", documents=("scan.pdf",))


def header_injection_in_filename() -> Case:
    """CR LF smuggled into a filename, through RFC 2231 and a quoted string."""
    encoded = "attachment; filename*=utf-8''invoice%0D%0ABcc%3A%20victim%40evil.test%0D%0A.pdf"
    quoted = 'attachment; filename="a\\"\r\n\tX-Injected: yes.pdf"'
    raw = _multipart(_pdf_part(encoded), _pdf_part(quoted))
    return Case(
        "header-injection-filename",
        raw,
        "fax",
        documents=("*", "*"),
    )


def very_long_lines() -> Case:
    """A 200 000-character body line and a base64 attachment on one single line."""
    text = b"Content-Type: text/plain; charset=us-ascii\r\n\r\n" + b"x" * 200_000 + b"\r\n"
    one_line = (
        b"Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"
        b'Content-Disposition: attachment; filename="one-line.pdf"\r\n\r\n' + PDF_B64 * 1 + b"\r\n"
    )
    raw = _multipart(text, one_line)
    return Case("very-long-lines", raw, "fax", documents=("one-line.pdf",))


def very_long_header() -> Case:
    """A 100 000-character Subject folded over many lines, and a 50 000-character parameter list."""
    subject = " ".join(["word"] * 20_000)
    params = "; ".join(f"p{i}=v{i}" for i in range(5_000))
    raw = _headers(f'multipart/mixed; boundary="b1"; {params}', subject=subject)
    raw = raw.replace(b"Subject: ", b"Subject:\r\n ", 1)
    raw += b"--b1\r\n" + _pdf_part() + b"--b1--\r\n"
    return Case("very-long-header", raw, "fax", documents=("scan.pdf",))


def eight_bit_garbage() -> Case:
    """Raw 8-bit bytes in headers, a filename and a text body that declares no charset."""
    garbage = bytes(range(0x80, 0x100))
    raw = (
        b"From: " + garbage[:10] + b" <alice@example.com>\r\nTo: " + TO.encode() + b"\r\n"
        b"Subject: " + garbage + b"\r\nMessage-ID: <hostile@example.com>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
        b"--b1\r\nContent-Type: text/plain\r\n\r\n" + garbage * 4 + b"\r\n"
        b"--b1\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"
        b'Content-Disposition: attachment; filename="\xff\xfescan\x80.pdf"\r\n\r\n'
        + _wrap(PDF_B64)
        + b"\r\n--b1--\r\n"
    )
    return Case("eight-bit-garbage", raw, "fax", documents=("scan.pdf",))


def invalid_rfc2047() -> Case:
    subject = "=?utf-8?B?!!!not-base64!!!?= =?x-no-such-charset?Q?abc?= =?utf-8?Q?unterminated"
    disposition = 'attachment; filename="=?utf-8?B?@@@?=.pdf"'
    raw = _headers('multipart/mixed; boundary="b1"', subject=subject) + (
        b"--b1\r\n" + _pdf_part(disposition) + b"--b1--\r\n"
    )
    return Case("invalid-rfc2047", raw, "fax", documents=("*",))


def invalid_rfc2231() -> Case:
    parts = [
        "attachment; filename*=no-such-charset''%FF%FE%ZZbad.pdf",
        "attachment; filename*0*=utf-8''first; filename*2=third.pdf",
        "attachment; filename*=utf-8'en'%E2%28%A1.pdf",
    ]
    raw = _multipart(*(_pdf_part(p) for p in parts))
    return Case("invalid-rfc2231", raw, "fax", documents=("*", "*", "*"))


def forwarded_message() -> Case:
    """message/rfc822 with its own PDF inside: the inner attachment is faxed, the texts are not."""
    inner = (
        b"From: bob@example.com\r\nTo: alice@example.com\r\nSubject: the original\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="inner"\r\n\r\n'
        b"--inner\r\nContent-Type: text/plain\r\n\r\nSee the contract.\r\n"
        b"--inner\r\n" + _pdf_part('attachment; filename="contract.pdf"') + b"--inner--\r\n"
    )
    raw = _multipart(
        b"Content-Type: text/plain\r\n\r\nForwarding this, please fax.\r\n",
        b"Content-Type: message/rfc822\r\nContent-Disposition: attachment\r\n\r\n" + inner,
    )
    return Case("forwarded-message", raw, "fax", documents=("contract.pdf",))


def tnef_winmail() -> Case:
    part = (
        b"Content-Type: application/ms-tnef; name=winmail.dat\r\nContent-Transfer-Encoding: base64\r\n"
        b'Content-Disposition: attachment; filename="winmail.dat"\r\n\r\n'
        + _wrap(base64.b64encode(tnef_bytes()))
        + b"\r\n"
    )
    raw = _multipart(part)
    return Case("tnef-winmail", raw, "refuse", 554, ("5.6.0", "winmail.dat", "without files"))


def zip_archive() -> Case:
    part = (
        b"Content-Type: application/zip\r\nContent-Transfer-Encoding: base64\r\n"
        b'Content-Disposition: attachment; filename="scans.zip"\r\n\r\n'
        + _wrap(base64.b64encode(zip_bytes()))
        + b"\r\n"
    )
    return Case("zip", _multipart(part), "refuse", 554, ("5.6.1", "scans.zip", "ZIP"))


def zip_renamed_pdf() -> Case:
    part = (
        b"Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"
        b'Content-Disposition: attachment; filename="invoice.pdf"\r\n\r\n'
        + _wrap(base64.b64encode(zip_bytes()))
        + b"\r\n"
    )
    return Case("zip-renamed-pdf", _multipart(part), "refuse", 554, ("5.6.1", "invoice.pdf", "ZIP"))


def empty_attachment() -> Case:
    part = (
        b'Content-Type: application/pdf\r\nContent-Disposition: attachment; filename="empty.pdf"\r\n\r\n\r\n'
    )
    return Case("empty-attachment", _multipart(part), "refuse", 554, ("5.6.1", "empty.pdf"))


def zero_byte_message() -> Case:
    return Case("zero-byte-message", b"", "refuse", 554, ("5.6.0",))


def headers_only() -> Case:
    return Case(
        "headers-only",
        f"From: {FROM}\r\nTo: {TO}\r\nSubject: nothing\r\n".encode(),
        "refuse",
        554,
        ("5.6.0",),
    )


def deep_nesting(levels: int = 400) -> Case:
    """Hundreds of multiparts inside each other, with a PDF at the bottom."""
    body = b"--b%d\r\n" % (levels - 1) + _pdf_part() + b"--b%d--\r\n" % (levels - 1)
    for level in range(levels - 2, -1, -1):
        body = (
            b'--b%d\r\nContent-Type: multipart/mixed; boundary="b%d"\r\n\r\n' % (level, level + 1)
            + body
            + b"--b%d--\r\n" % level
        )
    raw = _headers('multipart/mixed; boundary="b0"') + body
    return Case("deep-nesting", raw, "refuse", 554, ("multipart",))


def deep_forwarding(levels: int = 80) -> Case:
    """message/rfc822 inside message/rfc822, over and over."""
    inner = f"From: {FROM}\r\nSubject: bottom\r\nContent-Type: text/plain\r\n\r\nbottom\r\n".encode()
    for _ in range(levels):
        inner = b"From: x@example.com\r\nContent-Type: message/rfc822\r\n\r\n" + inner
    raw = _headers("message/rfc822") + inner
    return Case("deep-forwarding", raw, "refuse", 554, ())


def path_traversal_filename() -> Case:
    raw = _multipart(
        _pdf_part('attachment; filename="../../etc/passwd.pdf"'),
        _pdf_part("attachment; filename*=utf-8''..%2F..%2F..%2Ftmp%2Fevil.pdf"),
        _pdf_part('attachment; filename="C:\\\\Windows\\\\system32\\\\evil.pdf"'),
        _pdf_part('attachment; filename="/etc/shadow.pdf"'),
    )
    return Case(
        "path-traversal-filename",
        raw,
        "fax",
        documents=("passwd.pdf", "evil.pdf", "evil.pdf", "shadow.pdf"),
    )


def many_parts(count: int = 1500) -> Case:
    parts = [b"Content-Type: text/plain\r\n\r\nx\r\n"] * count
    return Case("many-parts", _multipart(*parts), "refuse", 554, ("5.6.0", "parts"))


def broken_base64() -> Case:
    part = (
        b"Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"
        b'Content-Disposition: attachment; filename="broken.pdf"\r\n\r\n'
        b"%%%% this is not base64 at all ****\r\n===\r\n"
    )
    return Case("broken-base64", _multipart(part), "refuse", 554, ("broken.pdf",))


def encrypted_mail() -> Case:
    raw = _headers('multipart/encrypted; protocol="application/pgp-encrypted"; boundary="e"') + (
        b"--e\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n"
        b"--e\r\nContent-Type: application/octet-stream\r\n\r\n-----BEGIN PGP MESSAGE-----\r\n"
        b"--e--\r\n"
    )
    return Case("encrypted", raw, "refuse", 554, ("encrypted",))


def nul_bytes_and_bare_lf() -> Case:
    raw = (
        f"From: {FROM}\nTo: {TO}\nSubject: nul\x00byte\n".encode()
        + b"Message-ID: <hostile@example.com>\nMIME-Version: 1.0\n"
        + b'Content-Type: multipart/mixed; boundary="b1"\n\n'
        + b"--b1\nContent-Type: text/plain\n\nhello\x00world\n"
        + b"--b1\nContent-Type: application/pdf\nContent-Transfer-Encoding: base64\n"
        + b'Content-Disposition: attachment; filename="nul\x00.pdf"\n\n'
        + PDF_B64
        + b"\n--b1--\n"
    )
    return Case("nul-bytes-bare-lf", raw, "fax", documents=("nul.pdf",))


def bidi_filename() -> Case:
    name = "invoice\u202efdp.exe"
    disposition = "attachment; filename*=utf-8''" + "".join(f"%{b:02X}" for b in name.encode())
    return Case(
        "bidi-filename",
        _multipart(_pdf_part(disposition)),
        "fax",
        documents=("invoicefdp.pdf",),
    )


def corpus() -> list[Case]:
    """Every case, each with a Message-ID of its own (the same one twice is a duplicate)."""
    cases = [
        broken_boundary(),
        missing_boundary(),
        unterminated_multipart(),
        header_injection_in_filename(),
        very_long_lines(),
        very_long_header(),
        eight_bit_garbage(),
        invalid_rfc2047(),
        invalid_rfc2231(),
        forwarded_message(),
        tnef_winmail(),
        zip_archive(),
        zip_renamed_pdf(),
        empty_attachment(),
        zero_byte_message(),
        headers_only(),
        deep_nesting(),
        deep_forwarding(),
        path_traversal_filename(),
        many_parts(),
        broken_base64(),
        encrypted_mail(),
        nul_bytes_and_bare_lf(),
        bidi_filename(),
    ]
    return [
        replace(case, raw=case.raw.replace(b"<hostile@example.com>", f"<{case.name}@hostile.test>".encode()))
        for case in cases
    ]
