"""message: a raw mail to the documents to fax, its headers and its refusals."""

from __future__ import annotations

import base64
import time
from email.policy import SMTP
from urllib.parse import quote

import pytest

from mail2fax.errors import NothingToFax, Refusal, TooLarge, UnfaxableDocument
from mail2fax.mail.message import COVER_TEXT_LIMIT, ParsedMail, cut_cover_text, parse_mail
from mail2fax.models import Document
from tests.corpus.mime import opaque_signed
from tests.samples import (
    Attachment,
    build_mail,
    csv_bytes,
    docx_bytes,
    elf_bytes,
    forward_bytes,
    mail_bytes,
    pdf_bytes,
    png_bytes,
    tiff_bytes,
    tnef_bytes,
    zip_bytes,
)

MiB = 1024 * 1024
BOM = b"\xef\xbb\xbf"


def parse(raw: bytes, body_mode: str = "auto", limit: int = 50 * MiB) -> ParsedMail:
    return parse_mail(raw, body_mode=body_mode, max_document_bytes=limit)  # type: ignore[arg-type]


def kinds(mail: ParsedMail) -> list[tuple[str, str]]:
    return [(d.filename, d.content_type) for d in mail.documents]


def raw_mail(headers: str, body: str) -> bytes:
    return (headers.strip("\n").replace("\n", "\r\n") + "\r\n\r\n" + body.replace("\n", "\r\n")).encode()


# --- documents ------------------------------------------------------------------------------


def test_a_scanned_pdf_declared_as_octet_stream_is_faxed_as_pdf() -> None:
    mail = parse(mail_bytes(attachments=[("scan0001.pdf", pdf_bytes())]))
    assert mail.documents == (Document("scan0001.pdf", "application/pdf", pdf_bytes()),)


def test_the_declared_type_and_name_never_decide_the_type() -> None:
    mail = parse(mail_bytes(attachments=[Attachment("photo.jpg", pdf_bytes(), "image/jpeg")]))
    assert kinds(mail) == [("photo.pdf", "application/pdf")]


def test_attachments_keep_their_mime_order() -> None:
    mail = parse(
        mail_bytes(attachments=[("b.pdf", pdf_bytes()), ("a.png", png_bytes()), ("c.docx", docx_bytes())])
    )
    assert [d.filename for d in mail.documents] == ["b.pdf", "a.png", "c.docx"]


def test_a_body_only_mail_faxes_its_text() -> None:
    mail = parse(mail_bytes(body="Please call me back.\nBob"))
    assert mail.documents == (Document("message.txt", "text/plain", b"Please call me back.\r\nBob\r\n"),)


def test_non_ascii_body_text_is_utf8_with_a_byte_order_mark() -> None:
    mail = parse(mail_bytes(body="Grüße aus Köln"))
    assert mail.documents[0].data == BOM + "Grüße aus Köln\r\n".encode()


def test_a_body_in_a_legacy_charset_is_converted_to_utf8() -> None:
    raw = raw_mail(
        "Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: 8bit", "caf\xe9"
    ).replace(b"caf\xc3\xa9", b"caf\xe9")
    assert parse(raw).documents[0].data == BOM + "café\r\n".encode()


def test_an_unknown_charset_or_none_still_gives_text() -> None:
    klingon = raw_mail("Content-Type: text/plain; charset=x-klingon", "hello")
    assert parse(klingon).documents[0].data == b"hello\r\n"
    undeclared = b"Content-Type: text/plain\r\nContent-Transfer-Encoding: 8bit\r\n\r\nK\xc3\xb6ln\r\n"
    assert parse(undeclared).documents[0].data == BOM + "Köln\r\n".encode()


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("auto", [("scan.pdf", "application/pdf")]),
        ("always", [("message.txt", "text/plain"), ("scan.pdf", "application/pdf")]),
        ("never", [("scan.pdf", "application/pdf")]),
    ],
)
def test_body_modes_with_an_attachment(mode: str, expected: list[tuple[str, str]]) -> None:
    assert (
        kinds(parse(mail_bytes(body="Cover note", attachments=[("scan.pdf", pdf_bytes())]), mode)) == expected
    )


def test_body_mode_never_without_attachment_has_nothing_to_fax() -> None:
    with pytest.raises(NothingToFax) as caught:
        parse(mail_bytes(body="only text"), "never")
    assert caught.value.reply == "554 5.6.0 the mail has no attachment or text to fax"


@pytest.mark.parametrize("body", ["", " ", "\n\n  \t\n"])
def test_an_empty_body_adds_nothing(body: str) -> None:
    with pytest.raises(NothingToFax):
        parse(mail_bytes(body=body))
    assert kinds(parse(mail_bytes(body=body, attachments=[("a.pdf", pdf_bytes())]), "always")) == [
        ("a.pdf", "application/pdf")
    ]


def test_an_html_only_mail_becomes_an_html_body_to_render() -> None:
    html = "<html><body><p>Hello <b>there</b></p></body></html>"
    mail = parse(mail_bytes(body=None, html=html))
    assert mail.documents == ()
    assert mail.html_body is not None
    assert mail.html_body.html == html + "\r\n"


def test_an_empty_html_body_adds_nothing() -> None:
    with pytest.raises(NothingToFax):
        parse(
            mail_bytes(body=None, html="<html><head><style>p {}</style></head><body> &nbsp; </body></html>")
        )


def test_alternative_prefers_the_html_the_sender_saw() -> None:
    mail = parse(mail_bytes(body="plain version", html="<p>html version</p>"))
    assert mail.documents == ()
    assert mail.html_body is not None
    assert "html version" in mail.html_body.html
    assert mail.html_body.plain == "plain version"


def test_alternative_with_an_empty_html_part_uses_the_plain_text() -> None:
    mail = parse(mail_bytes(body="plain version", html="<html><body> &nbsp; </body></html>"))
    assert mail.html_body is None
    assert mail.documents == (Document("message.txt", "text/plain", b"plain version\r\n"),)


def test_images_the_html_shows_belong_to_the_body() -> None:
    msg = build_mail(body="See the chart", html='<p>See <img src="cid:chart"></p>')
    html_part = msg.get_payload()[1]
    html_part.add_related(png_bytes(), maintype="image", subtype="png", cid="<chart>")
    mail = parse(msg.as_bytes(policy=SMTP))
    assert mail.documents == ()
    assert mail.html_body is not None
    assert mail.html_body.resources["chart"].data == png_bytes()
    assert [(o.label, o.reason) for o in mail.left_out] == [
        ("text/plain", "an alternative of the body"),
        ("image/png", "shown in place in the HTML text"),
    ]


def test_inline_parts_with_a_filename_are_attachments() -> None:
    raw = mail_bytes(attachments=[Attachment("notes.txt", b"call Bob\n", "text/plain", inline=True)])
    assert kinds(parse(raw)) == [("notes.txt", "text/plain")]


def test_a_real_attachment_drops_the_boilerplate_body() -> None:
    raw = mail_bytes(
        body="Scanned by MFP", attachments=[Attachment("scan.pdf", pdf_bytes(), "application/octet-stream")]
    )
    assert kinds(parse(raw)) == [("scan.pdf", "application/pdf")]


def test_text_files_keep_their_bytes() -> None:
    latin = "Müller;3\n".encode("latin-1")
    mail = parse(
        mail_bytes(attachments=[("list.csv", latin, "text/csv"), ("table.csv", csv_bytes(), "text/csv")])
    )
    assert mail.documents[0].data == latin
    assert kinds(mail)[1] == ("table.csv", "text/csv")


def test_a_forwarded_mail_contributes_its_attachments_not_its_wrapper_or_text() -> None:
    inner = mail_bytes(body="inner text", attachments=[("inner.pdf", pdf_bytes())])
    mail = parse(forward_bytes(inner, body="outer text", attachments=[("outer.tif", tiff_bytes())]))
    assert kinds(mail) == [("outer.tif", "image/tiff"), ("inner.pdf", "application/pdf")]


def test_a_forward_of_a_forward_is_unwrapped_recursively() -> None:
    innermost = mail_bytes(body="x", attachments=[("deep.pdf", pdf_bytes())])
    mail = parse(forward_bytes(forward_bytes(innermost, body="middle"), body="top"))
    assert kinds(mail) == [("deep.pdf", "application/pdf")]


def test_a_forwarded_mail_without_attachments_leaves_the_outer_body() -> None:
    inner = mail_bytes(body="inner text only")
    mail = parse(forward_bytes(inner, body="see below"))
    assert mail.documents == (Document("message.txt", "text/plain", b"see below\r\n"),)


def test_a_signed_mail_faxes_the_content_not_the_signature() -> None:
    raw = raw_mail(
        'MIME-Version: 1.0\nContent-Type: multipart/signed; protocol="application/pkcs7-signature"; '
        'micalg=sha-256; boundary="s"',
        "--s\nContent-Type: text/plain\n\nsigned text\n--s\nContent-Type: application/pkcs7-signature; "
        'name="smime.p7s"\nContent-Disposition: attachment; filename="smime.p7s"\n'
        "Content-Transfer-Encoding: base64\n\nMIAGCSqGSIb3DQEHAqCAMIACAQEx\n--s--\n",
    )
    assert parse(raw).documents == (Document("message.txt", "text/plain", b"signed text\r\n"),)


def test_an_encrypted_mail_is_refused() -> None:
    raw = raw_mail(
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/encrypted; protocol="application/pgp-encrypted"; boundary="e"',
        "--e\nContent-Type: application/pgp-encrypted\n\nVersion: 1\n--e\n"
        "Content-Type: application/octet-stream\n\n-----BEGIN PGP MESSAGE-----\n--e--\n",
    )
    with pytest.raises(UnfaxableDocument, match="encrypted"):
        parse(raw)


def test_appledouble_faxes_the_data_fork_only() -> None:
    raw = raw_mail(
        'MIME-Version: 1.0\nContent-Type: multipart/appledouble; boundary="a"',
        "--a\nContent-Type: application/applefile\nContent-Transfer-Encoding: base64\n\nAAUWBwACAAA=\n"
        "--a\nContent-Type: application/pdf; name=scan.pdf\n"
        "Content-Disposition: attachment; filename=scan.pdf\n\n"
        + pdf_bytes().decode("latin-1")
        + "\n--a--\n",
    )
    assert kinds(parse(raw)) == [("scan.pdf", "application/pdf")]


def test_a_bounce_report_faxes_only_its_human_readable_text() -> None:
    raw = raw_mail(
        "MIME-Version: 1.0\nAuto-Submitted: auto-replied\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="r"',
        "--r\nContent-Type: text/plain\n\nDelivery failed.\n--r\nContent-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; mx.example.com\n\nFinal-Recipient: rfc822; x@example.com\nAction: failed\n"
        "--r\nContent-Type: text/rfc822-headers\n\nSubject: hi\n--r--\n",
    )
    mail = parse(raw)
    assert mail.documents == (Document("message.txt", "text/plain", b"Delivery failed.\r\n"),)
    assert mail.auto_submitted


def test_several_inline_text_parts_are_joined() -> None:
    raw = raw_mail(
        'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="m"',
        "--m\nContent-Type: text/plain\n\nfirst\n--m\nContent-Type: text/calendar\n\nBEGIN:VCALENDAR\n"
        "--m\nContent-Type: text/plain\n\nsecond\n--m--\n",
    )
    assert parse(raw).documents[0].data == b"first\r\n\r\nsecond\r\n"


# --- refusals -------------------------------------------------------------------------------


def test_a_zip_attachment_refuses_the_whole_mail() -> None:
    raw = mail_bytes(attachments=[("scan.pdf", pdf_bytes()), ("more.zip", zip_bytes())])
    with pytest.raises(UnfaxableDocument) as caught:
        parse(raw)
    assert (
        caught.value.reply == '554 5.6.1 "more.zip" is a ZIP archive (application/zip), which cannot be faxed'
    )


def test_a_program_renamed_pdf_is_refused() -> None:
    with pytest.raises(UnfaxableDocument, match=r'"invoice.pdf" is a program \(application/x-executable\)'):
        parse(mail_bytes(attachments=[Attachment("invoice.pdf", elf_bytes(), "application/pdf")]))


def test_a_winmail_dat_without_files_is_left_out() -> None:
    mail = parse(
        mail_bytes(
            body="See you", attachments=[Attachment("winmail.dat", tnef_bytes(), "application/ms-tnef")]
        )
    )
    assert kinds(mail) == [("message.txt", "text/plain")]
    assert [o.label for o in mail.left_out] == ["winmail.dat"]


def test_a_damaged_winmail_dat_is_refused_with_a_hint() -> None:
    damaged = b"\x00" * 6 + tnef_bytes()[6:]
    with pytest.raises(UnfaxableDocument, match="Outlook TNEF attachment that cannot be read"):
        parse(mail_bytes(attachments=[Attachment("winmail.dat", damaged, "application/ms-tnef")]))


def test_an_empty_attachment_is_refused() -> None:
    with pytest.raises(UnfaxableDocument, match=r'"empty\.pdf" is empty'):
        parse(mail_bytes(attachments=[("empty.pdf", b"")]))


def test_an_unnamed_unfaxable_part_is_called_by_its_position() -> None:
    with pytest.raises(UnfaxableDocument, match='"attachment 2" is a ZIP archive'):
        parse(mail_bytes(attachments=[("a.pdf", pdf_bytes()), (None, zip_bytes())]))


def test_too_large_names_the_size_and_the_limit() -> None:
    raw = mail_bytes(attachments=[("a.pdf", pdf_bytes() + bytes(MiB)), ("b.pdf", pdf_bytes() + bytes(MiB))])
    with pytest.raises(TooLarge) as caught:
        parse(raw, limit=MiB + MiB // 2)
    assert caught.value.reply == "552 5.3.4 the documents are 2.0 MiB, over the limit of 1.5 MiB"


def test_too_large_counts_the_body_page() -> None:
    with pytest.raises(TooLarge, match="bytes"):
        parse(mail_bytes(body="x" * 100), limit=100)


def test_documents_exactly_at_the_limit_are_accepted() -> None:
    data = pdf_bytes()
    assert parse(mail_bytes(attachments=[("a.pdf", data)]), limit=len(data)).documents[0].data == data


# --- names ----------------------------------------------------------------------------------


def test_a_non_ascii_rfc2231_filename_is_transliterated() -> None:
    mail = parse(mail_bytes(attachments=[("Überweisung März €.pdf", pdf_bytes())]))
    assert kinds(mail) == [("Uberweisung Marz.pdf", "application/pdf")]
    assert b"filename*=" in mail_bytes(attachments=[("Überweisung.pdf", pdf_bytes())])


def test_an_rfc2047_encoded_filename_as_outlook_writes_it() -> None:
    raw = pdf_part_named('filename="=?utf-8?q?R=C3=A9sum=C3=A9=2Epdf?="')
    assert kinds(parse(raw)) == [("Resume.pdf", "application/pdf")]


def pdf_part_named(disposition_params: str) -> bytes:
    """A mail whose only part is a PDF with the given Content-Disposition parameters."""
    return raw_mail(
        "MIME-Version: 1.0\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n"
        f"Content-Disposition: attachment; {disposition_params}",
        base64.b64encode(pdf_bytes()).decode(),
    )


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("../../etc/passwd.pdf", "passwd.pdf"),
        ("..\\..\\windows\\system.ini.pdf", "system.ini.pdf"),
        ("evil\r\nBcc: victim@example.com.pdf", "evil Bcc_ victim_example.com.pdf"),
        ("a&b#c.pdf", "a_b_c.pdf"),
        (".profile", "profile.pdf"),
        ("\x00\x1b[31m.pdf", "31m.pdf"),
    ],
)
def test_hostile_filenames_become_safe(filename: str, expected: str) -> None:
    raw = pdf_part_named(f"filename*=utf-8''{quote(filename, safe='')}")
    assert kinds(parse(raw)) == [(expected, "application/pdf")]


# --- headers --------------------------------------------------------------------------------


def test_subject_is_decoded_and_its_whitespace_collapsed() -> None:
    raw = raw_mail("Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\n   aus  =?iso-8859-1?q?K=F6ln?=\tnow", "x")
    assert parse(raw).subject == "Grüße aus Köln now"


def test_a_missing_subject_is_empty() -> None:
    assert parse(mail_bytes(subject=None)).subject == ""


def test_raw_utf8_and_garbage_in_headers_are_read_safely() -> None:
    raw = b"Subject: Gr\xc3\xbc\xc3\x9fe \xff\x00end\r\nX-Fax-Cover: \xe9\r\n\r\nbody\r\n"
    mail = parse(raw)
    assert mail.subject == "Grüße \ufffdend"
    assert mail.fax_headers == {"x-fax-cover": "\ufffd"}
    mail.subject.encode("utf-8")


def test_message_id() -> None:
    assert parse(mail_bytes(message_id="<abc@example.com>")).message_id == "<abc@example.com>"
    assert parse(mail_bytes(message_id=None)).message_id is None


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, False),
        ({"Auto-Submitted": "no"}, False),
        ({"Auto-Submitted": "No ; comment"}, False),
        ({"Auto-Submitted": "auto-replied"}, True),
        ({"Auto-Submitted": "auto-generated"}, True),
        ({"Precedence": "bulk"}, True),
        ({"Precedence": "Junk"}, True),
        ({"Precedence": "list"}, True),
        ({"Precedence": "first-class"}, False),
    ],
)
def test_auto_submitted(headers: dict[str, str], expected: bool) -> None:
    assert parse(mail_bytes(headers=headers)).auto_submitted is expected


def test_recipient_names_from_to_and_cc() -> None:
    raw = mail_bytes(
        to=['"Bob Büro" <14155551212@FAX.local>', "4930901820@fax.local", "Team: Ann <ann@example.com>;"],
        cc="=?utf-8?q?J=C3=BCrgen?= <+442071838750@fax.local>, Bob Again <14155551212@fax.local>",
    )
    assert parse(raw).recipient_names == {
        "14155551212@fax.local": "Bob Büro",
        "ann@example.com": "Ann",
        "+442071838750@fax.local": "Jürgen",
    }


def test_unreadable_address_headers_give_no_names() -> None:
    raw = b"To: " + b"(" * 5000 + b"a@b\r\nCc: <<<@>>>\r\n\r\nbody\r\n"
    assert parse(raw).recipient_names == {}


def test_fax_headers_are_collected_lower_cased_and_decoded() -> None:
    raw = mail_bytes(
        headers={
            "X-Fax-Resolution": "Low",
            "x-fax-cover": "=?utf-8?q?Vertraulich?=",
            "X-FAX-SEND-AT": "2026-12-01 09:00 Europe/Berlin",
            "X-Mailer": "test",
        }
    )
    assert parse(raw).fax_headers == {
        "x-fax-resolution": "Low",
        "x-fax-cover": "Vertraulich",
        "x-fax-send-at": "2026-12-01 09:00 Europe/Berlin",
    }


# --- hostile structure ----------------------------------------------------------------------


def nested(depth: int) -> bytes:
    parts = [b"Subject: deep\r\nMIME-Version: 1.0\r\n"]
    parts += [
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i) for i in range(depth)
    ]
    parts.append(b"Content-Type: text/plain\r\n\r\nhello\r\n")
    parts += [b"--b%d--\r\n" % i for i in reversed(range(depth))]
    return b"".join(parts)


def test_moderate_nesting_is_fine() -> None:
    assert parse(nested(40)).documents[0].data == b"hello\r\n"


@pytest.mark.parametrize(
    ("depth", "words"), [(60, "nested more than 50 levels"), (300, "more than 100"), (3000, "more than 100")]
)
def test_deep_nesting_is_refused_quickly(depth: int, words: str) -> None:
    started = time.perf_counter()
    with pytest.raises(Refusal, match=words) as caught:
        parse(nested(depth))
    assert time.perf_counter() - started < 2
    assert caught.value.code == 554


def test_deep_nesting_inside_an_opaque_signature_is_refused_like_the_same_mail_unsigned() -> None:
    inner = nested(300).split(b"\r\n", 2)[2]  # the nested entity, without the mail's own headers
    signed = (
        b"Subject: deep\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: application/pkcs7-mime; smime-type=signed-data; name="smime.p7m"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(opaque_signed(inner))
    )
    with pytest.raises(Refusal, match="more than 100 multipart or message sections") as caught:
        parse(signed)
    assert caught.value.code == 554


def test_deeply_nested_forwards_are_refused() -> None:
    raw = b"Subject: x\r\n" + b"Content-Type: message/rfc822\r\n\r\n" * 400 + b"\r\nhi\r\n"
    with pytest.raises(Refusal):
        parse(raw)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\r\n",
        b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed\r\n\r\n--x\r\n\r\n%PDF-1.4\r\n--x--\r\n",
        b'Content-Type: multipart/mixed; boundary="never"\r\n\r\nno parts here\r\n',
        b"Content-Type: message/rfc822\r\n\r\n",
    ],
)
def test_mails_with_nothing_usable(raw: bytes) -> None:
    with pytest.raises(NothingToFax):
        parse(raw)


def test_invalid_base64_and_rfc2231_are_survived() -> None:
    raw = raw_mail(
        "MIME-Version: 1.0\nContent-Type: application/pdf\nContent-Transfer-Encoding: base64\n"
        "Content-Disposition: attachment; filename*=x-unknown''%ff%fe; filename*0*=bad",
        "JVBERi0xLjQK!!!===",
    )
    mail = parse(raw)
    assert kinds(mail)[0][1] == "application/pdf"


def test_huge_headers_are_parsed_quickly() -> None:
    raw = (
        b"Subject: " + b"=?utf-8?q?a=C3=A4?= " * 50000 + b"\r\n"
        b"To: " + b", ".join(b'"N %d" <%d@fax.local>' % (i, i) for i in range(20000)) + b"\r\n"
        b"Content-Type: text/plain; " + b"; ".join(b"p%d=v" % i for i in range(20000)) + b"\r\n\r\nhello\r\n"
    )
    started = time.perf_counter()
    mail = parse(raw)
    assert time.perf_counter() - started < 3
    assert mail.subject.startswith("aäaä")
    assert mail.documents[0].data == b"hello\r\n"


def test_very_long_lines() -> None:
    assert len(parse(raw_mail("Subject: x", "a" * 2_000_000)).documents[0].data) == 2_000_002


# --- cover text -----------------------------------------------------------------------------


def test_cut_cover_text() -> None:
    assert cut_cover_text("short") == "short"
    exact = "x" * COVER_TEXT_LIMIT
    assert cut_cover_text(exact) == exact
    cut = cut_cover_text("word " * 400)
    assert len(cut) <= COVER_TEXT_LIMIT and cut.endswith("word...")
    unbroken = cut_cover_text("y" * 5000)
    assert len(unbroken) == COVER_TEXT_LIMIT and unbroken.endswith("y...")


def test_a_signature_logo_is_shown_in_the_body_not_faxed_as_a_page() -> None:
    from email.message import EmailMessage

    from tests.samples.images import png_bytes

    message = EmailMessage()
    message["From"] = "alice@example.com"
    message["To"] = "14155551212@fax.local"
    message["Subject"] = "Call me"
    message.set_content("Please call me back.\n")
    message.add_alternative('<p>Please call me back.</p><img src="cid:logo@example.com">', subtype="html")
    message.get_payload()[1].add_related(
        png_bytes(),
        maintype="image",
        subtype="png",
        cid="<logo@example.com>",
        filename="logo.png",
        disposition="inline",
    )
    parsed = parse_mail(bytes(message), body_mode="auto", max_document_bytes=10_000_000)
    assert parsed.documents == ()
    assert parsed.html_body is not None
    assert list(parsed.html_body.resources) == ["logo@example.com"]
