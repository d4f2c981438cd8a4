"""Attachment bytes of big mails, without the copies the email package would make.

A 28 MB scan is 370,000 base64 lines. The email package parses them one by one in Python and
decodes a body by encoding it again, splitting and joining it: seconds of work holding the GIL
and several copies of the scan. Here long base64 stretches are cut out of the mail before it is
parsed (:class:`Runs`) and decoded from the raw bytes one MiB at a time (:func:`attachment_bytes`).
"""

from __future__ import annotations

import binascii
import io
import re
import secrets
import time
from collections.abc import Iterator
from email.message import Message
from typing import Any

_DECODE_CHARS = 1024 * 1024  # base64 attachments are decoded this much at a time (a multiple of 4)
_BIG_RUN = 1024 * 1024  # base64 stretches this long are kept out of the email parser (see _Runs)
_SCAN_BYTES = 256 * 1024  # the mail is searched for them this much at a time (at most _BIG_RUN)
_BASE64_OR_CRLF = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\r\n"
_OTHER_BYTES = bytes(1 if byte in _BASE64_OR_CRLF else 0 for byte in range(256))  # 0: any other


class Runs:
    """Long stretches of base64 lines, cut out of a mail before the email package parses it.

    The parser handles a mail line by line in Python and keeps each body as one string: for a
    28 MB scan that is seconds of work holding the GIL and several copies of the scan. Each
    stretch of at least _BIG_RUN bytes made only of base64 lines is replaced by one line, a
    token of base64 characters that no sender can guess, so the parser sees the same structure
    (such lines can be no header, boundary or blank line); the bytes are read from the raw mail
    again when a part's content is needed.
    """

    def __init__(self, raw: bytes, text: bytes, spans: list[tuple[int, int]], prefix: str):
        self.raw = raw
        self.text = text  # the mail as the parser gets it
        self.spans = spans
        self.prefix = prefix

    @classmethod
    def cut(cls, raw: bytes) -> Runs:
        prefix = f"M2FXRUN{secrets.token_hex(8)}N"
        spans = [lines for found in _clean_stretches(raw) if (lines := _whole_lines(raw, *found))]
        if not spans:
            return cls(raw, raw, [], prefix)
        pieces, end = [], 0
        for index, (start, stop) in enumerate(spans):
            pieces += [raw[end:start], f"{prefix}{index:06d}".encode()]
            end = stop
        pieces.append(raw[end:])
        return cls(raw, b"".join(pieces), spans, prefix)

    def pieces(self, payload: str) -> Iterator[str | tuple[int, int]]:
        """``payload`` as text and the (start, stop) spans of ``raw`` its tokens stand for."""
        if not self.spans or self.prefix not in payload:
            yield payload
            return
        parts = re.split(re.escape(self.prefix) + r"([0-9]{6})", payload)
        for position, piece in enumerate(parts):
            if position % 2 == 0:
                yield piece
            else:
                yield self.spans[int(piece)]

    def restore(self, part: Message) -> None:
        """Put the cut stretches back into ``part``'s payload, for the email package to read."""
        payload = part.get_payload()
        if isinstance(payload, str) and self.spans and self.prefix in payload:
            restored = "".join(
                piece if isinstance(piece, str) else self.raw[piece[0] : piece[1]].decode("ascii")
                for piece in self.pieces(payload)
            )
            part.set_payload(restored)

    def restore_texts(self, msg: Message) -> None:
        """Restore every text part: their text is read as a whole (bodies, alternatives)."""
        stack = [msg] if self.spans else []
        while stack:
            part = stack.pop()
            payload = part.get_payload()
            if isinstance(payload, list):
                stack.extend(inner for inner in payload if isinstance(inner, Message))
            elif safe_read(part.get_content_maintype) == "text":
                self.restore(part)


def _clean_stretches(raw: bytes) -> Iterator[tuple[int, int]]:
    """Stretches of at least _BIG_RUN bytes holding nothing but base64 characters and CR LF."""
    after_other = 0  # where the current stretch began: just after the last other byte
    for start in range(0, len(raw), _SCAN_BYTES):
        kinds = raw[start : start + _SCAN_BYTES].translate(_OTHER_BYTES)
        first = kinds.find(0)
        if first < 0:
            continue
        if start + first - after_other >= _BIG_RUN:
            yield after_other, start + first
        after_other = start + kinds.rfind(0) + 1
        let_others_run()
    if len(raw) - after_other >= _BIG_RUN:
        yield after_other, len(raw)


def _whole_lines(raw: bytes, start: int, stop: int) -> tuple[int, int] | None:
    """The whole, non-empty, CR LF terminated lines inside ``raw[start:stop]``, their last CR LF
    left out; None when they are too short or hold a lone CR or LF or an empty line."""
    if start > 0:
        start = raw.find(b"\r\n", start, stop) + 2
        if start < 2:
            return None
    while raw.startswith(b"\r\n", start):
        start += 2
    stop = raw.rfind(b"\r\n", start, stop)
    if stop - start < _BIG_RUN:
        return None
    breaks = returns = feeds = 0
    for low in range(start, stop, _DECODE_CHARS):
        high = min(low + _DECODE_CHARS, stop)
        breaks += raw.count(b"\r\n", low, min(high + 1, stop))  # each CR LF where it begins
        returns += raw.count(b"\r", low, high)
        feeds += raw.count(b"\n", low, high)
        if raw.find(b"\r\n\r\n", low, min(high + 3, stop)) >= 0:
            return None
        let_others_run()
    if returns != breaks or feeds != breaks:
        return None
    return start, stop


def let_others_run() -> None:
    """Give up the GIL between the steps over a large mail, so that the event loop (which
    wants it back after every wait) is not kept waiting for a whole switch interval."""
    time.sleep(0)


def attachment_bytes(part: Message, runs: Runs) -> bytes:
    """``part.get_payload(decode=True)``, one MiB at a time for a well-formed base64 body.

    The email package encodes the whole text again, splits it into lines, joins them and
    decodes the result: several copies of a large scan at once, made while holding the GIL.
    Anything but plain base64 is left to the email package, defects and all.
    """
    payload = part.get_payload()
    if (
        isinstance(payload, str)
        and payload.isascii()
        and str(part.get("content-transfer-encoding", "")).lower() == "base64"
    ):
        decoded = _base64_in_steps(_ascii_steps(runs, payload))
        if decoded is not None:
            return decoded
    runs.restore(part)
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


def _ascii_steps(runs: Runs, payload: str) -> Iterator[bytes]:
    """The bytes of ``payload``, its cut stretches put back, in slices of _DECODE_CHARS."""
    for piece in runs.pieces(payload):
        if isinstance(piece, str):
            for start in range(0, len(piece), _DECODE_CHARS):
                yield piece[start : start + _DECODE_CHARS].encode("ascii")
        else:
            for start in range(piece[0], piece[1], _DECODE_CHARS):
                yield runs.raw[start : min(start + _DECODE_CHARS, piece[1])]


def _base64_in_steps(steps: Iterator[bytes]) -> bytes | None:
    """The bytes of the base64 text in ``steps`` if, line breaks aside, it is strictly valid.

    Whole groups of four characters are decoded as they come, and padding may only end the
    text, so the result is the one the email package gets from the whole text in one call.
    """
    out = io.BytesIO()
    pending = b""
    for step in steps:
        data = pending + step.translate(None, b"\r\n")
        if pending.endswith(b"=") and len(data) > len(pending):
            return None  # text after padding
        if b"=" in data:
            pending = data  # only the end of the text may follow
            continue
        cut = len(data) - len(data) % 4
        try:
            out.write(binascii.a2b_base64(data[:cut], strict_mode=True))
        except binascii.Error:
            return None
        pending = data[cut:]
        let_others_run()
    try:
        out.write(binascii.a2b_base64(pending, strict_mode=True))
    except binascii.Error:
        return None
    return out.getvalue()


def safe_read(getter: Any) -> Any:
    """A header-derived value, or None when the email package cannot read it."""
    try:
        return getter()
    except Exception:  # noqa: BLE001 - an unreadable header is treated as absent
        return None
