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
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from mail2fax.backends.base import FaxStatus, Outcome, Submission
from mail2fax.errors import (
    BackendAuthError,
    BackendError,
    PermanentBackendError,
    TemporaryBackendError,
    UncertainSubmission,
)
from mail2fax.models import Job, RecipientResult, StoredDocument

CHUNK_SIZE = 256 * 1024
# A longer Retry-After is taken as a mistake: no group is closed for more than an hour.
MAX_RETRY_AFTER = 3600.0

# Error codes that mean "not now" whatever the HTTP status says.
TRY_LATER_CODES = frozenset({"CMN-201", "CMN-203", "CMN-301", "CMN-302", "CMN-310", "MSG-305"})
# The app or user lacks a permission: an operator's fix, not the fault of one fax.
PERMISSION_CODES = frozenset({"CMN-401", "CMN-408"})

_PENDING = {"Queued"}
_SENT = {"Sent", "Delivered"}
_FAILED = {"SendingFailed", "DeliveryFailed"}
_HEADER_UNSAFE = re.compile(r'[\r\n"\\]')


def utc_text(moment: datetime) -> str:
    """``2024-05-01T12:00:00.000Z``: whole seconds in UTC; a naive time is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    elif re.search(r"[+-]\d{4}$", text):
        text = f"{text[:-2]}:{text[-2:]}"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def digits(number: object) -> str:
    """A phone number reduced to its digits, so ``+1 415…`` and ``1415…`` compare equal."""
    return "".join(ch for ch in str(number) if ch.isdigit())


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


def retry_after(headers: httpx.Headers, now: datetime | None = None) -> float | None:
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
        seconds = (moment - (now or datetime.now(UTC))).total_seconds()
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


def classify(response: httpx.Response, *, window: float, auth: bool = False) -> BackendError:
    """The one place an unsuccessful answer becomes an error class.

    ``auth`` marks the token endpoint, where any client error means the credentials are wrong.
    """
    status = response.status_code
    code, message = error_details(response)
    text = f"RingCentral answered {status}: {message}"
    wait = retry_after(response.headers)
    if status == 429:
        return TemporaryBackendError(text, code=code, retry_after=wait if wait is not None else window)
    if status in (500, 502, 504):
        return UncertainSubmission(text, code=code, retry_after=wait)
    if status >= 500 or status in (408, 425) or code in TRY_LATER_CODES:
        return TemporaryBackendError(text, code=code, retry_after=wait)
    if status == 401 or code in PERMISSION_CODES or (auth and 400 <= status < 500):
        error = json_body(response).get("error")
        return BackendAuthError(text, code=code or (str(error) if error else None))
    return PermanentBackendError(text, code=code)


def fax_status(record: Mapping[str, Any]) -> FaxStatus:
    """A message-store record (or a create-fax answer) as a FaxStatus."""
    status = str(record.get("messageStatus") or "")
    pages = record.get("faxPageCount")
    page_count = pages if isinstance(pages, int) and not isinstance(pages, bool) else None
    results = recipient_results(record)
    if status in _SENT:
        return FaxStatus(Outcome.SENT, page_count=page_count, results=results)
    if status in _FAILED:
        reasons = ", ".join(f"{r.number}: {r.error_code}" for r in results if r.error_code)
        return FaxStatus(Outcome.FAILED, page_count=page_count, results=results, detail=reasons or status)
    detail = None if status in _PENDING else f"RingCentral reports status {status or 'none'!r}"
    return FaxStatus(Outcome.PENDING, results=results, detail=detail)


def recipient_results(record: Mapping[str, Any]) -> tuple[RecipientResult, ...]:
    to = record.get("to")
    if not isinstance(to, list):
        return ()
    return tuple(
        RecipientResult(
            number=str(entry.get("phoneNumber", "")),
            status=str(entry.get("messageStatus", "")),
            error_code=str(entry["faxErrorCode"]) if entry.get("faxErrorCode") else None,
        )
        for entry in to
        if isinstance(entry, dict)
    )


def record_id(record: Mapping[str, Any]) -> str | None:
    value = record.get("id")
    return None if value is None or isinstance(value, bool) else str(value)


def submission(record: Mapping[str, Any]) -> Submission:
    uri = record.get("uri")
    return Submission(
        backend_id=record_id(record),
        backend_uri=str(uri) if uri else None,
        status=fax_status(record),
    )


def same_fax(record: Mapping[str, Any], job: Job, since: datetime, known_ids: Collection[str]) -> bool:
    """Whether a message-store record could be the fax ``job`` began to send at ``since``."""
    identity = record_id(record)
    if identity is None or identity in known_ids:
        return False
    if record.get("type", "Fax") != "Fax" or record.get("direction", "Outbound") != "Outbound":
        return False
    created = parse_time(record.get("creationTime"))
    if created is not None and created < since:
        return False
    numbers = {digits(r.number) for r in recipient_results(record)}
    if numbers != {digits(r.number) for r in job.recipients}:
        return False
    return _cover(record.get("coverPageText")) == _cover(job.cover_text)


def _cover(text: object) -> str:
    return str(text or "").replace("\r\n", "\n").strip()


def next_page(body: Mapping[str, Any]) -> str | None:
    """The path and query of ``navigation.nextPage.uri``, to be sent to our own server only."""
    navigation = body.get("navigation")
    page = navigation.get("nextPage") if isinstance(navigation, dict) else None
    uri = page.get("uri") if isinstance(page, dict) else None
    if not isinstance(uri, str) or not uri:
        return None
    url = httpx.URL(uri)
    return url.raw_path.decode("ascii")
