"""What crosses the wire to RingCentral: the fax request body and the meaning of the answers.

Nothing here talks to the network. The multipart body reads the spooled documents only while
it is being sent, in chunks, so a large fax is never held in memory.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import secrets
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from mail2fax.backends.base import UNCERTAIN_STATUSES
from mail2fax.errors import (
    BackendAuthError,
    BackendError,
    PermanentBackendError,
    TemporaryBackendError,
    UncertainSubmission,
)
from mail2fax.models import StoredDocument

CHUNK_SIZE = 256 * 1024
# A longer Retry-After is taken as a mistake: no group is closed for more than an hour.
MAX_RETRY_AFTER = 3600.0

# Error codes that mean "not now" whatever the HTTP status says.
TRY_LATER_CODES = frozenset({"CMN-201", "CMN-203", "CMN-301", "CMN-302", "CMN-310", "MSG-305"})
# The app or user lacks a permission: an operator's fix, not the fault of one fax.
PERMISSION_CODES = frozenset({"CMN-401", "CMN-408"})

_HEADER_UNSAFE = re.compile(r'[\r\n"\\]')


def utc_text(moment: datetime) -> str:
    """``2024-05-01T12:00:00.000Z``: whole seconds in UTC; a naive time is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _header_value(value: str) -> str:
    return _HEADER_UNSAFE.sub("_", value)


@dataclass(frozen=True, slots=True)
class _FilePart:
    head: bytes
    path: str
    size: int


class MultipartBody:
    """A ``multipart/mixed`` fax request: the JSON envelope, then each document in order.

    Iterating it reads the files again from the start, so one body can be sent more than once.
    """

    def __init__(self, envelope: Mapping[str, Any], files: Sequence[tuple[StoredDocument, int]]):
        self.boundary = f"mail2fax-{secrets.token_hex(16)}"
        dash = f"--{self.boundary}".encode("ascii")
        data = json.dumps(envelope, ensure_ascii=True, separators=(",", ":")).encode("ascii")
        self._head = dash + b"\r\nContent-Type: application/json\r\n\r\n" + data
        self._parts = [
            _FilePart(
                head=b"\r\n"
                + dash
                + (
                    f"\r\nContent-Type: {_header_value(document.content_type)}\r\n"
                    f'Content-Disposition: attachment; filename="{_header_value(document.filename)}"'
                    "\r\n\r\n"
                ).encode(),
                path=document.path,
                size=size,
            )
            for document, size in files
        ]
        self._tail = b"\r\n" + dash + b"--\r\n"
        self.length = len(self._head) + sum(len(p.head) + p.size for p in self._parts) + len(self._tail)

    @property
    def content_type(self) -> str:
        return f"multipart/mixed; boundary={self.boundary}"

    def headers(self) -> dict[str, str]:
        return {"Content-Type": self.content_type, "Content-Length": str(self.length)}

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        yield self._head
        for part in self._parts:
            yield part.head
            async for chunk in _read_exactly(part.path, part.size):
                yield chunk
        yield self._tail


async def _read_exactly(path: str, size: int) -> AsyncIterator[bytes]:
    try:
        handle = await asyncio.to_thread(open, path, "rb")
    except OSError as exc:
        raise PermanentBackendError(f"cannot read document {os.path.basename(path)}: {exc.strerror}") from exc
    try:
        left = size
        while left > 0:
            chunk = await asyncio.to_thread(handle.read, min(CHUNK_SIZE, left))
            if not chunk:
                raise PermanentBackendError(f"document {os.path.basename(path)} shrank while it was sent")
            left -= len(chunk)
            yield chunk
    finally:
        await asyncio.to_thread(handle.close)


async def multipart_body(envelope: Mapping[str, Any], documents: Sequence[StoredDocument]) -> MultipartBody:
    """Size every document from the file itself; a missing file is a permanent error."""
    sized: list[tuple[StoredDocument, int]] = []
    for document in documents:
        try:
            size = (await asyncio.to_thread(os.stat, document.path)).st_size
        except OSError as exc:
            raise PermanentBackendError(
                f"document {document.filename} is not in the spool: {exc.strerror}"
            ) from exc
        sized.append((document, size))
    return MultipartBody(envelope, sized)


def retry_after(headers: httpx.Headers, now: datetime) -> float | None:
    """``Retry-After`` in seconds (delta-seconds or an HTTP date), capped at an hour."""
    value = headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        seconds = (moment - now).total_seconds()
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def json_body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def error_details(response: httpx.Response) -> tuple[str | None, str]:
    """RingCentral's ``errorCode`` and a readable message from an error answer."""
    body = json_body(response)
    errors = body.get("errors")
    first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
    code = first.get("errorCode") or body.get("errorCode")
    message = (
        first.get("message")
        or body.get("message")
        or body.get("error_description")
        or body.get("error")
        or response.reason_phrase
        or "no explanation"
    )
    return (str(code) if code else None), str(message)


def classify(
    response: httpx.Response, *, window: float, now: datetime, auth: bool = False, uncertain: bool = False
) -> BackendError:
    """The one place an unsuccessful answer becomes an error class.

    ``auth`` marks the token endpoint, where any client error means the credentials are wrong.
    ``uncertain`` marks a fax request: a ``500``, ``502`` or ``504`` after it left proves nothing
    about whether the fax was created. Any other request is simply tried again.
    """
    status = response.status_code
    code, message = error_details(response)
    text = f"RingCentral answered {status}: {message}"
    wait = retry_after(response.headers, now)
    if status == 429:
        return TemporaryBackendError(text, code=code, retry_after=wait if wait is not None else window)
    if uncertain and status in UNCERTAIN_STATUSES:
        return UncertainSubmission(text, code=code, retry_after=wait)
    if status >= 500 or status in (408, 425) or code in TRY_LATER_CODES:
        return TemporaryBackendError(text, code=code, retry_after=wait)
    if status == 401 or code in PERMISSION_CODES or (auth and 400 <= status < 500):
        error = json_body(response).get("error")
        return BackendAuthError(text, code=code or (str(error) if error else None))
    return PermanentBackendError(text, code=code)


def next_page(body: Mapping[str, Any]) -> str | None:
    """The path and query of ``navigation.nextPage.uri``, to be sent to our own server only."""
    navigation = body.get("navigation")
    page = navigation.get("nextPage") if isinstance(navigation, dict) else None
    uri = page.get("uri") if isinstance(page, dict) else None
    if not isinstance(uri, str) or not uri:
        return None
    url = httpx.URL(uri)
    return url.raw_path.decode("ascii")
