"""Outlook's winmail.dat (TNEF): the files inside it, read with tnefparse.

Outlook sends a ``winmail.dat`` when it writes Rich Text mail. The files the sender attached
are inside it; the rest (the Rich Text copy of the body, formatting, Outlook's own properties)
is nothing a fax can show. A winmail.dat without files is left out of the fax.
"""

from __future__ import annotations

import logging
import struct
import warnings
from email.message import Message

from tnefparse import TNEF

from mail2fax.errors import UnfaxableDocument

logging.getLogger("tnefparse").setLevel(logging.CRITICAL)  # it logs every odd record it meets

TNEF_SIGNATURE = b"\x78\x9f\x3e\x22"
_TNEF_TYPES = frozenset(("application/ms-tnef", "application/vnd.ms-tnef"))
MAX_RECORDS = 10_000  # tnefparse copies the rest of the file for every record it reads
_HINT = (
    "; Outlook wraps attachments in winmail.dat when it sends Rich Text mail: "
    "please send the mail again as HTML or plain text"
)


def is_tnef(part: Message, filename: str | None, data: bytes) -> bool:
    named = (filename or "").strip().lower() in ("winmail.dat", "win.dat")
    return part.get_content_type() in _TNEF_TYPES or named or data.startswith(TNEF_SIGNATURE)


def tnef_files(data: bytes, label: str) -> list[tuple[str | None, bytes]]:
    """The attached files inside a TNEF stream, in order, as (filename, bytes)."""
    if _records(data) > MAX_RECORDS:
        raise UnfaxableDocument(f'"{label}" has more than {MAX_RECORDS} records{_HINT}')
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            found = TNEF(data)
            files = [(_name(attachment), attachment.data) for attachment in found.attachments]
    except Exception as exc:  # tnefparse fails in assorted ways on damaged input
        raise UnfaxableDocument(
            f'"{label}" is an Outlook TNEF attachment that cannot be read{_HINT}'
        ) from exc
    return [(name, payload) for name, payload in files if isinstance(payload, bytes) and payload]


def _name(attachment: object) -> str | None:
    try:
        name = attachment.long_filename()  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - a name that cannot be decoded is no name
        return None
    if isinstance(name, bytes):
        name = name.decode("latin-1")
    return name.strip("\x00").strip() or None if isinstance(name, str) else None


def _records(data: bytes) -> int:
    """How many attribute records the stream holds (level, id, length, data, checksum)."""
    count, offset = 0, 6
    while offset + 12 < len(data) and count <= MAX_RECORDS:
        (length,) = struct.unpack_from("<I", data, offset + 5)
        offset += 11 + length
        count += 1
    return count
