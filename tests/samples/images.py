"""Tiny but valid raster images, written byte by byte: each opens in an ordinary viewer."""

from __future__ import annotations

import io
import struct
import zlib


def png_bytes(width: int = 16, height: int = 16) -> bytes:
    """An 8-bit greyscale PNG: white with a black frame."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    rows = bytearray()
    for y in range(height):
        rows.append(0)  # filter type "None" for this row
        for x in range(width):
            edge = x in (0, width - 1) or y in (0, height - 1)
            rows.append(0 if edge else 255)
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(rows)))
        + chunk(b"IEND", b"")
    )


def gif_bytes() -> bytes:
    """A 1x1 white GIF89a."""
    return (
        b"GIF89a"
        + struct.pack("<HHBBB", 1, 1, 0x80, 0, 0)  # screen 1x1, global table of 2 colours
        + b"\xff\xff\xff\x00\x00\x00"
        + b"\x2c"
        + struct.pack("<HHHHB", 0, 0, 1, 1, 0)  # image descriptor
        + b"\x02\x02\x44\x01\x00"  # LZW min code size 2, one data block, terminator
        + b"\x3b"
    )


class _BitWriter:
    def __init__(self) -> None:
        self.out = bytearray()
        self._acc = 0
        self._bits = 0

    def write(self, value: int, length: int) -> None:
        for shift in range(length - 1, -1, -1):
            self._acc = (self._acc << 1) | ((value >> shift) & 1)
            self._bits += 1
            if self._bits == 8:
                self._flush_byte()

    def _flush_byte(self) -> None:
        self.out.append(self._acc)
        if self._acc == 0xFF:
            self.out.append(0)  # byte stuffing inside entropy-coded data
        self._acc = 0
        self._bits = 0

    def close(self) -> bytes:
        while self._bits:
            self.write(1, 1)  # pad the last byte with one-bits
        return bytes(self.out)


def jpeg_bytes(width: int = 16, height: int = 16) -> bytes:
    """A white baseline (Huffman) greyscale JFIF image."""

    def segment(marker: int, body: bytes) -> bytes:
        return struct.pack(">BBH", 0xFF, marker, len(body) + 2) + body

    jfif = b"JFIF\x00\x01\x01\x01" + struct.pack(">HH", 200, 200) + b"\x00\x00"
    quant = b"\x00" + bytes([8] + [1] * 63)  # table 0; DC step 8
    frame = struct.pack(">BHHB", 8, height, width, 1) + b"\x01\x11\x00"
    # DC table: symbol 0 -> "0", symbol 7 -> "10"; AC table: only end-of-block -> "0".
    dc_table = b"\x00" + bytes([1, 1] + [0] * 14) + b"\x00\x07"
    ac_table = b"\x10" + bytes([1] + [0] * 15) + b"\x00"
    scan_header = b"\x01\x01\x00\x00\x3f\x00"
    bits = _BitWriter()
    blocks = ((width + 7) // 8) * ((height + 7) // 8)
    for index in range(blocks):
        if index == 0:
            bits.write(0b10, 2)  # DC difference of category 7 ...
            bits.write(127, 7)  # ... value 127: 8 * (255 - 128) / 8
        else:
            bits.write(0, 1)  # DC difference 0
        bits.write(0, 1)  # end of block
    return (
        b"\xff\xd8"
        + segment(0xE0, jfif)
        + segment(0xDB, quant)
        + segment(0xC0, frame)
        + segment(0xC4, dc_table)
        + segment(0xC4, ac_table)
        + segment(0xDA, scan_header)
        + bits.close()
        + b"\xff\xd9"
    )


def tiff_bytes(width: int = 64, height: int = 32) -> bytes:
    """A bilevel (1 bit per pixel, fax-like) uncompressed little-endian TIFF at 204x196 dpi."""
    row_bytes = (width + 7) // 8
    pixels = bytearray(row_bytes * height)
    for y in range(0, height, 4):  # a few black lines (WhiteIsZero: 1 is black)
        pixels[y * row_bytes : (y + 1) * row_bytes] = b"\xff" * row_bytes
    entries = 11
    ifd_offset = 8
    ifd_size = 2 + entries * 12 + 4
    rational_offset = ifd_offset + ifd_size
    data_offset = rational_offset + 16

    def tag(code: int, kind: int, value: int) -> bytes:
        if kind == 3:  # SHORT, left-justified in the value field
            return struct.pack("<HHIHH", code, kind, 1, value, 0)
        return struct.pack("<HHII", code, kind, 1, value)

    ifd = struct.pack("<H", entries) + b"".join(
        [
            tag(256, 4, width),
            tag(257, 4, height),
            tag(258, 3, 1),  # BitsPerSample
            tag(259, 3, 1),  # no compression
            tag(262, 3, 0),  # WhiteIsZero
            tag(273, 4, data_offset),  # StripOffsets
            tag(278, 4, height),  # RowsPerStrip
            tag(279, 4, len(pixels)),  # StripByteCounts
            tag(282, 5, rational_offset),  # XResolution
            tag(283, 5, rational_offset + 8),  # YResolution
            tag(296, 3, 2),  # inches
        ]
    )
    ifd += struct.pack("<I", 0)
    rationals = struct.pack("<IIII", 204, 1, 196, 1)
    return b"II*\x00" + struct.pack("<I", ifd_offset) + ifd + rationals + bytes(pixels)


def bmp_bytes(width: int = 4, height: int = 4) -> bytes:
    """A 24-bit Windows bitmap, white."""
    row = (width * 3 + 3) & ~3
    pixels = (b"\xff" * (width * 3)).ljust(row, b"\x00") * height
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, len(pixels), 2835, 2835, 0, 0)
    header = struct.pack("<2sIHHI", b"BM", 14 + len(info) + len(pixels), 0, 0, 14 + len(info))
    return header + info + pixels


def pcx_bytes(width: int = 8, height: int = 8) -> bytes:
    """A monochrome ZSoft PCX (version 5, run-length encoded), white."""
    bytes_per_line = ((width + 15) // 16) * 2
    header = struct.pack(
        "<BBBBHHHHHH48sBBHHHH54s",
        0x0A,  # manufacturer: ZSoft
        5,  # version 3.0+
        1,  # RLE
        1,  # bits per pixel
        0,
        0,
        width - 1,
        height - 1,
        200,
        200,
        b"\x00\x00\x00\xff\xff\xff".ljust(48, b"\x00"),
        0,
        1,  # planes
        bytes_per_line,
        1,  # palette: colour/bw
        0,
        0,
        b"\x00" * 54,
    )
    line = bytes([0xC0 | bytes_per_line, 0xFF])  # one run of white bytes per line
    return header + line * height


def tga_bytes(width: int = 4, height: int = 4) -> bytes:
    """An uncompressed 24-bit Truevision TGA, white, with the TGA 2.0 footer."""
    header = struct.pack("<BBBHHBHHHHBB", 0, 0, 2, 0, 0, 0, 0, 0, width, height, 24, 0x20)
    footer = struct.pack("<II", 0, 0) + b"TRUEVISION-XFILE.\x00"
    return header + b"\xff" * (width * height * 3) + footer


def psd_bytes(width: int = 4, height: int = 4) -> bytes:
    """A one-channel 8-bit greyscale Photoshop document, white, raw image data."""
    header = b"8BPS" + struct.pack(">H6xHIIHH", 1, 1, height, width, 8, 1)
    sections = struct.pack(">III", 0, 0, 0)  # colour mode data, image resources, layers
    image = struct.pack(">H", 0) + b"\xff" * (width * height)
    return header + sections + image


def tiff_frames(count: int, width: int = 64, height: int = 32) -> bytes:
    """A bilevel TIFF of ``count`` frames (pages), as a scanner sends a multi-page scan."""
    from PIL import Image

    frames = [Image.new("1", (width, height), color=index % 2) for index in range(count)]
    out = io.BytesIO()
    frames[0].save(out, "TIFF", save_all=True, append_images=frames[1:])
    return out.getvalue()
