"""Raw MIME written the way mail clients write it: their header order, boundaries and encodings.

The builders return bytes with CRLF line ends. A part is its headers, a blank line and its body;
``multipart`` wraps parts in a boundary of the client's own style.
"""

from __future__ import annotations

import base64
import itertools
import quopri
import struct
from collections.abc import Sequence

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7

_counter = itertools.count(1)


def _lines(data: bytes, width: int = 76) -> bytes:
    return b"\r\n".join(data[i : i + width] for i in range(0, len(data), width))


def part(content_type: str, data: bytes, *headers: str, encoding: str = "base64") -> bytes:
    """One leaf part. ``headers`` come after Content-Type, as Outlook and Apple Mail order them."""
    if encoding == "base64":
        body = _lines(base64.b64encode(data))
    elif encoding == "quoted-printable":
        body = quopri.encodestring(data.replace(b"\r\n", b"\n")).replace(b"\n", b"\r\n")
    else:
        body = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    head = [f"Content-Type: {content_type}", *headers, f"Content-Transfer-Encoding: {encoding}"]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body + b"\r\n"


def text(subtype: str, content: str, *headers: str, encoding: str = "quoted-printable") -> bytes:
    return part(f'text/{subtype}; charset="utf-8"', content.encode(), *headers, encoding=encoding)


def multipart(subtype: str, *parts: bytes, style: str = "----=_NextPart_", params: str = "") -> bytes:
    boundary = f"{style}{next(_counter):04d}_{subtype[:3].upper()}"
    head = f'Content-Type: multipart/{subtype}; boundary="{boundary}"{params}\r\n\r\n'.encode()
    body = b"".join(b"--" + boundary.encode() + b"\r\n" + p for p in parts)
    return head + body + b"--" + boundary.encode() + b"--\r\n"


def message(
    top: bytes, *, subject: str, sender: str = "Alice Example <alice@example.com>", extra: Sequence[str] = ()
) -> bytes:
    """A whole mail around ``top`` (a part or a multipart), as it leaves the client."""
    number = next(_counter)
    head = [
        f"From: {sender}",
        "To: 14155551212@fax.local",
        f"Subject: {subject}",
        "Date: Tue, 01 Dec 2026 09:30:00 +0100",
        f"Message-ID: <corpus-{number}@example.com>",
        *extra,
        "MIME-Version: 1.0",
    ]
    return ("\r\n".join(head) + "\r\n").encode() + top


def rfc822(inner: bytes, *headers: str) -> bytes:
    head = ["Content-Type: message/rfc822", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + inner + b"\r\n"


# --- S/MIME -----------------------------------------------------------------------------------

_ca = trustme.CA(key_type=trustme.KeyType.RSA)
_leaf = _ca.issue_cert("alice@example.com", key_type=trustme.KeyType.RSA)
_CERT = x509.load_pem_x509_certificate(_leaf.cert_chain_pems[0].bytes())
_KEY = serialization.load_pem_private_key(_leaf.private_key_pem.bytes(), password=None)


def opaque_signed(entity: bytes) -> bytes:
    """An S/MIME SignedData that carries ``entity`` (a MIME part with its headers) inside."""
    builder = pkcs7.PKCS7SignatureBuilder().set_data(entity).add_signer(_CERT, _KEY, hashes.SHA256())  # type: ignore[arg-type]
    return builder.sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary])


def detached_signature(entity: bytes) -> bytes:
    builder = pkcs7.PKCS7SignatureBuilder().set_data(entity).add_signer(_CERT, _KEY, hashes.SHA256())  # type: ignore[arg-type]
    options = [pkcs7.PKCS7Options.Binary, pkcs7.PKCS7Options.DetachedSignature]
    return builder.sign(serialization.Encoding.DER, options)


def enveloped(entity: bytes) -> bytes:
    builder = pkcs7.PKCS7EnvelopeBuilder().set_data(entity).add_recipient(_CERT)
    return builder.encrypt(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary])


# --- Outlook TNEF -----------------------------------------------------------------------------


def tnef(*files: tuple[str, bytes]) -> bytes:
    """A winmail.dat: version, code page, and each file as Outlook writes it (rendering data
    first, then its title and its data, at the attachment level)."""

    def record(level: int, ident: int, data: bytes) -> bytes:
        return (
            bytes([level])
            + struct.pack("<II", ident, len(data))
            + data
            + struct.pack("<H", sum(data) & 0xFFFF)
        )

    out = struct.pack("<IH", 0x223E9F78, 0x0001)
    out += record(1, 0x00089006, struct.pack("<I", 0x00010000))
    out += record(1, 0x00069007, struct.pack("<II", 1252, 0))
    for name, data in files:
        out += record(2, 0x00069002, b"\xff\xff\xff\xff" + b"\x00" * 10)
        out += record(2, 0x00018010, name.encode("cp1252") + b"\x00")
        out += record(2, 0x0006800F, data)
    return out
