"""Office documents: Office Open XML packages (ZIP) and OLE2 compound files, built from scratch.

The OOXML packages are the smallest ones Word, Excel and PowerPoint open. The OLE2 files carry
the streams, class ids and summary information that identify each format; their contents are
placeholders.
"""

from __future__ import annotations

import io
import struct
import zipfile

_XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_PKG = "http://schemas.openxmlformats.org/package/2006"
_OFFICE_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_DOC_MIME = "application/vnd.openxmlformats-officedocument"


def _content_types(overrides: dict[str, str]) -> str:
    parts = "".join(f'<Override PartName="{name}" ContentType="{kind}"/>' for name, kind in overrides.items())
    return (
        f'{_XML}<Types xmlns="{_PKG}/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        f"{parts}</Types>"
    )


def _rels(*targets: tuple[str, str]) -> str:
    items = "".join(
        f'<Relationship Id="rId{number}" Type="{_OFFICE_REL}/{kind}" Target="{target}"/>'
        for number, (kind, target) in enumerate(targets, start=1)
    )
    return f'{_XML}<Relationships xmlns="{_PKG}/relationships">{items}</Relationships>'


def _package(parts: dict[str, str | bytes]) -> bytes:
    """A ZIP with the parts in the given order ([Content_Types].xml first, as Office writes it)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in parts.items():
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, content)
    return buffer.getvalue()


def docx_bytes(text: str = "Hello from mail2fax") -> bytes:
    """A Word document with one paragraph."""
    ns = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
    paragraph = f"<w:p><w:r><w:t>{text}</w:t></w:r></w:p>"
    document = f'{_XML}<w:document xmlns:w="{ns}"><w:body>{paragraph}</w:body></w:document>'
    return _package(
        {
            "[Content_Types].xml": _content_types(
                {"/word/document.xml": f"{_DOC_MIME}.wordprocessingml.document.main+xml"}
            ),
            "_rels/.rels": _rels(("officeDocument", "word/document.xml")),
            "word/document.xml": document,
        }
    )


def xlsx_bytes(value: str = "Hello from mail2fax") -> bytes:
    """An Excel workbook with one sheet and one inline string cell."""
    ns = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    workbook = (
        f'{_XML}<workbook xmlns="{ns}" xmlns:r="{_OFFICE_REL}">'
        '<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'
    )
    sheet = (
        f'{_XML}<worksheet xmlns="{ns}"><sheetData><row r="1">'
        f'<c r="A1" t="inlineStr"><is><t>{value}</t></is></c></row></sheetData></worksheet>'
    )
    return _package(
        {
            "[Content_Types].xml": _content_types(
                {
                    "/xl/workbook.xml": f"{_DOC_MIME}.spreadsheetml.sheet.main+xml",
                    "/xl/worksheets/sheet1.xml": f"{_DOC_MIME}.spreadsheetml.worksheet+xml",
                }
            ),
            "_rels/.rels": _rels(("officeDocument", "xl/workbook.xml")),
            "xl/workbook.xml": workbook,
            "xl/_rels/workbook.xml.rels": _rels(("worksheet", "worksheets/sheet1.xml")),
            "xl/worksheets/sheet1.xml": sheet,
        }
    )


def xlsb_bytes() -> bytes:
    """An Excel binary workbook package (the parts are placeholders, the layout is real)."""
    return _package(
        {
            "[Content_Types].xml": _content_types(
                {"/xl/workbook.bin": "application/vnd.ms-excel.sheet.binary.macroEnabled.main"}
            ),
            "_rels/.rels": _rels(("officeDocument", "xl/workbook.bin")),
            "xl/workbook.bin": b"\x83\x01\x00\x84\x01\x00",
        }
    )


_THEME = (
    '<a:theme xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" name="Plain">'
    '<a:themeElements><a:clrScheme name="Plain">'
    + "".join(
        f'<a:{slot}><a:srgbClr val="{rgb}"/></a:{slot}>'
        for slot, rgb in [
            ("dk1", "000000"),
            ("lt1", "FFFFFF"),
            ("dk2", "1F1F1F"),
            ("lt2", "EEEEEE"),
            ("accent1", "4472C4"),
            ("accent2", "ED7D31"),
            ("accent3", "A5A5A5"),
            ("accent4", "FFC000"),
            ("accent5", "5B9BD5"),
            ("accent6", "70AD47"),
            ("hlink", "0563C1"),
            ("folHlink", "954F72"),
        ]
    )
    + "</a:clrScheme>"
    '<a:fontScheme name="Plain"><a:majorFont><a:latin typeface="Arial"/><a:ea typeface=""/>'
    '<a:cs typeface=""/></a:majorFont><a:minorFont><a:latin typeface="Arial"/><a:ea typeface=""/>'
    '<a:cs typeface=""/></a:minorFont></a:fontScheme>'
    '<a:fmtScheme name="Plain"><a:fillStyleLst>'
    + '<a:solidFill><a:schemeClr val="phClr"/></a:solidFill>' * 3
    + "</a:fillStyleLst><a:lnStyleLst>"
    + '<a:ln w="9525"><a:solidFill><a:schemeClr val="phClr"/></a:solidFill></a:ln>' * 3
    + "</a:lnStyleLst><a:effectStyleLst>"
    + "<a:effectStyle><a:effectLst/></a:effectStyle>" * 3
    + "</a:effectStyleLst><a:bgFillStyleLst>"
    + '<a:solidFill><a:schemeClr val="phClr"/></a:solidFill>' * 3
    + "</a:bgFillStyleLst></a:fmtScheme></a:themeElements></a:theme>"
)


def pptx_bytes(text: str = "Hello from mail2fax") -> bytes:
    """A PowerPoint presentation with one slide, its layout, master and theme."""
    p = "http://schemas.openxmlformats.org/presentationml/2006/main"
    a = "http://schemas.openxmlformats.org/drawingml/2006/main"
    ns = f'xmlns:a="{a}" xmlns:r="{_OFFICE_REL}" xmlns:p="{p}"'
    tree = (
        '<p:spTree><p:nvGrpSpPr><p:cNvPr id="1" name=""/><p:cNvGrpSpPr/><p:nvPr/></p:nvGrpSpPr>'
        "<p:grpSpPr/>{shapes}</p:spTree>"
    )
    text_box = (
        '<p:sp><p:nvSpPr><p:cNvPr id="2" name="Text"/><p:cNvSpPr txBox="1"/><p:nvPr/></p:nvSpPr>'
        '<p:spPr><a:xfrm><a:off x="914400" y="914400"/><a:ext cx="7315200" cy="914400"/></a:xfrm>'
        '<a:prstGeom prst="rect"><a:avLst/></a:prstGeom></p:spPr>'
        f"<p:txBody><a:bodyPr/><a:lstStyle/><a:p><a:r><a:t>{text}</a:t></a:r></a:p></p:txBody></p:sp>"
    )
    empty_tree = tree.format(shapes="")
    presentation = (
        f"{_XML}<p:presentation {ns}>"
        '<p:sldMasterIdLst><p:sldMasterId id="2147483648" r:id="rId1"/></p:sldMasterIdLst>'
        '<p:sldIdLst><p:sldId id="256" r:id="rId2"/></p:sldIdLst>'
        '<p:sldSz cx="9144000" cy="6858000"/><p:notesSz cx="6858000" cy="9144000"/></p:presentation>'
    )
    master = (
        f"{_XML}<p:sldMaster {ns}><p:cSld>{empty_tree}</p:cSld>"
        '<p:clrMap bg1="lt1" tx1="dk1" bg2="lt2" tx2="dk2" accent1="accent1" accent2="accent2" '
        'accent3="accent3" accent4="accent4" accent5="accent5" accent6="accent6" hlink="hlink" '
        'folHlink="folHlink"/><p:sldLayoutIdLst><p:sldLayoutId id="2147483649" r:id="rId1"/>'
        "</p:sldLayoutIdLst></p:sldMaster>"
    )
    layout = f'{_XML}<p:sldLayout {ns} type="blank"><p:cSld>{empty_tree}</p:cSld></p:sldLayout>'
    slide = f"{_XML}<p:sld {ns}><p:cSld>{tree.format(shapes=text_box)}</p:cSld></p:sld>"
    pml = f"{_DOC_MIME}.presentationml"
    return _package(
        {
            "[Content_Types].xml": _content_types(
                {
                    "/ppt/presentation.xml": f"{pml}.presentation.main+xml",
                    "/ppt/slideMasters/slideMaster1.xml": f"{pml}.slideMaster+xml",
                    "/ppt/slideLayouts/slideLayout1.xml": f"{pml}.slideLayout+xml",
                    "/ppt/slides/slide1.xml": f"{pml}.slide+xml",
                    "/ppt/theme/theme1.xml": f"{_DOC_MIME}.theme+xml",
                }
            ),
            "_rels/.rels": _rels(("officeDocument", "ppt/presentation.xml")),
            "ppt/presentation.xml": presentation,
            "ppt/_rels/presentation.xml.rels": _rels(
                ("slideMaster", "slideMasters/slideMaster1.xml"),
                ("slide", "slides/slide1.xml"),
                ("theme", "theme/theme1.xml"),
            ),
            "ppt/slideMasters/slideMaster1.xml": master,
            "ppt/slideMasters/_rels/slideMaster1.xml.rels": _rels(
                ("slideLayout", "../slideLayouts/slideLayout1.xml"), ("theme", "../theme/theme1.xml")
            ),
            "ppt/slideLayouts/slideLayout1.xml": layout,
            "ppt/slideLayouts/_rels/slideLayout1.xml.rels": _rels(
                ("slideMaster", "../slideMasters/slideMaster1.xml")
            ),
            "ppt/slides/slide1.xml": slide,
            "ppt/slides/_rels/slide1.xml.rels": _rels(("slideLayout", "../slideLayouts/slideLayout1.xml")),
            "ppt/theme/theme1.xml": _XML + _THEME,
        }
    )


def odt_bytes() -> bytes:
    """An OpenDocument text: a real format that RingCentral does not take."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.text", zipfile.ZIP_STORED)
        archive.writestr(
            "META-INF/manifest.xml",
            f'{_XML}<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"/>',
            zipfile.ZIP_DEFLATED,
        )
    return buffer.getvalue()


# --- OLE2 compound files -------------------------------------------------------------------

_SECTOR = 512
_END_OF_CHAIN = 0xFFFFFFFE
_FREE = 0xFFFFFFFF
_FAT_SECTOR = 0xFFFFFFFD
_NO_STREAM = 0xFFFFFFFF
_MIN_STANDARD_STREAM = 4096  # smaller streams would belong in the mini stream, which we never write


def _guid(text: str) -> bytes:
    """The on-disk (mixed-endian) form of a GUID written as 8-4-4-4-12 hex."""
    a, b, c, d, e = text.split("-")
    return struct.pack("<IHH", int(a, 16), int(b, 16), int(c, 16)) + bytes.fromhex(d + e)


def summary_information(application: str) -> bytes:
    """A SummaryInformation property set holding the code page and the application name."""
    name = application.encode("cp1252") + b"\x00"
    name += b"\x00" * (-len(name) % 4)
    codepage = struct.pack("<IhH", 2, 1252, 0)  # VT_I2
    app = struct.pack("<II", 0x1E, len(application) + 1) + name  # VT_LPSTR
    properties = [(1, codepage), (0x12, app)]
    offset = 8 + 8 * len(properties)
    table = b""
    body = b""
    for pid, value in properties:
        table += struct.pack("<II", pid, offset + len(body))
        body += value
    section = struct.pack("<II", offset + len(body), len(properties)) + table + body
    header = struct.pack("<HHI", 0xFFFE, 0, 0x00020006) + bytes(16) + struct.pack("<I", 1)
    fmtid = _guid("F29F85E0-4FF9-1068-AB91-08002B27B3D9")
    return header + fmtid + struct.pack("<I", len(header) + 20) + section


def cfb_bytes(streams: dict[str, bytes], *, clsid: str | None = None) -> bytes:
    """An OLE2 compound file (version 3) whose root holds ``streams``, with the root's class id."""
    names = list(streams)
    dir_entries = 1 + len(names)
    dir_sectors = (dir_entries * 128 + _SECTOR - 1) // _SECTOR
    payloads = [streams[name].ljust(_MIN_STANDARD_STREAM, b"\x00") for name in names]
    payloads = [p.ljust(-(-len(p) // _SECTOR) * _SECTOR, b"\x00") for p in payloads]
    fat = [_FAT_SECTOR]
    fat += [*range(2, 1 + dir_sectors), _END_OF_CHAIN]
    starts = []
    for payload in payloads:
        start = len(fat)
        count = len(payload) // _SECTOR
        starts.append(start)
        fat += [*range(start + 1, start + count), _END_OF_CHAIN]
    if len(fat) > _SECTOR // 4:
        raise ValueError("sample too large for a single FAT sector")
    fat += [_FREE] * (_SECTOR // 4 - len(fat))

    # The root's children form a chain of right siblings in the order CFB sorts names.
    order = sorted(range(len(names)), key=lambda i: (len(names[i]), names[i].upper()))
    right = {order[k]: order[k + 1] + 1 for k in range(len(order) - 1)}

    def entry(name: str, kind: int, child: int, right_id: int, start: int, size: int, cls: bytes) -> bytes:
        encoded = (name + "\x00").encode("utf-16-le") if name else b""
        return (
            encoded.ljust(64, b"\x00")
            + struct.pack("<HBBIII", len(encoded), kind, 1, _NO_STREAM, right_id, child)
            + cls.ljust(16, b"\x00")
            + struct.pack("<IQQIQ", 0, 0, 0, start, size)
        )

    root_child = order[0] + 1 if names else _NO_STREAM
    directory = entry(
        "Root Entry", 5, root_child, _NO_STREAM, _END_OF_CHAIN, 0, _guid(clsid) if clsid else b""
    )
    for index, name in enumerate(names):
        size = len(streams[name]) if len(streams[name]) >= _MIN_STANDARD_STREAM else _MIN_STANDARD_STREAM
        directory += entry(name, 2, _NO_STREAM, right.get(index, _NO_STREAM), starts[index], size, b"")
    directory = directory.ljust(dir_sectors * _SECTOR, b"\x00")
    # Unused directory slots must say "no siblings, no child" rather than point at entry 0.
    unused = struct.pack("<III", _NO_STREAM, _NO_STREAM, _NO_STREAM)
    slots = bytearray(directory)
    for slot in range(dir_entries, dir_sectors * _SECTOR // 128):
        slots[slot * 128 + 68 : slot * 128 + 80] = unused
    header = (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
        + bytes(16)
        + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6)
        + bytes(6)
        + struct.pack("<IIIIIIIII", 0, 1, 1, 0, _MIN_STANDARD_STREAM, _END_OF_CHAIN, 0, _END_OF_CHAIN, 0)
        + struct.pack("<I", 0)
        + struct.pack("<I", _FREE) * 108
    )
    fat_bytes = struct.pack(f"<{len(fat)}I", *fat)
    return header + fat_bytes + bytes(slots) + b"".join(payloads)


_MS = "0000-0000-C000-000000000046"
_SUMMARY = "\x05SummaryInformation"


def doc_bytes() -> bytes:
    """A Word 97-2003 document (the stream starts with the Word FIB signature)."""
    fib = struct.pack("<HH", 0xA5EC, 0x00C1)
    return cfb_bytes(
        {"WordDocument": fib, _SUMMARY: summary_information("Microsoft Office Word"), "1Table": b""},
        clsid=f"00020906-{_MS}",
    )


def xls_bytes() -> bytes:
    """An Excel 97-2003 workbook (the stream starts with a BIFF8 BOF record)."""
    bof = struct.pack("<HHHH", 0x0809, 16, 0x0600, 0x0005) + bytes(12)
    return cfb_bytes(
        {"Workbook": bof, _SUMMARY: summary_information("Microsoft Excel")},
        clsid=f"00020820-{_MS}",
    )


def ppt_bytes() -> bytes:
    """A PowerPoint 97-2003 presentation."""
    return cfb_bytes(
        {
            "PowerPoint Document": b"\x0f\x00\xe8\x03",
            "Current User": b"",
            _SUMMARY: summary_information("Microsoft Office PowerPoint"),
        },
        clsid="64818D10-4F9B-11CF-86EA-00AA00B929E8",
    )


def vsd_bytes() -> bytes:
    """A Visio 2003-2010 drawing."""
    return cfb_bytes(
        {"VisioDocument": b"Visio (TM) Drawing\r\n", _SUMMARY: summary_information("Microsoft Visio")},
        clsid=f"00021A14-{_MS}",
    )


def pub_bytes() -> bytes:
    """A Publisher publication."""
    return cfb_bytes(
        {"CONTENTS": b"", "Quill": b"", _SUMMARY: summary_information("Microsoft Publisher")},
        clsid="00021201-0000-0000-00C0-000000000046",
    )


def wps_bytes() -> bytes:
    """A Works 4 word-processor document."""
    return cfb_bytes({"MatOST": b"", "CONTENTS": b""}, clsid="28CDDBC2-0AE2-11CE-A29A-00AA004A1A72")


def awd_bytes() -> bytes:
    """A Microsoft At Work fax document."""
    return cfb_bytes(
        {"Page1": b"", "Persistent Information": b""}, clsid="02B01C80-E03D-101A-B294-00DD010F2BF9"
    )


def msi_bytes() -> bytes:
    """A Windows Installer package: an OLE2 file that must never be faxed."""
    return cfb_bytes({"\u4840\u3f3f": b""}, clsid="000C1084-0000-0000-C000-000000000046")


def wri_bytes(text: bytes = b"Hello from mail2fax\r\n") -> bytes:
    """A Windows Write 3.0 document: 128-byte header, then the text."""
    header = bytearray(128)
    header[0:6] = struct.pack("<HHH", 0xBE31, 0, 0xAB00)
    header[14:18] = struct.pack("<I", 128 + len(text))  # end of the text
    header[96:98] = struct.pack("<H", 2)  # pages in the file: Word for DOS leaves this 0
    return bytes(header) + text


def mcw_bytes() -> bytes:
    """A Word for Macintosh 5 document header."""
    return b"\xfe\x37\x00\x23" + bytes(124) + b"Hello\r"


def wk1_bytes() -> bytes:
    """A Lotus 1-2-3 release 2 worksheet (BOF then EOF)."""
    return struct.pack("<HHH", 0, 2, 0x0406) + struct.pack("<HH", 1, 0)


def _lotus3_bof(version: int) -> bytes:
    """A release 3+ BOF record (26 bytes of body; byte 20 of the file counts the sheets)."""
    body = struct.pack("<HH", version, 0x0004) + bytes(12) + struct.pack("<BB", 1, 0) + bytes(8)
    return struct.pack("<HH", 0, len(body)) + body + struct.pack("<HH", 1, 0)


def wk3_bytes() -> bytes:
    """A Lotus 1-2-3 release 3 worksheet (BOF then EOF)."""
    return _lotus3_bof(0x1000)


def wk4_bytes() -> bytes:
    """A Lotus 1-2-3 release 4 worksheet (BOF then EOF)."""
    return _lotus3_bof(0x1002)


def wq1_bytes() -> bytes:
    """A Quattro Pro for DOS spreadsheet (BOF then EOF)."""
    return struct.pack("<HHH", 0, 2, 0x5120) + struct.pack("<HH", 1, 0)
