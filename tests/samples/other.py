"""PDF and text documents, and things that must never be faxed (archives, programs, media)."""

from __future__ import annotations

import gzip
import hashlib
import io
import struct
import zipfile


def pdf_bytes(pages: int = 1, text: str = "mail2fax test page") -> bytes:
    """A valid PDF 1.4 with ``pages`` Letter pages, each showing ``text`` and its page number."""
    if pages < 1:
        raise ValueError("a PDF needs at least one page")
    safe = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    font_id = 3
    page_ids = [4 + 2 * n for n in range(pages)]
    objects: dict[int, bytes] = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: b"<< /Type /Pages /Kids [%s] /Count %d >>"
        % (b" ".join(b"%d 0 R" % pid for pid in page_ids), pages),
        font_id: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    }
    for number, pid in enumerate(page_ids, start=1):
        stream = f"BT /F1 24 Tf 72 700 Td ({safe} {number}/{pages}) Tj ET".encode("latin-1")
        objects[pid] = (
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 %d 0 R >> >> /Contents %d 0 R >>" % (font_id, pid + 1)
        )
        objects[pid + 1] = b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream)
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = {}
    for number in sorted(objects):
        offsets[number] = out.tell()
        out.write(b"%d 0 obj\n%s\nendobj\n" % (number, objects[number]))
    xref = out.tell()
    count = max(objects) + 1
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % count)
    for number in range(1, count):
        out.write(b"%010d 00000 n \n" % offsets[number])
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (count, xref))
    return out.getvalue()


def text_bytes(text: str = "Hello,\n\nplease fax this note.\n") -> bytes:
    return text.encode("utf-8")


def csv_bytes() -> bytes:
    return b"name,number,pages\nAlice,+14155551212,3\nBob,+442071838750,1\nCarol,+4930901820,12\n"


def c_source_bytes() -> bytes:
    return b'#include <stdio.h>\n\nint main(void)\n{\n    printf("hello\\n");\n    return 0;\n}\n'


def html_bytes(text: str = "Hello from mail2fax") -> bytes:
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>Fax</title></head>\n'
        f"<body><h1>Fax</h1><p>{text}</p></body></html>\n"
    ).encode()


def xml_bytes() -> bytes:
    return b'<?xml version="1.0" encoding="UTF-8"?>\n<order id="42"><item sku="A1" qty="2"/></order>\n'


def vdx_bytes() -> bytes:
    """A Visio 2003 XML drawing: plain XML with a VisioDocument root."""
    return (
        b'<?xml version="1.0" encoding="utf-8"?>\n'
        b'<VisioDocument xmlns="http://schemas.microsoft.com/visio/2003/core"><Pages/></VisioDocument>\n'
    )


def rtf_bytes(text: str = "Hello from mail2fax") -> bytes:
    return b"{\\rtf1\\ansi\\deff0{\\fonttbl{\\f0 Helvetica;}}\\f0\\fs24 %s\\par}\n" % text.encode("ascii")


def svg_bytes() -> bytes:
    return (
        b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
        b'<rect width="10" height="10"/></svg>\n'
    )


# --- never faxed -----------------------------------------------------------------------------


def zip_bytes() -> bytes:
    """A plain ZIP archive holding a PDF."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("invoice.pdf", pdf_bytes())
        archive.writestr("readme.txt", "see invoice.pdf\n")
    return buffer.getvalue()


def gzip_bytes() -> bytes:
    return gzip.compress(pdf_bytes(), mtime=0)


def elf_bytes() -> bytes:
    """A 64-bit x86-64 Linux executable: header, one program header, an exit(0) syscall."""
    code = bytes.fromhex("b83c00000031ff0f05")  # mov eax, 60; xor edi, edi; syscall
    base = 0x400000
    entry = base + 64 + 56
    header = (
        b"\x7fELF\x02\x01\x01"
        + bytes(9)
        + struct.pack("<HHIQQQIHHHHHH", 2, 0x3E, 1, entry, 64, 0, 0, 64, 56, 1, 0, 0, 0)
    )
    size = 64 + 56 + len(code)
    program = struct.pack("<IIQQQQQQ", 1, 5, 0, base, base, size, size, 0x1000)
    return header + program + code


def pe_bytes() -> bytes:
    """A Windows PE32 executable skeleton: MZ stub, PE signature, COFF and optional header."""
    dos = bytearray(b"MZ" + bytes(0x3A) + struct.pack("<I", 0x40))
    coff = struct.pack("<HHIIIHH", 0x14C, 0, 0, 0, 0, 224, 0x0102)
    optional = struct.pack("<HBB", 0x10B, 14, 0) + bytes(220)
    return bytes(dos) + b"PE\x00\x00" + coff + optional


def dos_exe_bytes() -> bytes:
    """An MS-DOS MZ executable without a PE header."""
    return b"MZ" + struct.pack("<HHHHHHHHHHHH", 0x90, 3, 0, 4, 0, 0xFFFF, 0, 0xB8, 0, 0, 0, 0x40) + bytes(64)


def tnef_bytes() -> bytes:
    """A minimal winmail.dat (Outlook TNEF): signature, key, TNEF version and code page."""

    def attribute(ident: int, data: bytes) -> bytes:
        return b"\x01" + struct.pack("<II", ident, len(data)) + data + struct.pack("<H", sum(data) & 0xFFFF)

    return (
        struct.pack("<IH", 0x223E9F78, 0x0001)
        + attribute(0x00089006, struct.pack("<I", 0x00010000))
        + attribute(0x00069007, struct.pack("<II", 1252, 0))
    )


def wav_bytes() -> bytes:
    """A tenth of a second of 8 kHz 8-bit mono silence."""
    samples = b"\x80" * 800
    fmt = struct.pack("<HHIIHH", 1, 1, 8000, 8000, 1, 8)
    return (
        b"RIFF"
        + struct.pack("<I", 4 + 8 + len(fmt) + 8 + len(samples))
        + b"WAVE"
        + b"fmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"data"
        + struct.pack("<I", len(samples))
        + samples
    )


def mp4_bytes() -> bytes:
    """The start of an MP4 video: an ftyp box and an empty mdat."""
    ftyp = b"isom" + struct.pack(">I", 0x200) + b"isomiso2avc1mp41"
    return struct.pack(">I", 8 + len(ftyp)) + b"ftyp" + ftyp + struct.pack(">I", 8) + b"mdat"


def random_bytes(size: int = 4096, seed: bytes = b"mail2fax") -> bytes:
    """Deterministic bytes that look like nothing in particular."""
    out = bytearray()
    block = seed
    while len(out) < size:
        block = hashlib.sha256(block).digest()
        out += block
    return bytes(out[:size])
