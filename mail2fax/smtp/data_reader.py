"""The DATA of one mail as it arrives, read in large slices and checked as aiosmtpd checks it."""

from __future__ import annotations

import io

AIOSMTPD_LINE_TOO_LONG = "500 Line too long (see RFC5321 4.5.3.1.6)"


class DataReader:
    """The DATA of one mail as it arrives, checked as aiosmtpd checks it line by line.

    A line (its CR LF included) longer than ``line_limit`` makes it ``500 Line too long``, more
    than ``size_limit`` bytes ``552``; whichever line comes first decides, and on the same line
    the length wins only when the line without its CR LF is already too long (aiosmtpd's reader
    notices that before counting the line). After a problem the rest is read and dropped.
    """

    def __init__(self, size_limit: int | None, line_limit: int):
        self._size_limit = size_limit
        self._line_limit = line_limit
        self._content = io.BytesIO()  # grows in place: no second copy of a large mail at the end
        self._stuffed = False  # a line of it begins with a dot
        self._size = 0  # bytes so far
        self._line_start = 0  # where the line being read began
        self._tail = b""  # the last two bytes so far
        self._too_long: tuple[int, bool] | None = None  # (line start, too long without CR LF)
        self._too_much: int | None = None  # start of the line that went over the size limit
        self.problem: str | None = None

    def add(self, piece: bytes) -> bool:
        """Take a piece; True when it ended the mail (the lone dot line, left out)."""
        ended = piece.endswith(b".\r\n") and (self._tail + piece[:-3]).endswith(b"\r\n")
        ended = ended or (piece == b".\r\n" and self._size == 0)
        data = piece[:-3] if ended else piece
        self._stuffed = self._stuffed or b"\r\n." in data or b"\r\n." in self._tail + data[:2]
        self._stuffed = self._stuffed or (self._size == 0 and data.startswith(b"."))
        self._measure(data)
        if self._too_long is None and self._too_much is None:
            self._content.write(data)
        elif self._content.tell():
            self._content = io.BytesIO()  # never kept, like aiosmtpd
        if ended:
            self._decide()
        return ended

    def _measure(self, data: bytes) -> None:
        if not data:
            return
        at = self._size
        text = self._tail[-1:] + data if self._tail.endswith(b"\r") else data
        shift = len(text) - len(data)  # a CR from the last piece may begin a CR LF here
        self._size += len(data)
        self._tail = (self._tail + data)[-2:]
        if self._size_limit and self._too_much is None and self._size > self._size_limit:
            over = self._size_limit - at + shift  # the first byte over the limit, in text
            start = text.rfind(b"\r\n", 0, over)
            self._too_much = self._line_start if start < 0 else at - shift + start + 2
        first = text.find(b"\r\n")
        if first < 0:
            self._check_unfinished(self._size - self._line_start)
            return
        self._check_line(self._line_start, at - shift + first + 2 - self._line_start)
        last = text.rfind(b"\r\n")
        # A longer line than the limit inside this piece holds one of these probe positions.
        probe = first + 2 + self._line_limit
        while probe < last + 2:
            start = text.rfind(b"\r\n", 0, probe) + 2
            end = text.find(b"\r\n", probe - 1) + 2
            self._check_line(at - shift + start, end - start)
            probe = end + self._line_limit
        self._line_start = at - shift + last + 2
        self._check_unfinished(self._size - self._line_start)

    def _check_line(self, start: int, length: int) -> None:
        if length > self._line_limit and self._too_long is None:
            self._too_long = (start, length - 2 > self._line_limit)

    def _check_unfinished(self, length: int) -> None:
        without_cr = length - 1 if self._tail.endswith(b"\r") else length
        if without_cr > self._line_limit and self._too_long is None:
            self._too_long = (self._line_start, True)

    def _decide(self) -> None:
        long_line, much = self._too_long, self._too_much
        if long_line is None and much is None:
            return
        too_long = much is None or (
            long_line is not None and (long_line[0] < much or (long_line[0] == much and long_line[1]))
        )
        self.problem = AIOSMTPD_LINE_TOO_LONG if too_long else "552 Error: Too much mail data"

    def content(self) -> bytes:
        """The mail as sent, the dot that starts a line removed (RFC 5321, section 4.5.2)."""
        content = self._content.getvalue()
        self._content = io.BytesIO()
        if not self._stuffed:
            return content
        if content.startswith(b"."):
            content = content[1:]
        return content.replace(b"\r\n.", b"\r\n")
