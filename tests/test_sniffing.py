"""sniffing: the real type of a document, judged from its bytes against RingCentral's list."""

from __future__ import annotations

import threading
import zipfile
from io import BytesIO

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mail2fax.errors import UnfaxableDocument
from mail2fax.mail.sniffing import PREFIX_BYTES, SniffedType, safe_filename, sniff
from tests.samples import (
    ACCEPTED,
    REFUSED,
    cfb_bytes,
    doc_bytes,
    docx_bytes,
    elf_bytes,
    pdf_bytes,
    png_bytes,
    random_bytes,
    tnef_bytes,
    vsd_bytes,
    xlsx_bytes,
)

# RingCentral's 42 extensions (API-NOTES section 2).
RINGCENTRAL_EXTENSIONS = {
    *("pdf", "psd", "doc", "docx", "dot", "mcw", "xls", "xlsx", "xlsb", "ppt", "pptx", "vsd", "vdx"),
    *("pub", "wps", "wri", "awd", "tif", "tiff", "gif", "jpg", "jpeg", "bmp", "png", "pcx", "tga"),
    *("rtf", "txt", "log", "h", "cpp", "c", "err", "hpp", "wk1", "wk3", "wk4", "wq1", "xml", "html"),
    *("htm", "csv"),
}


def test_the_samples_cover_every_extension_ringcentral_takes() -> None:
    assert len(RINGCENTRAL_EXTENSIONS) == 42
    assert {sample.extension for sample in ACCEPTED.values()} == RINGCENTRAL_EXTENSIONS


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_each_accepted_type_is_recognised_from_its_bytes(name: str) -> None:
    sample = ACCEPTED[name]
    found = sniff(sample.build(), label=sample.filename)
    assert (found.content_type, found.extension) == (sample.content_type, sample.extension)
    assert found.description


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_each_refused_type_is_named_in_the_refusal(name: str) -> None:
    build, filename, mime = REFUSED[name]
    with pytest.raises(UnfaxableDocument) as caught:
        sniff(build(), label=filename)
    assert caught.value.reason.startswith(f'"{filename}" is ')
    assert f"({mime})" in caught.value.reason
    assert "cannot be faxed" in caught.value.reason
    assert caught.value.reply.startswith("554 5.6.1 ")


def test_a_pdf_is_a_pdf_whatever_it_is_called() -> None:
    for label in ("scan.bin", "scan", "attachment 1", "scan.PDF", "image.jpg"):
        assert sniff(pdf_bytes(), label=label) == SniffedType("application/pdf", "pdf", "a PDF document")


def test_a_program_renamed_to_pdf_is_still_a_program() -> None:
    with pytest.raises(UnfaxableDocument, match=r'"invoice.pdf" is a program \(application/x-executable\)'):
        sniff(elf_bytes(), label="invoice.pdf")


def test_a_declared_extension_never_makes_binary_data_text() -> None:
    with pytest.raises(UnfaxableDocument, match="application/octet-stream"):
        sniff(random_bytes(), label="notes.txt")


def test_text_keeps_a_text_extension_from_ringcentral_list_and_becomes_txt_otherwise() -> None:
    text = b"line one\nline two\n"
    assert sniff(text, label="server.log").extension == "log"
    assert sniff(text, label="README").extension == "txt"
    assert sniff(text, label="notes.md").extension == "txt"
    assert sniff(text, label="report.pdf") == SniffedType("text/plain", "txt", "a text file")


def test_csv_is_sent_as_csv_but_may_keep_another_text_extension() -> None:
    table = ACCEPTED["csv"].build()
    assert sniff(table, label="data").content_type == "text/csv"
    assert sniff(table, label="data.txt") == SniffedType("text/plain", "txt", "a CSV table")


def test_tnef_is_refused_with_advice() -> None:
    with pytest.raises(UnfaxableDocument) as caught:
        sniff(tnef_bytes(), label="winmail.dat")
    assert "Outlook TNEF attachment (application/vnd.ms-tnef)" in caught.value.reason
    assert "HTML or plain text" in caught.value.reason


def test_empty_data_is_refused() -> None:
    with pytest.raises(UnfaxableDocument, match=r'"scan\.pdf" is empty'):
        sniff(b"", label="scan.pdf")


def test_the_label_in_a_refusal_is_safe_for_an_smtp_reply() -> None:
    with pytest.raises(UnfaxableDocument) as caught:
        sniff(elf_bytes(), label="Überweisung\r\n250 OK\x00.pdf")
    reason = caught.value.reason
    assert reason.isascii()
    assert "\r" not in reason and "\n" not in reason and "\x00" not in reason
    assert reason.startswith('"Uberweisung 250 OK?.pdf" is a program')


def test_a_zip_that_is_an_office_document_is_recognised_even_when_libmagic_says_zip() -> None:
    # A big first member pushes the Word part beyond the libmagic member walk.
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("docProps/thumbnail.jpeg", bytes(20000))
        archive.writestr("word/document.xml", "<w:document/>")
    found = sniff(buffer.getvalue(), label="letter")
    assert found.extension == "docx"


def test_a_big_document_is_judged_by_its_start() -> None:
    data = pdf_bytes() + bytes(3 * PREFIX_BYTES)
    assert sniff(data, label="big.pdf").extension == "pdf"
    assert sniff(docx_bytes() + bytes(100), label="x").extension == "docx"
    assert sniff(xlsx_bytes(), label="x").extension == "xlsx"


def test_an_ole2_file_libmagic_cannot_place_keeps_an_office_extension_it_was_given() -> None:
    unknown = cfb_bytes({"Contents": b"x"}, clsid="12345678-1234-1234-1234-123456789ABC")
    assert sniff(unknown, label="drawing.vsd") == SniffedType(
        "application/vnd.visio", "vsd", "an Office document"
    )
    with pytest.raises(UnfaxableDocument, match="application/x-ole-storage"):
        sniff(unknown, label="drawing.bin")


def test_ole2_documents_are_recognised_whatever_they_are_called() -> None:
    assert sniff(doc_bytes(), label="attachment 1").extension == "doc"
    assert sniff(vsd_bytes(), label="attachment 1").extension == "vsd"


def test_sniffing_from_many_threads_gives_the_same_answers() -> None:
    samples = [(ACCEPTED[name].build(), ACCEPTED[name]) for name in ("pdf", "png", "doc", "docx", "txt")]
    errors: list[str] = []

    def work() -> None:
        for _ in range(30):
            for data, sample in samples:
                found = sniff(data, label=sample.filename)
                if found.extension != sample.extension:
                    errors.append(f"{sample.filename}: {found}")

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_png_sample_is_detected_with_a_misleading_name() -> None:
    assert sniff(png_bytes(), label="photo.jpeg").extension == "png"


# --- safe_filename --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("original", "extension", "expected"),
    [
        ("invoice.pdf", "pdf", "invoice.pdf"),
        ("Invoice 2024-03.PDF", "pdf", "Invoice 2024-03.pdf"),
        ("scan.bin", "pdf", "scan.pdf"),
        ("scan", "pdf", "scan.pdf"),
        ("archive.tar.gz", "pdf", "archive.tar.pdf"),
        ("Überweisung März.pdf", "pdf", "Uberweisung Marz.pdf"),
        ("façade café.docx", "docx", "facade cafe.docx"),
        ("../../etc/passwd.pdf", "pdf", "passwd.pdf"),
        ("C:\\Users\\bob\\Desktop\\fax.tif", "tiff", "fax.tiff"),
        ("a&b@c#d$e%f^g*h.pdf", "pdf", "a_b_c_d_e_f_g_h.pdf"),
        ("Rechnung #12 & Co.pdf", "pdf", "Rechnung _12 _ Co.pdf"),
        (".hidden.pdf", "pdf", "hidden.pdf"),
        ("...pdf", "pdf", "pdf.pdf"),
        (".profile", "pdf", "profile.pdf"),
        (". . .", "pdf", "document-3.pdf"),
        ("evil\r\nBcc: victim@example.com.pdf", "pdf", "evil Bcc_ victim_example.com.pdf"),
        ("evil\r\nContent-Type: text/html.pdf", "pdf", "html.pdf"),
        ("tab\tand  spaces.txt", "txt", "tab and spaces.txt"),
        ("請求書.pdf", "pdf", "document-3.pdf"),
        ("", "pdf", "document-3.pdf"),
        (None, "png", "document-3.png"),
        ("&&&.pdf", "pdf", "document-3.pdf"),
        ("report.pdf", ".pdf", "report.pdf"),
        ("-rf.pdf", "pdf", "rf.pdf"),
    ],
)
def test_safe_filename(original: str | None, extension: str, expected: str) -> None:
    assert safe_filename(original, extension, 3) == expected


def test_safe_filename_is_short_and_keeps_its_extension() -> None:
    name = safe_filename("x" * 500 + ".pdf", "pdf", 1)
    assert len(name) == 100
    assert name.endswith("xxx.pdf")


@pytest.mark.parametrize("original", ["a/b\\c.pdf", "\x00\x01.pdf", "\u202egnp.exe", "x" * 1000, "a. . .pdf"])
def test_safe_filename_uses_only_the_safe_alphabet(original: str) -> None:
    name = safe_filename(original, "pdf", 7)
    assert set(name) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._ -")
    assert not name.startswith(".")
    assert name.endswith(".pdf")
    assert len(name) <= 100


# --- any bytes ------------------------------------------------------------------------------

PREFIXES = [b"", b"PK\x03\x04", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", b"%PDF-", b"II*\x00", b"{\\rtf1", b"MZ"]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(PREFIXES), st.binary(max_size=3000), st.text(max_size=30))
def test_any_bytes_give_a_type_or_a_refusal(prefix: bytes, data: bytes, label: str) -> None:
    try:
        found = sniff(prefix + data, label=label)
    except UnfaxableDocument as exc:
        reason = exc.reason
    else:
        reason = ""
        assert found.extension in RINGCENTRAL_EXTENSIONS
        assert safe_filename(label, found.extension, 1).endswith("." + found.extension)
    assert reason.isascii() and "\n" not in reason


def test_truncated_office_files() -> None:
    assert sniff(docx_bytes()[:-200], label="x").extension == "docx"  # the local headers suffice
    assert sniff(doc_bytes()[:1500], label="x").extension == "doc"  # the directory is still there
    with pytest.raises(UnfaxableDocument, match="Composite Document File"):
        sniff(doc_bytes()[:520], label="x.doc")  # nothing but the header
