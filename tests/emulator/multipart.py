"""Strict MIME multipart parsing, and the fax-envelope rules RingCentral documents on top of it.

The first half knows RFC 2045/2046/7578 framing only: a boundary parameter, CRLF line ends,
delimiters, a required close delimiter, part headers and Content-Transfer-Encoding. The second
half (:func:`parse_fax_request`) turns a ``POST …/fax`` body into the envelope and documents, or
raises :class:`FaxRequestError` carrying the status and errorCode RingCentral answers with.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any


class MultipartError(ValueError):
    """The body or a header is not well-formed MIME."""


_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BCHARS = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")
_PARAM_NAME = re.compile(r"\s*([^=;\s]+)\s*=\s*")
_PARAM_END = re.compile(r"\s*(;|$)")


def parse_header_value(value: str) -> tuple[str, dict[str, str]]:
    """Split ``type/subtype; a=b; c="d"`` into the lower-cased main value and its parameters."""
    main, _, rest = value.partition(";")
    main = main.strip().lower()
    if not main:
        raise MultipartError("empty header value")
    params: dict[str, str] = {}
    pos = 0
    while pos < len(rest):
        match = _PARAM_NAME.match(rest, pos)
        if match is None:
            if rest[pos:].strip(" \t;") == "":
                break
            raise MultipartError(f"malformed parameter in {value!r}")
        name = match.group(1).lower()
        pos = match.end()
        if rest.startswith('"', pos):
            chars: list[str] = []
            pos += 1
            while pos < len(rest) and rest[pos] != '"':
                if rest[pos] == "\\" and pos + 1 < len(rest):
                    pos += 1
                chars.append(rest[pos])
                pos += 1
            if pos >= len(rest):
                raise MultipartError(f"unterminated quoted string in {value!r}")
            pos += 1
            param = "".join(chars)
        else:
            token = _TOKEN.match(rest, pos)
            if token is None:
                raise MultipartError(f"malformed parameter value in {value!r}")
            param = token.group(0)
            pos = token.end()
        if name in params:
            raise MultipartError(f"parameter {name} given twice")
        params[name] = param
        tail = _PARAM_END.match(rest, pos)
        if tail is None:
            raise MultipartError(f"junk after parameter {name} in {value!r}")
        pos = tail.end()
    return main, params


@dataclass(frozen=True, slots=True)
class Part:
    """One body part: headers by lower-case name, and the body after transfer decoding."""

    headers: dict[str, str]
    body: bytes


def parse_multipart(body: bytes, boundary: str) -> list[Part]:
    """Parse a multipart body: CRLF everywhere, at least one part, and the close delimiter."""
    if not _BCHARS.fullmatch(boundary):
        raise MultipartError("boundary is empty, too long or has characters RFC 2046 forbids")
    delimiter = b"--" + boundary.encode("ascii")
    if body.startswith(delimiter):
        pos = len(delimiter)
    else:
        first = body.find(b"\r\n" + delimiter)
        if first < 0:
            raise MultipartError("no opening delimiter")
        pos = first + 2 + len(delimiter)
    parts: list[Part] = []
    while True:
        if body.startswith(b"--", pos):
            if not parts:
                raise MultipartError("close delimiter before any part")
            return parts
        line_end = body.find(b"\r\n", pos)
        if line_end < 0 or body[pos:line_end].strip(b" \t"):
            raise MultipartError("a delimiter line must end with CRLF")
        start = line_end + 2
        end = body.find(b"\r\n" + delimiter, start)
        if end < 0:
            raise MultipartError("no close delimiter")
        parts.append(_parse_part(body[start:end]))
        pos = end + 2 + len(delimiter)


def _parse_part(raw: bytes) -> Part:
    if raw.startswith(b"\r\n") or not raw:
        head, content = b"", raw[2:]
    else:
        split = raw.find(b"\r\n\r\n")
        if split >= 0:
            head, content = raw[:split], raw[split + 4 :]
        elif raw.endswith(b"\r\n"):
            head, content = raw[:-2], b""
        else:
            raise MultipartError("part headers are not ended by an empty line")
    headers: dict[str, str] = {}
    last: str | None = None
    for line in head.split(b"\r\n") if head else []:
        if b"\r" in line or b"\n" in line:
            raise MultipartError("bare CR or LF in part headers")
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MultipartError("part header is not UTF-8") from exc
        if text[:1] in (" ", "\t"):
            if last is None:
                raise MultipartError("continuation line before any header")
            headers[last] += " " + text.strip()
            continue
        name, colon, value = text.partition(":")
        if not colon or not _TOKEN.fullmatch(name):
            raise MultipartError(f"malformed part header {text!r}")
        last = name.lower()
        if last in headers:
            raise MultipartError(f"part header {name} given twice")
        headers[last] = value.strip()
    return Part(headers, _decode(headers.get("content-transfer-encoding"), content))


def _decode(encoding: str | None, content: bytes) -> bytes:
    name = (encoding or "7bit").strip().lower()
    if name in ("7bit", "8bit", "binary"):
        return content
    if name == "base64":
        try:
            return base64.b64decode(re.sub(rb"[ \t\r\n]", b"", content), validate=True)
        except binascii.Error as exc:
            raise MultipartError("invalid base64 body") from exc
    raise MultipartError(f"unsupported Content-Transfer-Encoding {encoding!r}")


# ---- RingCentral's fax request ------------------------------------------------------------------

# The 42 extensions of "RingCentral platform supported FAX content types". Word lists read better
# than dozens of quoted strings, hence the SIM905 exceptions here and below.
ACCEPTED_EXTENSIONS = frozenset(
    "pdf psd doc docx dot mcw xls xlsx xlsb ppt pptx vsd vdx pub wps wri awd tif tiff gif jpg jpeg "  # noqa: SIM905
    "bmp png pcx tga rtf txt log h cpp c err hpp wk1 wk3 wk4 wq1 xml html htm csv".split()
)
_OLE = (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",)
_ZIP = (b"PK\x03\x04",)
_MAGIC_BY_EXTENSION: dict[str, tuple[bytes, ...]] = {
    "pdf": (b"%PDF-",),
    "png": (b"\x89PNG\r\n\x1a\n",),
    "jpg": (b"\xff\xd8\xff",),
    "jpeg": (b"\xff\xd8\xff",),
    "gif": (b"GIF87a", b"GIF89a"),
    "tif": (b"II*\x00", b"MM\x00*"),
    "tiff": (b"II*\x00", b"MM\x00*"),
    "bmp": (b"BM",),
    "psd": (b"8BPS",),
    "rtf": (b"{\\rtf",),
    "docx": _ZIP,
    "xlsx": _ZIP,
    "xlsb": _ZIP,
    "pptx": _ZIP,
    "doc": _OLE,
    "dot": _OLE,
    "xls": _OLE,
    "ppt": _OLE,
}
_MAGIC_BY_TYPE: dict[str, tuple[bytes, ...]] = {
    "application/pdf": _MAGIC_BY_EXTENSION["pdf"],
    "image/png": _MAGIC_BY_EXTENSION["png"],
    "image/jpeg": _MAGIC_BY_EXTENSION["jpg"],
    "image/gif": _MAGIC_BY_EXTENSION["gif"],
    "image/tiff": _MAGIC_BY_EXTENSION["tif"],
    "image/bmp": _MAGIC_BY_EXTENSION["bmp"],
    "application/rtf": _MAGIC_BY_EXTENSION["rtf"],
    "text/rtf": _MAGIC_BY_EXTENSION["rtf"],
}
_TEXT_EXTENSIONS = frozenset("txt log h cpp c err hpp csv xml html htm".split())  # noqa: SIM905
_FORBIDDEN_IN_FILENAME = frozenset("&@#$%^*")
_DATE_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)")
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
_COVER_INDEXES = frozenset(range(0, 14)) | frozenset(range(15, 29))
MAX_TOTAL_BYTES = 50_000_000  # "limited to 50Mb": taken as decimal megabytes


class FaxRequestError(Exception):
    """A fax request RingCentral refuses: HTTP status, errorCode, message, parameterName."""

    def __init__(self, status: int, code: str, message: str, parameter: str | None = None) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.parameter = parameter


def _invalid(parameter: str) -> FaxRequestError:
    return FaxRequestError(400, "CMN-101", f"Parameter [{parameter}] value is invalid", parameter)


def _unparsable(why: str) -> FaxRequestError:
    return FaxRequestError(400, "MSG-349", f"Unable to parse fax envelope: {why}")


@dataclass(frozen=True, slots=True)
class ReceivedDocument:
    """One document part as received: ``content_type`` is its declared media type, if any."""

    filename: str
    content_type: str | None
    headers: dict[str, str]
    data: bytes


@dataclass(frozen=True, slots=True)
class FaxEnvelope:
    json: dict[str, Any]
    recipients: list[tuple[str, str | None]]
    resolution: str | None
    cover_index: int | None
    cover_text: str | None
    send_time: datetime | None
    documents: list[ReceivedDocument]


def parse_fax_request(
    content_type: str | None, body: bytes, *, max_total: int = MAX_TOTAL_BYTES
) -> FaxEnvelope:
    """Check a create-fax body as RingCentral would; raise FaxRequestError on the first fault."""
    try:
        media, params = parse_header_value(content_type or "")
    except MultipartError as exc:
        raise _unparsable("no usable Content-Type") from exc
    if media == "application/json":
        # A JSON body is the resend/forward form, which needs a message to resend.
        raise _invalid("originalMessageId")
    if media not in ("multipart/mixed", "multipart/form-data"):
        raise _unparsable(f"{media} is not multipart/mixed or multipart/form-data")
    if "boundary" not in params:
        raise _unparsable("no boundary")
    try:
        parts = parse_multipart(body, params["boundary"])
    except MultipartError as exc:
        raise _unparsable(str(exc)) from exc
    form = media == "multipart/form-data"
    envelope = _envelope(parts[0], form=form)
    fields = _check_fields(envelope)
    if len(parts) < 2:
        raise _unparsable("no attachment")
    documents = [_document(part, form=form) for part in parts[1:]]
    if sum(len(doc.data) for doc in documents) > max_total:
        raise FaxRequestError(400, "MSG-337", "Attachment size limit exceeded")
    return FaxEnvelope(envelope, *fields, documents)


def _envelope(part: Part, *, form: bool) -> dict[str, Any]:
    try:
        media, _ = parse_header_value(part.headers.get("content-type", "text/plain"))
        disposition = part.headers.get("content-disposition")
        kind, dparams = parse_header_value(disposition) if disposition else ("", {})
    except MultipartError as exc:
        raise _unparsable(str(exc)) from exc
    if media != "application/json":
        raise _unparsable("the first part is not application/json")
    if form and (kind != "form-data" or dparams.get("name") not in ("json", "request.json")):
        raise _unparsable('the first form-data part must be named "json" or "request.json"')
    try:
        envelope = json.loads(part.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise _unparsable("the first part is not valid JSON") from exc
    if not isinstance(envelope, dict):
        raise _unparsable("the JSON envelope is not an object")
    return envelope


def _check_fields(
    envelope: dict[str, Any],
) -> tuple[list[tuple[str, str | None]], str | None, int | None, str | None, datetime | None]:
    to = envelope.get("to")
    if not isinstance(to, list) or not to:
        raise _invalid("to")
    recipients: list[tuple[str, str | None]] = []
    for entry in to:
        if not isinstance(entry, dict):
            raise _invalid("to")
        number, name = entry.get("phoneNumber"), entry.get("name")
        if not isinstance(number, str) or not _E164.fullmatch(number):
            raise _invalid("to")
        if name is not None and not isinstance(name, str):
            raise _invalid("to")
        recipients.append((number, name))
    resolution = envelope.get("faxResolution")
    if resolution is not None and resolution not in ("High", "Low"):
        raise _invalid("faxResolution")
    cover_text = envelope.get("coverPageText")
    if cover_text is not None and (not isinstance(cover_text, str) or len(cover_text) > 1024):
        raise _invalid("coverPageText")
    cover_index = envelope.get("coverIndex")
    if cover_index is not None and (
        isinstance(cover_index, bool) or not isinstance(cover_index, int) or cover_index not in _COVER_INDEXES
    ):
        raise _invalid("coverIndex")
    iso_code = envelope.get("isoCode")
    if iso_code is not None and (not isinstance(iso_code, str) or not re.fullmatch(r"[A-Z]{2}", iso_code)):
        raise _invalid("isoCode")
    send_time = None
    if "sendTime" in envelope:
        send_time = parse_datetime(envelope["sendTime"])
        if send_time is None:
            raise _invalid("sendTime")
    return recipients, resolution, cover_index, cover_text, send_time


def parse_datetime(value: object) -> datetime | None:
    """An ISO 8601 date-time that names its offset (``Z`` or ``±hh:mm``), or None."""
    if not isinstance(value, str) or not _DATE_TIME.fullmatch(value):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _document(part: Part, *, form: bool) -> ReceivedDocument:
    disposition = part.headers.get("content-disposition")
    if disposition is None:
        raise FaxRequestError(400, "MSG-350", "No content disposition")
    try:
        kind, params = parse_header_value(disposition)
        declared = (
            parse_header_value(part.headers["content-type"])[0] if "content-type" in part.headers else None
        )
    except MultipartError as exc:
        raise _unparsable(str(exc)) from exc
    if kind not in (("form-data",) if form else ("attachment", "inline")):
        raise FaxRequestError(400, "MSG-350", f"No content disposition ({kind} is not usable here)")
    filename = params.get("filename", "")
    if not filename:
        raise FaxRequestError(400, "MSG-351", "No file name in content disposition")
    if _FORBIDDEN_IN_FILENAME & set(filename):
        raise _invalid("attachment")
    if not part.body:
        raise FaxRequestError(400, "MSG-347", "Attachment body is empty")
    extension = filename.rpartition(".")[2].lower() if "." in filename else ""
    if extension not in ACCEPTED_EXTENSIONS or not _plausible(extension, declared, part.body):
        raise FaxRequestError(415, "MSG-348", "Unsupported attachment media type")
    return ReceivedDocument(filename, declared, dict(part.headers), part.body)


def _plausible(extension: str, declared: str | None, data: bytes) -> bool:
    """Do the bytes fit both the extension and the declared Content-Type, where those are checkable?"""
    for magic in (_MAGIC_BY_EXTENSION.get(extension), _MAGIC_BY_TYPE.get(declared or "")):
        if magic is not None and not data.startswith(magic):
            return False
    return not (extension in _TEXT_EXTENSIONS and b"\x00" in data[:8192])
