"""What a document really is, judged from its bytes, and whether RingCentral can fax it.

``sniff`` asks libmagic for the MIME type and checks it against an allow-list built from the
42 extensions RingCentral accepts. The declared name of a file is never trusted to accept it;
its extension only chooses among the extensions of the family the bytes belong to (a text file
stays ``.log`` or ``.c``, a Word binary stays ``.dot``). libmagic handles are not thread-safe,
so each thread keeps its own.
"""

from __future__ import annotations

import io
import re
import threading
import unicodedata
import zipfile
from dataclasses import dataclass

import magic

from mail2fax.errors import UnfaxableDocument
from mail2fax.mail.safe_text import for_reply

# libmagic reads about this much of a file itself: enough for the OOXML member walk, the OLE2
# directory of ordinary files, TAR and ISO signatures. Only OLE2 files get the whole buffer:
# their reader follows sector chains anywhere in the file, and touches only what it follows.
PREFIX_BYTES = 1024 * 1024
_OLE2_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_NO_CHECK_CDF = 0x0040000  # MAGIC_NO_CHECK_CDF in magic.h; python-magic names the bit wrongly
_MAX_FILENAME = 100


@dataclass(frozen=True, slots=True)
class SniffedType:
    """A faxable type: the Content-Type we send, the extension (no dot) and words for humans."""

    content_type: str
    extension: str
    description: str


@dataclass(frozen=True, slots=True)
class _Family:
    description: str
    extensions: dict[str, str]  # extension -> Content-Type; the first one is the default


def _family(description: str, *pairs: str) -> _Family:
    return _Family(description, dict(zip(pairs[::2], pairs[1::2], strict=True)))


_OOXML = "application/vnd.openxmlformats-officedocument"
_TEXT = _family(
    "a text file",
    *("txt", "text/plain", "log", "text/plain", "err", "text/plain", "csv", "text/csv"),
    *("c", "text/plain", "h", "text/plain", "cpp", "text/plain", "hpp", "text/plain"),
)
_CSV = _Family("a CSV table", {"csv": "text/csv", **_TEXT.extensions})
_WORD = _family(
    "a Word document",
    *("doc", "application/msword", "dot", "application/msword", "mcw", "application/msword"),
    *("wri", "application/x-mswrite"),
)
_XLSX = _family("an Excel workbook", "xlsx", f"{_OOXML}.spreadsheetml.sheet")
_XLSB = _family("an Excel binary workbook", "xlsb", "application/vnd.ms-excel.sheet.binary.macroEnabled.12")
_LOTUS = _family(
    "a Lotus 1-2-3 or Quattro Pro worksheet",
    *("wk1", "application/vnd.lotus-1-2-3", "wk3", "application/vnd.lotus-1-2-3"),
    *("wk4", "application/vnd.lotus-1-2-3", "wq1", "application/x-quattro-pro"),
)
# OLE2 files that libmagic cannot tell apart keep their declared extension if it is one of these.
_OLE2_ANY = _family(
    "an Office document",
    *("doc", "application/msword", "dot", "application/msword", "xls", "application/vnd.ms-excel"),
    *("ppt", "application/vnd.ms-powerpoint", "vsd", "application/vnd.visio"),
    *("pub", "application/vnd.ms-publisher", "wps", "application/vnd.ms-works"),
    *("awd", "image/x-ms-awd"),
)
_OLE2_GENERIC = frozenset(
    (
        "application/x-ole-storage",
        "application/vnd.ms-office",
        "application/CDFV2",
        "application/CDFV2-corrupt",
    )
)

ALLOWED: dict[str, _Family] = {
    "application/pdf": _family("a PDF document", "pdf", "application/pdf"),
    "image/tiff": _family("a TIFF image", "tiff", "image/tiff", "tif", "image/tiff"),
    "image/gif": _family("a GIF image", "gif", "image/gif"),
    "image/jpeg": _family("a JPEG image", "jpg", "image/jpeg", "jpeg", "image/jpeg"),
    "image/png": _family("a PNG image", "png", "image/png"),
    "image/bmp": _family("a BMP image", "bmp", "image/bmp"),
    "image/x-ms-bmp": _family("a BMP image", "bmp", "image/bmp"),
    "image/x-pcx": _family("a PCX image", "pcx", "image/x-pcx"),
    "image/vnd.zbrush.pcx": _family("a PCX image", "pcx", "image/x-pcx"),
    "image/x-tga": _family("a TGA image", "tga", "image/x-tga"),
    "image/x-targa": _family("a TGA image", "tga", "image/x-tga"),
    "image/vnd.adobe.photoshop": _family("a Photoshop image", "psd", "image/vnd.adobe.photoshop"),
    "image/x-ms-awd": _family("a Microsoft Fax document", "awd", "image/x-ms-awd"),
    "application/msword": _WORD,
    "application/x-mswrite": _family("a Windows Write document", "wri", "application/x-mswrite"),
    "application/vnd.ms-excel": _family("an Excel workbook", "xls", "application/vnd.ms-excel"),
    "application/vnd.ms-powerpoint": _family(
        "a PowerPoint presentation", "ppt", "application/vnd.ms-powerpoint"
    ),
    f"{_OOXML}.wordprocessingml.document": _family(
        "a Word document", "docx", f"{_OOXML}.wordprocessingml.document"
    ),
    f"{_OOXML}.spreadsheetml.sheet": _XLSX,
    f"{_OOXML}.presentationml.presentation": _family(
        "a PowerPoint presentation", "pptx", f"{_OOXML}.presentationml.presentation"
    ),
    "application/vnd.ms-excel.sheet.binary.macroEnabled.12": _XLSB,
    "application/vnd.visio": _family("a Visio drawing", "vsd", "application/vnd.visio"),
    "application/vnd.ms-publisher": _family("a Publisher document", "pub", "application/vnd.ms-publisher"),
    "application/vnd.ms-works": _family("a Works document", "wps", "application/vnd.ms-works"),
    "application/vnd-ms-works": _family("a Works document", "wps", "application/vnd.ms-works"),
    "application/vnd.lotus-1-2-3": _LOTUS,
    "text/rtf": _family("an RTF document", "rtf", "application/rtf"),
    "application/rtf": _family("an RTF document", "rtf", "application/rtf"),
    "text/html": _family("an HTML page", "html", "text/html", "htm", "text/html"),
    "text/xml": _family("an XML document", "xml", "application/xml", "vdx", "application/xml"),
    "application/xml": _family("an XML document", "xml", "application/xml", "vdx", "application/xml"),
    "text/csv": _CSV,
    "application/json": _TEXT,
}

# Words for the refusals people meet most; anything else is described by libmagic itself.
_REFUSED: dict[str, str] = {
    "application/vnd.ms-tnef": "an Outlook TNEF attachment",
    "application/zip": "a ZIP archive",
    "application/x-executable": "a program",
    "application/x-pie-executable": "a program",
    "application/x-sharedlib": "a program library",
    "application/x-dosexec": "a Windows program",
    "application/vnd.microsoft.portable-executable": "a Windows program",
    "application/x-msi": "a Windows installer",
    "application/x-mach-binary": "a macOS program",
    "message/rfc822": "an e-mail message",
    **dict.fromkeys(
        (
            "application/gzip",
            "application/x-bzip2",
            "application/x-xz",
            "application/zstd",
            "application/x-7z-compressed",
            "application/x-rar",
            "application/vnd.rar",
            "application/x-tar",
        ),
        "a compressed archive",
    ),
}
_TNEF_HINT = (
    "; Outlook wraps attachments in winmail.dat when it sends Rich Text mail: "
    "please send the mail again as HTML or plain text"
)


class _Magic(threading.local):
    """This thread's libmagic handles, opened on first use."""

    def __init__(self) -> None:
        self.mime: magic.Magic | None = None
        self.mime_without_cdf: magic.Magic | None = None
        self.text: magic.Magic | None = None


_local = _Magic()


def _mime(data: bytes) -> str:
    if _local.mime is None:
        _local.mime = magic.Magic(mime=True)
    return _ask(_local.mime, data)


def _mime_by_class_id(data: bytes) -> str:
    """The OLE2 verdict of the magic rules alone (they know Visio, Publisher, Works by class id)."""
    if _local.mime_without_cdf is None:
        handle = magic.Magic(mime=True)
        magic.magic_setflags(handle.cookie, magic.MAGIC_MIME_TYPE | _NO_CHECK_CDF)
        _local.mime_without_cdf = handle
    return _ask(_local.mime_without_cdf, data)


def _describe(data: bytes) -> str:
    if _local.text is None:
        _local.text = magic.Magic()
    return _ask(_local.text, data)


def _ask(handle: magic.Magic, data: bytes) -> str:
    try:
        answer = handle.from_buffer(data)
    except magic.MagicException:
        return ""
    return answer if isinstance(answer, str) else ""


def _declared_extension(label: str) -> str:
    name = re.split(r"[/\\]", label)[-1]
    return name.rpartition(".")[2].lower() if "." in name else ""


def _pick(family: _Family, declared: str) -> SniffedType:
    extension = declared if declared in family.extensions else next(iter(family.extensions))
    return SniffedType(family.extensions[extension], extension, family.description)


def _ooxml_family(data: bytes) -> _Family | None:
    """Which Office Open XML package a ZIP is, read from its central directory."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, OverflowError):
        return None
    if "[Content_Types].xml" not in names:
        return None
    if "xl/workbook.bin" in names:
        return _XLSB
    for prefix, mime in (
        ("word/", f"{_OOXML}.wordprocessingml.document"),
        ("xl/", f"{_OOXML}.spreadsheetml.sheet"),
        ("ppt/", f"{_OOXML}.presentationml.presentation"),
    ):
        if any(name.startswith(prefix) for name in names):
            return ALLOWED[mime]
    return None


def sniff(data: bytes, *, label: str) -> SniffedType:
    """The faxable type of ``data``, or UnfaxableDocument naming ``label`` and the type found.

    ``label`` is how the sender named the file (or a stand-in such as "attachment 2"); its
    extension only chooses among the extensions of the type the bytes turn out to be.
    """
    shown = for_reply(label, 80) or "the attachment"
    if not data:
        raise UnfaxableDocument(f'"{shown}" is empty')
    declared = _declared_extension(label)
    is_ole2 = data.startswith(_OLE2_SIGNATURE)
    mime = _mime(data if is_ole2 else data[:PREFIX_BYTES]) or "application/octet-stream"
    if is_ole2 and mime in _OLE2_GENERIC:
        mime = _mime_by_class_id(data[:PREFIX_BYTES]) or mime
        if mime in _OLE2_GENERIC and declared in _OLE2_ANY.extensions:
            return _pick(_OLE2_ANY, declared)
    if mime == "application/zip" or mime == f"{_OOXML}.spreadsheetml.sheet":
        family = _ooxml_family(data)
        if family is not None:
            return _pick(family, declared)
    family = ALLOWED.get(mime)
    if family is None and mime.startswith("text/"):
        family = _TEXT
    if family is not None:
        return _pick(family, declared)
    description = _REFUSED.get(mime)
    if description is None and mime.startswith(("audio/", "video/")):
        description = "an audio recording" if mime.startswith("audio/") else "a video"
    if description is None:
        found = for_reply(_describe(data[:PREFIX_BYTES]).split(",")[0], 60)
        if found and found != "data":
            description = f"a file of type {found}"
    description = description or "data of an unknown type"
    reason = f'"{shown}" is {description} ({for_reply(mime, 80)}), which cannot be faxed'
    if mime == "application/vnd.ms-tnef":
        reason += _TNEF_HINT
    raise UnfaxableDocument(reason)


_ALLOWED_CHARS = re.compile(r"[^A-Za-z0-9._ -]+")


def safe_filename(original: str | None, extension: str, position: int) -> str:
    """An ASCII filename RingCentral takes: no path, no special characters, the sniffed extension.

    ``position`` (1-based) names the stand-in ``document-<position>.<extension>`` used when
    nothing usable is left of ``original``.
    """
    extension = _ALLOWED_CHARS.sub("", extension.lstrip(".")).lower()[:10] or "bin"
    fallback = f"document-{position}.{extension}"
    if not original:
        return fallback
    name = re.split(r"[/\\]", original)[-1]
    name = " ".join(name.split()).lstrip(". ")  # tabs, CR and LF become single spaces
    stem = name.rpartition(".")[0] if "." in name else name
    stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    stem = _ALLOWED_CHARS.sub("_", " ".join(stem.split()))
    stem = re.sub(r"_{2,}", "_", stem).lstrip("._ -").rstrip(". ")
    if not stem.strip("_ -"):
        return fallback
    stem = stem[: _MAX_FILENAME - len(extension) - 1].rstrip(". ")
    return f"{stem}.{extension}"


def is_image(data: bytes) -> bool:
    """Whether libmagic finds a raster image in ``data`` (one an HTML page can show)."""
    return bool(data) and _mime(data[:PREFIX_BYTES]).startswith("image/")
