"""Sample documents and mails for tests, all built in code: nothing binary is committed.

Every builder returns real bytes of its format (the images open in an image viewer, the PDF in a
PDF reader, the Office files in their readers as far as their placeholder content goes).

``ACCEPTED`` lists each faxable sample with the name a sender might give it and what
``mail2fax.mail.sniffing.sniff`` makes of it; ``REFUSED`` lists samples that must never be faxed with
the MIME type the refusal names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from tests.samples.images import (
    bmp_bytes,
    gif_bytes,
    jpeg_bytes,
    pcx_bytes,
    png_bytes,
    psd_bytes,
    tga_bytes,
    tiff_bytes,
)
from tests.samples.mail import Attachment, build_mail, forward_bytes, mail_bytes
from tests.samples.office import (
    awd_bytes,
    cfb_bytes,
    doc_bytes,
    docx_bytes,
    mcw_bytes,
    msi_bytes,
    odt_bytes,
    ppt_bytes,
    pptx_bytes,
    pub_bytes,
    vsd_bytes,
    wk1_bytes,
    wk3_bytes,
    wk4_bytes,
    wps_bytes,
    wq1_bytes,
    wri_bytes,
    xls_bytes,
    xlsb_bytes,
    xlsx_bytes,
)
from tests.samples.other import (
    c_source_bytes,
    csv_bytes,
    dos_exe_bytes,
    elf_bytes,
    gzip_bytes,
    html_bytes,
    mp4_bytes,
    pdf_bytes,
    pe_bytes,
    random_bytes,
    rtf_bytes,
    svg_bytes,
    text_bytes,
    tnef_bytes,
    vdx_bytes,
    wav_bytes,
    xml_bytes,
    zip_bytes,
)

_OOXML = "application/vnd.openxmlformats-officedocument"


@dataclass(frozen=True)
class Sample:
    """A sample file: how to build it, its usual name and what sniffing reports for it."""

    build: Callable[[], bytes]
    filename: str
    content_type: str
    extension: str


ACCEPTED: dict[str, Sample] = {
    "pdf": Sample(pdf_bytes, "scan.pdf", "application/pdf", "pdf"),
    "tiff": Sample(tiff_bytes, "fax.tiff", "image/tiff", "tiff"),
    "tif": Sample(tiff_bytes, "fax.tif", "image/tiff", "tif"),
    "gif": Sample(gif_bytes, "logo.gif", "image/gif", "gif"),
    "jpeg": Sample(jpeg_bytes, "photo.jpeg", "image/jpeg", "jpeg"),
    "jpg": Sample(jpeg_bytes, "photo.jpg", "image/jpeg", "jpg"),
    "png": Sample(png_bytes, "chart.png", "image/png", "png"),
    "bmp": Sample(bmp_bytes, "paint.bmp", "image/bmp", "bmp"),
    "pcx": Sample(pcx_bytes, "old.pcx", "image/x-pcx", "pcx"),
    "tga": Sample(tga_bytes, "render.tga", "image/x-tga", "tga"),
    "psd": Sample(psd_bytes, "layout.psd", "image/vnd.adobe.photoshop", "psd"),
    "doc": Sample(doc_bytes, "letter.doc", "application/msword", "doc"),
    "dot": Sample(doc_bytes, "template.dot", "application/msword", "dot"),
    "mcw": Sample(mcw_bytes, "letter.mcw", "application/msword", "mcw"),
    "docx": Sample(docx_bytes, "letter.docx", f"{_OOXML}.wordprocessingml.document", "docx"),
    "xls": Sample(xls_bytes, "sheet.xls", "application/vnd.ms-excel", "xls"),
    "xlsx": Sample(xlsx_bytes, "sheet.xlsx", f"{_OOXML}.spreadsheetml.sheet", "xlsx"),
    "xlsb": Sample(xlsb_bytes, "sheet.xlsb", "application/vnd.ms-excel.sheet.binary.macroEnabled.12", "xlsb"),
    "ppt": Sample(ppt_bytes, "slides.ppt", "application/vnd.ms-powerpoint", "ppt"),
    "pptx": Sample(pptx_bytes, "slides.pptx", f"{_OOXML}.presentationml.presentation", "pptx"),
    "vsd": Sample(vsd_bytes, "drawing.vsd", "application/vnd.visio", "vsd"),
    "vdx": Sample(vdx_bytes, "drawing.vdx", "application/xml", "vdx"),
    "pub": Sample(pub_bytes, "flyer.pub", "application/vnd.ms-publisher", "pub"),
    "wps": Sample(wps_bytes, "note.wps", "application/vnd.ms-works", "wps"),
    "wri": Sample(wri_bytes, "note.wri", "application/x-mswrite", "wri"),
    "awd": Sample(awd_bytes, "received.awd", "image/x-ms-awd", "awd"),
    "wk1": Sample(wk1_bytes, "budget.wk1", "application/vnd.lotus-1-2-3", "wk1"),
    "wk3": Sample(wk3_bytes, "budget.wk3", "application/vnd.lotus-1-2-3", "wk3"),
    "wk4": Sample(wk4_bytes, "budget.wk4", "application/vnd.lotus-1-2-3", "wk4"),
    "wq1": Sample(wq1_bytes, "budget.wq1", "application/x-quattro-pro", "wq1"),
    "rtf": Sample(rtf_bytes, "memo.rtf", "application/rtf", "rtf"),
    "txt": Sample(text_bytes, "note.txt", "text/plain", "txt"),
    "log": Sample(partial(text_bytes, "12:00 started\n12:01 done\n"), "run.log", "text/plain", "log"),
    "err": Sample(partial(text_bytes, "error: disk full\n"), "run.err", "text/plain", "err"),
    "c": Sample(c_source_bytes, "hello.c", "text/plain", "c"),
    "h": Sample(c_source_bytes, "hello.h", "text/plain", "h"),
    "cpp": Sample(c_source_bytes, "hello.cpp", "text/plain", "cpp"),
    "hpp": Sample(c_source_bytes, "hello.hpp", "text/plain", "hpp"),
    "csv": Sample(csv_bytes, "numbers.csv", "text/csv", "csv"),
    "xml": Sample(xml_bytes, "order.xml", "application/xml", "xml"),
    "html": Sample(html_bytes, "page.html", "text/html", "html"),
    "htm": Sample(html_bytes, "page.htm", "text/html", "htm"),
}

REFUSED: dict[str, tuple[Callable[[], bytes], str, str]] = {
    "zip": (zip_bytes, "documents.zip", "application/zip"),
    "gzip": (gzip_bytes, "scan.pdf.gz", "application/gzip"),
    "elf": (elf_bytes, "tool", "application/x-executable"),
    "pe": (pe_bytes, "setup.exe", "application/vnd.microsoft.portable-executable"),
    "dos": (dos_exe_bytes, "game.exe", "application/octet-stream"),
    "msi": (msi_bytes, "setup.msi", "application/x-msi"),
    "tnef": (tnef_bytes, "winmail.dat", "application/vnd.ms-tnef"),
    "wav": (wav_bytes, "voicemail.wav", "audio/x-wav"),
    "mp4": (mp4_bytes, "clip.mp4", "video/mp4"),
    "odt": (odt_bytes, "letter.odt", "application/vnd.oasis.opendocument.text"),
    "svg": (svg_bytes, "logo.svg", "image/svg+xml"),
    "random": (random_bytes, "blob.bin", "application/octet-stream"),
}

__all__ = [
    "ACCEPTED",
    "REFUSED",
    "Attachment",
    "Sample",
    "awd_bytes",
    "bmp_bytes",
    "build_mail",
    "c_source_bytes",
    "cfb_bytes",
    "csv_bytes",
    "doc_bytes",
    "docx_bytes",
    "dos_exe_bytes",
    "elf_bytes",
    "forward_bytes",
    "gif_bytes",
    "gzip_bytes",
    "html_bytes",
    "jpeg_bytes",
    "mail_bytes",
    "mcw_bytes",
    "mp4_bytes",
    "msi_bytes",
    "odt_bytes",
    "pcx_bytes",
    "pdf_bytes",
    "pe_bytes",
    "png_bytes",
    "ppt_bytes",
    "pptx_bytes",
    "psd_bytes",
    "pub_bytes",
    "random_bytes",
    "rtf_bytes",
    "svg_bytes",
    "text_bytes",
    "tga_bytes",
    "tiff_bytes",
    "tnef_bytes",
    "vdx_bytes",
    "vsd_bytes",
    "wav_bytes",
    "wk1_bytes",
    "wk3_bytes",
    "wk4_bytes",
    "wps_bytes",
    "wq1_bytes",
    "wri_bytes",
    "xls_bytes",
    "xlsb_bytes",
    "xlsx_bytes",
    "xml_bytes",
    "zip_bytes",
]
