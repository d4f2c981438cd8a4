"""The few bytes the daemon and its render worker say to each other over a pipe.

Each message is a length-prefixed JSON header followed by raw bytes whose lengths the header
gives. Nothing is pickled: the worker handles strangers' HTML, and what it says is only data.
"""

from __future__ import annotations

import json
import struct
from typing import Any

_LENGTH = struct.Struct(">I")
MAX_HEADER = 64 * 1024 * 1024


def encode(header: dict[str, Any], blobs: list[bytes]) -> bytes:
    """``header`` (with the length of each blob added) and the blobs, as one message."""
    text = json.dumps({**header, "blobs": [len(blob) for blob in blobs]}).encode()
    return _LENGTH.pack(len(text)) + text + b"".join(blobs)


def header_length(prefix: bytes) -> int:
    (length,) = _LENGTH.unpack(prefix)
    if length > MAX_HEADER:
        raise ValueError(f"a header of {length} bytes")
    return int(length)


def decode_header(text: bytes) -> tuple[dict[str, Any], list[int]]:
    header = json.loads(text)
    if not isinstance(header, dict):
        raise ValueError("the header is not an object")  # noqa: TRY004 - a protocol error, like the others
    blobs = header.pop("blobs", [])
    if not isinstance(blobs, list) or not all(isinstance(n, int) and n >= 0 for n in blobs):
        raise ValueError("the blob lengths are not counts")
    return header, blobs


PREFIX_BYTES = _LENGTH.size
