"""Mails as each client family structures them, each with what must be faxed.

The structures follow what these clients are seen to send (the MIME trees of published test
mails of mail-parsing libraries, and the clients' own conventions for names and Content-IDs):

- Outlook desktop: ``mixed[related[alternative[plain, html], image001.png], attachments]``,
  logos ``image001.png`` with ``Content-ID: <image001.png@01DA...>``, disposition ``inline``;
  Rich Text mail as ``mixed[plain, winmail.dat]``.
- Outlook on the web: ``multipart/related; type="text/html"`` at the top, attachments with a
  ``Content-ID`` they are never referred to by.
- Outlook for iOS and Apple/iOS Mail: real attachments with ``Content-Disposition: inline`` and
  a filename; Apple's HTML split around them in ``alternative[plain, mixed[html, file, html]]``.
- Gmail: ``mixed[alternative[plain, html], file]`` with ``X-Attachment-Id`` and a Content-ID on
  every attachment; inline images ``ii_...`` in ``related``.
- Thunderbird: ``OpenPGP_0x....asc`` keys (``application/pgp-keys``), PGP/MIME signatures.
- Lotus Notes: layout GIFs (``graycol.gif``, ``ecblank.gif``) in ``related``, named.
- Invitations: ``text/calendar; method=REQUEST`` inside the alternative and an ``invite.ics``.
"""

from __future__ import annotations

from tests.corpus.mime import (
    detached_signature,
    enveloped,
    message,
    multipart,
    opaque_signed,
    part,
    rfc822,
    text,
    tnef,
)
from tests.corpus.model import BODY_PDF, BODY_TEXT, Case, Doc, refused
from tests.samples.images import gif_bytes, jpeg_bytes, png_bytes, tiff_frames
from tests.samples.office import docx_bytes, xlsx_bytes
from tests.samples.other import pdf_bytes, zip_bytes

PDF1 = pdf_bytes(1, "Invoice 42")
PDF3 = pdf_bytes(3, "Purchase order 7")
PDF2 = pdf_bytes(2, "Agenda")
LOGO = png_bytes(120, 40)
PHOTO = jpeg_bytes(64, 48)
PHOTO2 = jpeg_bytes(48, 64)
DOCX = docx_bytes()
XLSX = xlsx_bytes()
KEY = b"-----BEGIN PGP PUBLIC KEY BLOCK-----\r\n\r\nxsBNBGVx\r\n-----END PGP PUBLIC KEY BLOCK-----\r\n"
VCARD = b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Alice Example\r\nTEL:+14155550100\r\nEND:VCARD\r\n"
ICS = (
    b"BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nPRODID:Corpus\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\n"
    b"DTSTART:20261203T090000Z\r\nSUMMARY:Review\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)
OUTLOOK_CID = "image001.png@01DA2B3C.4D5E6F70"


def _pdf(data: bytes, name: str, disposition: str = "attachment", *extra: str) -> bytes:
    return part(
        f'application/pdf; name="{name}"',
        data,
        f"Content-Description: {name}",
        f'Content-Disposition: {disposition}; filename="{name}"; size={len(data)}',
        *extra,
    )


def _image(kind: str, data: bytes, name: str, cid: str | None, disposition: str = "inline") -> bytes:
    headers = [f'Content-Disposition: {disposition}; filename="{name}"']
    if cid:
        headers.append(f"Content-ID: <{cid}>")
    return part(f'image/{kind}; name="{name}"', data, *headers)


def _outlook_html(words: str, *cids: str) -> str:
    images = "".join(f'<img width="120" height="40" src="cid:{cid}" alt="logo">' for cid in cids)
    return (
        '<html xmlns:o="urn:schemas-microsoft-com:office:office"><head><meta http-equiv="Content-Type" '
        'content="text/html; charset=utf-8"><style><!-- p.MsoNormal {margin:0cm; font-size:11.0pt;'
        'font-family:"Calibri",sans-serif;} --></style></head><body lang="EN-US"><div class="WordSection1">'
        f'<p class="MsoNormal">{words}<o:p></o:p></p><p class="MsoNormal">Kind regards<br>Alice Example'
        f'<o:p></o:p></p><p class="MsoNormal">{images}<o:p></o:p></p></div></body></html>'
    )


def _outlook_body(words: str, *cids: str) -> bytes:
    alternative = multipart(
        "alternative",
        text("plain", f"{words}\n\nKind regards\nAlice Example\n"),
        text("html", _outlook_html(words, *cids)),
    )
    logos = [_image("png", LOGO, cid.split("@")[0], cid) for cid in cids]
    if not logos:
        return alternative
    return multipart("related", alternative, *logos, params='; type="multipart/alternative"')


def outlook() -> list[Case]:
    family = "Outlook desktop"
    two = ("image001.png@01DA2B3C.4D5E6F70", "image002.png@01DA2B3C.4D5E6F70")
    forwarded = message(
        multipart("mixed", _outlook_body("Signed order below.", OUTLOOK_CID), _pdf(PDF3, "PO 7.pdf")),
        subject="PO 7",
    )
    return [
        Case(
            "outlook-logo-and-invoice",
            family,
            message(
                multipart(
                    "mixed", _outlook_body("Invoice attached.", OUTLOOK_CID), _pdf(PDF1, "Invoice 42.pdf")
                ),
                subject="Invoice 42",
            ),
            (Doc("application/pdf", PDF1, 1),),
        ),
        Case(
            "outlook-logo-no-attachment",
            family,
            message(_outlook_body("Please call me back.", OUTLOOK_CID), subject="Call back"),
            (BODY_PDF.showing("Please call me back", images=1),),
        ),
        Case(
            "outlook-two-logos-two-pdfs",
            family,
            message(
                multipart(
                    "mixed",
                    _outlook_body("Both forms attached.", *two),
                    _pdf(PDF1, "a.pdf"),
                    _pdf(PDF3, "b.pdf"),
                ),
                subject="Forms",
            ),
            (Doc("application/pdf", PDF1, 1), Doc("application/pdf", PDF3, 3)),
        ),
        Case(
            "outlook-logo-and-word",
            family,
            message(
                multipart(
                    "mixed",
                    _outlook_body("Contract attached.", OUTLOOK_CID),
                    part(
                        'application/vnd.openxmlformats-officedocument.wordprocessingml.document; name="Contract.docx"',
                        DOCX,
                        'Content-Disposition: attachment; filename="Contract.docx"',
                    ),
                ),
                subject="Contract",
            ),
            (Doc("application/vnd.openxmlformats-officedocument.wordprocessingml.document", DOCX),),
        ),
        Case(
            "outlook-pdf-and-excel",
            family,
            message(
                multipart(
                    "mixed",
                    _outlook_body("Figures attached.", OUTLOOK_CID),
                    _pdf(PDF1, "Summary.pdf"),
                    part(
                        'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet; name="Q3.xlsx"',
                        XLSX,
                        'Content-Disposition: attachment; filename="Q3.xlsx"',
                    ),
                ),
                subject="Q3",
            ),
            (
                Doc("application/pdf", PDF1, 1),
                Doc("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", XLSX),
            ),
        ),
        Case(
            "outlook-rich-text-winmail-with-pdf",
            family,
            message(
                multipart(
                    "mixed",
                    text("plain", "Invoice attached.\n"),
                    part(
                        'application/ms-tnef; name="winmail.dat"',
                        tnef(("Invoice 42.pdf", PDF1)),
                        'Content-Disposition: attachment; filename="winmail.dat"',
                    ),
                ),
                subject="Invoice 42",
                extra=("X-MS-TNEF-Correlator: <00000000AB12@example.com>",),
            ),
            (Doc("application/pdf", PDF1, 1),),
        ),
        Case(
            "outlook-winmail-without-files",
            family,
            message(
                multipart(
                    "mixed",
                    _outlook_body("Meeting moved to Friday.", OUTLOOK_CID),
                    part(
                        'application/ms-tnef; name="winmail.dat"',
                        tnef(),
                        'Content-Disposition: attachment; filename="winmail.dat"',
                    ),
                ),
                subject="Friday",
            ),
            (BODY_PDF.showing("Meeting moved to Friday", images=1),),
        ),
        Case(
            "outlook-forward-as-attachment",
            family,
            message(
                multipart(
                    "mixed",
                    _outlook_body("See the attached mail.", OUTLOOK_CID),
                    rfc822(forwarded, 'Content-Disposition: attachment; filename="PO 7.eml"'),
                ),
                subject="FW: PO 7",
            ),
            (Doc("application/pdf", PDF3, 3),),
        ),
    ]


def outlook_web() -> list[Case]:
    family = "Outlook on the web"
    html = '<html><body><div style="font-family:Calibri">Hello Bob,<br>the chart:<br><img src="cid:a1b2c3d4-e5f6" style="max-width:100%"></div></body></html>'
    related = multipart(
        "related",
        text("html", html),
        _image("png", LOGO, "image.png", "a1b2c3d4-e5f6"),
        params='; type="text/html"',
    )
    mixed_with_cid = multipart(
        "mixed",
        multipart(
            "alternative",
            text("plain", "Hello Bob, PDF attached."),
            text("html", "<div>Hello Bob, PDF attached.</div>"),
        ),
        _pdf(PDF3, "Order.pdf", "attachment", "Content-ID: <6B0F1A2C9D8E7F60@EURPRD01.PROD.OUTLOOK.COM>"),
    )
    return [
        Case(
            "owa-inline-chart",
            family,
            message(related, subject="Chart"),
            (BODY_PDF.showing("the chart", images=1),),
        ),
        Case(
            "owa-pdf-with-content-id",
            family,
            message(mixed_with_cid, subject="Order"),
            (Doc("application/pdf", PDF3, 3),),
        ),
        Case(
            "owa-inline-chart-and-pdf",
            family,
            message(multipart("mixed", related, _pdf(PDF1, "Invoice.pdf")), subject="Invoice"),
            (Doc("application/pdf", PDF1, 1),),
        ),
        Case(
            "owa-text-only",
            family,
            message(
                multipart(
                    "alternative",
                    text("plain", "Please fax back."),
                    text("html", "<div>Please fax <b>back</b>.</div>"),
                ),
                subject="Back",
            ),
            (BODY_PDF.showing("Please fax back"),),
        ),
    ]


def outlook_ios() -> list[Case]:
    family = "Outlook for iOS"
    body = multipart(
        "alternative",
        text("plain", "Here it is\n\nGet Outlook for iOS"),
        text(
            "html",
            '<html><body><div dir="auto">Here it is</div><div id="ms-outlook-mobile-signature">Get <a href="https://aka.ms/o0ukef">Outlook for iOS</a></div></body></html>',
        ),
    )
    return [
        Case(
            "outlook-ios-inline-pdf",
            family,
            message(
                multipart(
                    "mixed",
                    body,
                    _pdf(PDF3, "Scan.pdf", "inline", "Content-ID: <F1A2B3C4D5E6@namprd00.prod.outlook.com>"),
                ),
                subject="Scan",
            ),
            (Doc("application/pdf", PDF3, 3),),
        ),
        Case(
            "outlook-ios-photo",
            family,
            message(
                multipart(
                    "mixed",
                    body,
                    _image("jpeg", PHOTO, "image0.jpeg", "B7C8D9E0F1A2@namprd00.prod.outlook.com"),
                ),
                subject="Photo",
            ),
            (Doc("image/jpeg", PHOTO),),
        ),
        Case(
            "outlook-ios-message-txt",
            family,
            message(
                multipart(
                    "mixed",
                    body,
                    part(
                        'text/plain; name="message.txt"',
                        b"Order 7: 12 boxes\r\n",
                        'Content-Disposition: inline; filename="message.txt"',
                        encoding="7bit",
                    ),
                ),
                subject="Order",
            ),
            (Doc("text/plain", b"Order 7: 12 boxes\r\n"),),
        ),
        Case("outlook-ios-text-only", family, message(body, subject="Hi"), (BODY_PDF.showing("Here it is"),)),
    ]


def apple_mail() -> list[Case]:
    family = "Apple Mail"
    style = "Apple-Mail=_8F1B2C3D-"
    html_head = '<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8"></head><body style="overflow-wrap: break-word;">'

    def html(words: str) -> bytes:
        return text("html", f"{html_head}<div>{words}</div></body></html>", encoding="7bit")

    inline_pdf = multipart(
        "alternative",
        text("plain", "Here is the signed form.\n\nThanks, Alice\n"),
        multipart(
            "mixed",
            html("Here is the signed form."),
            _pdf(PDF3, "Form.pdf", "inline"),
            html("Thanks, Alice"),
            style=style,
        ),
        style=style,
    )
    favicon = multipart(
        "alternative",
        text("plain", "See you at 3.\n"),
        multipart(
            "related",
            html(
                'See you at 3.<br><img apple-inline="yes" id="1" src="cid:3F2A1B0C-9D8E-4F70-A1B2-C3D4E5F60718">'
            ),
            _image("png", LOGO, "favicon.png", "3F2A1B0C-9D8E-4F70-A1B2-C3D4E5F60718"),
            style=style,
            params='; type="text/html"',
        ),
        style=style,
    )
    related_and_pdf = multipart(
        "alternative",
        text("plain", "Form attached.\n"),
        multipart(
            "mixed",
            multipart(
                "related",
                html('Form attached.<img src="cid:8A7B6C5D">'),
                _image("png", LOGO, "logo.png", "8A7B6C5D"),
                style=style,
            ),
            _pdf(PDF1, "Form.pdf", "inline"),
            style=style,
        ),
        style=style,
    )
    appledouble = multipart(
        "mixed",
        text("plain", "Scan attached.\n"),
        multipart(
            "appledouble",
            part('application/applefile; name="Scan.pdf"', b"\x00\x05\x16\x07\x00\x02\x00\x00"),
            _pdf(PDF1, "Scan.pdf", "attachment"),
            style=style,
        ),
        style=style,
    )
    return [
        Case(
            "apple-inline-pdf-inside-html",
            family,
            message(inline_pdf, subject="Form"),
            (Doc("application/pdf", PDF3, 3),),
        ),
        Case(
            "apple-plain-inline-pdf",
            family,
            message(
                multipart(
                    "mixed",
                    text("plain", "Form:\n", encoding="7bit"),
                    _pdf(PDF1, "Form.pdf", "inline"),
                    text("plain", "\nThanks\n", encoding="7bit"),
                    style=style,
                ),
                subject="Form",
            ),
            (Doc("application/pdf", PDF1, 1),),
        ),
        Case(
            "apple-picture-in-the-middle",
            family,
            message(
                multipart(
                    "alternative",
                    text("plain", "Look:\n\nnice\n"),
                    multipart(
                        "mixed",
                        html("Look:"),
                        _image("jpeg", PHOTO, "IMG_2583.jpeg", None),
                        html("nice"),
                        style=style,
                    ),
                    style=style,
                ),
                subject="Look",
            ),
            (Doc("image/jpeg", PHOTO),),
        ),
        Case(
            "apple-html-with-favicon",
            family,
            message(favicon, subject="3pm"),
            (BODY_PDF.showing("See you at 3", images=1),),
        ),
        Case(
            "apple-related-logo-and-inline-pdf",
            family,
            message(related_and_pdf, subject="Form"),
            (Doc("application/pdf", PDF1, 1),),
        ),
        Case(
            "apple-appledouble-pdf",
            family,
            message(appledouble, subject="Scan"),
            (Doc("application/pdf", PDF1, 1),),
        ),
    ]


def ios_mail() -> list[Case]:
    family = "iOS Mail"
    style = "Apple-Mail-"
    sent = text("plain", "\n\nSent from my iPhone", encoding="7bit")
    return [
        Case(
            "ios-photo-sent-from-iphone",
            family,
            message(
                multipart(
                    "mixed",
                    text("plain", "", encoding="7bit"),
                    _image("jpeg", PHOTO, "IMG_0001.jpeg", "A1B2C3D4-0001"),
                    sent,
                    style=style,
                ),
                subject="Photo",
            ),
            (Doc("image/jpeg", PHOTO),),
        ),
        Case(
            "ios-two-photos",
            family,
            message(
                multipart(
                    "mixed",
                    _image("jpeg", PHOTO, "IMG_0002.jpeg", None),
                    _image("jpeg", PHOTO2, "IMG_0003.jpeg", None),
                    sent,
                    style=style,
                ),
                subject="Photos",
            ),
            (Doc("image/jpeg", PHOTO), Doc("image/jpeg", PHOTO2)),
        ),
        Case(
            "ios-html-photo",
            family,
            message(
                multipart(
                    "alternative",
                    text("plain", "Receipt\n\nSent from my iPhone"),
                    multipart(
                        "mixed",
                        text("html", '<html><body dir="auto">Receipt</body></html>'),
                        _image("jpeg", PHOTO, "IMG_0004.jpeg", "IMG_0004@A1B2"),
                        text(
                            "html", '<html><body dir="auto"><br><div>Sent from my iPhone</div></body></html>'
                        ),
                        style=style,
                    ),
                    style=style,
                ),
                subject="Receipt",
            ),
            (Doc("image/jpeg", PHOTO),),
        ),
        Case(
            "ios-pdf-from-files",
            family,
            message(
                multipart("mixed", _pdf(PDF3, "Lease.pdf", "inline"), sent, style=style), subject="Lease"
            ),
            (Doc("application/pdf", PDF3, 3),),
        ),
        Case(
            "ios-text-only",
            family,
            message(
                text("plain", "Call me when you can\n\nSent from my iPhone", encoding="7bit"), subject="Call"
            ),
            (BODY_TEXT.showing("Call me when you can"),),
        ),
    ]


def gmail() -> list[Case]:
    family = "Gmail"
    style = "000000000000"
    body = multipart(
        "alternative",
        text("plain", "Hi Bob,\n\nsee attached.\n"),
        text("html", '<div dir="ltr">Hi Bob,<div><br></div><div>see attached.</div></div>'),
        style=style,
    )

    def attachment(kind: str, data: bytes, name: str, ident: str) -> bytes:
        return part(
            f'{kind}; name="{name}"',
            data,
            f'Content-Disposition: attachment; filename="{name}"',
            f"Content-ID: <{ident}>",
            f"X-Attachment-Id: {ident}",
        )

    inline = multipart(
        "related",
        multipart(
            "alternative",
            text("plain", "Hi Bob,\n\n[image: chart.png]\n"),
            text(
                "html",
                '<div dir="ltr">Hi Bob,<div><img src="cid:ii_lq2x8a3b0" alt="chart.png" width="120"><br></div></div>',
            ),
            style=style,
        ),
        part(
            'image/png; name="chart.png"',
            LOGO,
            'Content-Disposition: inline; filename="chart.png"',
            "Content-ID: <ii_lq2x8a3b0>",
            "X-Attachment-Id: ii_lq2x8a3b0",
        ),
        style=style,
    )
    return [
        Case(
            "gmail-pdf",
            family,
            message(
                multipart(
                    "mixed",
                    body,
                    attachment("application/pdf", PDF3, "order.pdf", "f_lq2x7k1w0"),
                    style=style,
                ),
                subject="Order",
            ),
            (Doc("application/pdf", PDF3, 3),),
        ),
        Case(
            "gmail-inline-image",
            family,
            message(inline, subject="Chart"),
            (BODY_PDF.showing("Hi Bob", images=1),),
        ),
        Case(
            "gmail-inline-image-and-pdf",
            family,
            message(
                multipart(
                    "mixed",
                    inline,
                    attachment("application/pdf", PDF1, "invoice.pdf", "f_lq2x7k1w1"),
                    style=style,
                ),
                subject="Invoice",
            ),
            (Doc("application/pdf", PDF1, 1),),
        ),
        Case("gmail-text-only", family, message(body, subject="Hi"), (BODY_PDF.showing("see attached"),)),
        Case(
            "gmail-pdf-and-photo",
            family,
            message(
                multipart(
                    "mixed",
                    body,
                    attachment("application/pdf", PDF1, "a.pdf", "f_1"),
                    attachment("image/jpeg", PHOTO, "b.jpg", "f_2"),
                    style=style,
                ),
                subject="Two",
            ),
            (Doc("application/pdf", PDF1, 1), Doc("image/jpeg", PHOTO)),
        ),
    ]


def thunderbird() -> list[Case]:
    family = "Thunderbird"
    style = "------------"
    key = part(
        'application/pgp-keys; name="OpenPGP_0x1A2B3C4D5E6F7081.asc"',
        KEY,
        'Content-Disposition: attachment; filename="OpenPGP_0x1A2B3C4D5E6F7081.asc"',
        encoding="quoted-printable",
    )
    signed_inner = multipart(
        "mixed", text("plain", "Signed and attached.\n"), _pdf(PDF1, "Report.pdf"), key, style=style
    )
    signature = part(
        'application/pgp-signature; name="OpenPGP_signature.asc"',
        b"-----BEGIN PGP SIGNATURE-----\r\n\r\nwsB5BAAB\r\n-----END PGP SIGNATURE-----\r\n",
        "Content-Description: OpenPGP digital signature",
        'Content-Disposition: attachment; filename="OpenPGP_signature.asc"',
        encoding="7bit",
    )
    pgp_signed = multipart(
        "signed",
        signed_inner,
        signature,
        style=style,
        params='; micalg=pgp-sha256; protocol="application/pgp-signature"',
    )
    return [
        Case(
            "thunderbird-pdf-and-openpgp-key",
            family,
            message(
                multipart(
                    "mixed", text("plain", "Report attached.\n"), _pdf(PDF3, "Report.pdf"), key, style=style
                ),
                subject="Report",
            ),
            (Doc("application/pdf", PDF3, 3),),
        ),
        Case(
            "thunderbird-text-and-openpgp-key",
            family,
            message(multipart("mixed", text("plain", "Please call me.\n"), key, style=style), subject="Call"),
            (BODY_TEXT.showing("Please call me."),),
        ),
        Case(
            "thunderbird-pgp-signed-with-key-and-pdf",
            family,
            message(pgp_signed, subject="Signed"),
            (Doc("application/pdf", PDF1, 1),),
        ),
        Case(
            "thunderbird-vcard",
            family,
            message(
                multipart(
                    "mixed",
                    text("plain", "My new number.\n"),
                    part(
                        'text/vcard; charset=UTF-8; name="alice.vcf"',
                        VCARD,
                        'Content-Disposition: attachment; filename="alice.vcf"',
                        encoding="7bit",
                    ),
                    style=style,
                ),
                subject="Number",
            ),
            (BODY_TEXT.showing("My new number."),),
        ),
        Case(
            "thunderbird-html-inline-image",
            family,
            message(
                multipart(
                    "alternative",
                    text("plain", "Map below.\n"),
                    multipart(
                        "related",
                        text(
                            "html",
                            '<html><body><p>Map below.</p><img src="cid:part1.A1B2C3D4.E5F60718@example.com" alt=""></body></html>',
                        ),
                        _image("png", LOGO, "map.png", "part1.A1B2C3D4.E5F60718@example.com"),
                        style=style,
                    ),
                    style=style,
                ),
                subject="Map",
            ),
            (BODY_PDF.showing("Map below", images=1),),
        ),
    ]


def lotus_notes() -> list[Case]:
    family = "Lotus Notes"
    gifs = [
        ("graycol.gif", "_1_0A2B3C4D0A2B3C4D0056E7F8C1258A0B"),
        ("ecblank.gif", "_2_0A2B3C4D0A2B3C4D0056E7F8C1258A0B"),
        ("pic01234.gif", "_4_0A2B3C4D0A2B3C4D0056E7F8C1258A0B"),
    ]
    html = (
        "<html><body><p>Please find the statement attached.</p><table><tr><td>"
        + "".join(f'<img src="cid:{cid}" width="16" height="16">' for _, cid in gifs)
        + "</td></tr></table></body></html>"
    )
    related = multipart(
        "related",
        multipart("alternative", text("plain", "Please find the statement attached.\n"), text("html", html)),
        *[
            part(
                f'image/gif; name="{name}"',
                gif_bytes(),
                f"Content-ID: <{cid}>",
                f'Content-Disposition: inline; filename="{name}"',
            )
            for name, cid in gifs
        ],
    )
    return [
        Case(
            "notes-pdf-with-three-layout-gifs",
            family,
            message(
                multipart("mixed", related, _pdf(PDF3, "Statement.pdf")),
                subject="Statement",
                extra=("X-Mailer: Lotus Notes Release 9.0.1FP10 SHF 2",),
            ),
            (Doc("application/pdf", PDF3, 3),),
        ),
        Case(
            "notes-layout-gifs-only",
            family,
            message(related, subject="Statement"),
            (BODY_PDF.showing("Please find the statement", images=3),),
        ),
    ]


def invitations() -> list[Case]:
    family = "calendar invitations"
    calendar = part("text/calendar; charset=UTF-8; method=REQUEST", ICS, encoding="7bit")
    alternative = multipart(
        "alternative",
        text("plain", "Review on Thursday 9:00\n"),
        text("html", "<p>Review on <b>Thursday 9:00</b></p>"),
        calendar,
    )
    ics = part(
        'application/ics; name="invite.ics"', ICS, 'Content-Disposition: attachment; filename="invite.ics"'
    )
    return [
        Case(
            "google-invitation",
            family,
            message(multipart("mixed", alternative, ics), subject="Invitation: Review"),
            (BODY_PDF.showing("Thursday 9:00"),),
        ),
        Case(
            "outlook-invitation",
            family,
            message(
                multipart(
                    "alternative",
                    text("plain", "Review on Thursday 9:00\n"),
                    text("html", "<p>Review on Thursday 9:00</p>"),
                    calendar,
                ),
                subject="Review",
            ),
            (BODY_PDF.showing("Thursday 9:00"),),
        ),
        Case(
            "invitation-with-agenda",
            family,
            message(multipart("mixed", alternative, _pdf(PDF2, "Agenda.pdf"), ics), subject="Review"),
            (Doc("application/pdf", PDF2, 2),),
        ),
        Case(
            "calendar-file-alone",
            family,
            message(multipart("mixed", ics), subject="Review"),
            (Doc("text/plain", ICS),),
        ),
    ]


def smime() -> list[Case]:
    family = "S/MIME"
    inner = multipart("mixed", text("plain", "Signed order attached.\n"), _pdf(PDF3, "Order.pdf"))
    html_inner = _outlook_body("Signed note.", OUTLOOK_CID)
    p7m = 'application/pkcs7-mime; smime-type=signed-data; name="smime.p7m"'
    p7m_disposition = 'Content-Disposition: attachment; filename="smime.p7m"'
    clear = multipart(
        "signed",
        inner,
        part(
            'application/pkcs7-signature; name="smime.p7s"',
            detached_signature(inner),
            'Content-Disposition: attachment; filename="smime.p7s"',
        ),
        params='; protocol="application/pkcs7-signature"; micalg=sha-256',
    )
    return [
        Case(
            "smime-clear-signed-pdf",
            family,
            message(clear, subject="Order"),
            (Doc("application/pdf", PDF3, 3),),
        ),
        Case(
            "smime-opaque-signed-pdf",
            family,
            message(part(p7m, opaque_signed(inner), p7m_disposition), subject="Order"),
            (Doc("application/pdf", PDF3, 3),),
        ),
        Case(
            "smime-opaque-signed-text",
            family,
            message(
                part(p7m, opaque_signed(text("plain", "Signed words only.\n")), p7m_disposition),
                subject="Note",
            ),
            (BODY_TEXT.showing("Signed words only."),),
        ),
        Case(
            "smime-x-pkcs7-opaque-html-with-logo",
            family,
            message(
                part(
                    'application/x-pkcs7-mime; smime-type=signed-data; name="smime.p7m"',
                    opaque_signed(html_inner),
                    p7m_disposition,
                ),
                subject="Note",
            ),
            (BODY_PDF.showing("Signed note", images=1),),
        ),
        Case(
            "smime-p7m-as-octet-stream",
            family,
            message(
                part('application/octet-stream; name="smime.p7m"', opaque_signed(inner), p7m_disposition),
                subject="Order",
            ),
            (Doc("application/pdf", PDF3, 3),),
        ),
        Case(
            "smime-encrypted",
            family,
            message(
                part(
                    'application/pkcs7-mime; smime-type=enveloped-data; name="smime.p7m"',
                    enveloped(inner),
                    p7m_disposition,
                ),
                subject="Secret",
            ),
            refusal=refused(554, "5.6.1 encrypted mail cannot be faxed; send it unencrypted"),
        ),
        Case(
            "smime-encrypted-undeclared",
            family,
            message(
                part('application/pkcs7-mime; name="smime.p7m"', enveloped(inner), p7m_disposition),
                subject="Secret",
            ),
            refusal=refused(554, "5.6.1 encrypted mail cannot be faxed; send it unencrypted"),
        ),
        Case(
            "pgp-mime-encrypted",
            family,
            message(
                multipart(
                    "encrypted",
                    part("application/pgp-encrypted", b"Version: 1\r\n", encoding="7bit"),
                    part(
                        'application/octet-stream; name="encrypted.asc"',
                        b"-----BEGIN PGP MESSAGE-----\r\n\r\nhQEMA\r\n-----END PGP MESSAGE-----\r\n",
                        encoding="7bit",
                    ),
                    params='; protocol="application/pgp-encrypted"',
                ),
                subject="Secret",
            ),
            refusal=refused(554, "5.6.1 encrypted mail cannot be faxed; send it unencrypted"),
        ),
    ]


def forwards() -> list[Case]:
    family = "forwarded messages"
    inner_with_pdf = message(
        multipart("mixed", text("plain", "Lab results attached.\n"), _pdf(PDF3, "Results.pdf")),
        subject="Results",
        sender="lab@example.org",
    )
    inner_html_only = message(
        _outlook_body("Original text.", OUTLOOK_CID), subject="Original", sender="bob@example.org"
    )
    gmail_forward_text = "---------- Forwarded message ---------\nFrom: lab@example.org\nSubject: Results\n\nLab results attached.\n"
    return [
        Case(
            "gmail-forward-inline",
            "forwarded messages",
            message(
                multipart(
                    "mixed",
                    multipart(
                        "alternative",
                        text("plain", gmail_forward_text),
                        text("html", f"<div>{gmail_forward_text}</div>"),
                    ),
                    _pdf(PDF3, "Results.pdf"),
                ),
                subject="Fwd: Results",
            ),
            (Doc("application/pdf", PDF3, 3),),
        ),
        Case(
            "forward-as-attachment",
            family,
            message(
                multipart("mixed", text("plain", "Please fax.\n"), rfc822(inner_with_pdf)),
                subject="Fwd: Results",
            ),
            (Doc("application/pdf", PDF3, 3),),
        ),
        Case(
            "forward-of-html-with-logo",
            family,
            message(
                multipart("mixed", text("plain", "See below.\n"), rfc822(inner_html_only)),
                subject="Fwd: Original",
            ),
            (BODY_TEXT.showing("See below."),),
        ),
    ]


def scanners() -> list[Case]:
    family = "scanners"
    tiff = tiff_frames(2)
    boilerplate = text("plain", "Scanned by MFP-4020 at 2026-12-01 09:30\n", encoding="7bit")
    return [
        Case(
            "scanner-pdf-as-octet-stream",
            family,
            message(
                multipart(
                    "mixed",
                    boilerplate,
                    part(
                        'application/octet-stream; name="scan0001.pdf"',
                        PDF3,
                        'Content-Disposition: attachment; filename="scan0001.pdf"',
                    ),
                ),
                subject="Scan",
            ),
            (Doc("application/pdf", PDF3, 3),),
        ),
        Case(
            "scanner-tiff-as-octet-stream",
            family,
            message(
                multipart(
                    "mixed",
                    boilerplate,
                    part(
                        'application/octet-stream; name="scan0002.tif"',
                        tiff,
                        'Content-Disposition: attachment; filename="scan0002.tif"',
                    ),
                ),
                subject="Scan",
            ),
            (Doc("image/tiff", tiff, 2),),
        ),
        Case(
            "scanner-single-part-pdf",
            family,
            message(part("application/pdf", PDF1), subject="Scan"),
            (Doc("application/pdf", PDF1, 1),),
        ),
        Case(
            "scanner-jpeg-without-a-name",
            family,
            message(multipart("mixed", boilerplate, part("application/octet-stream", PHOTO)), subject="Scan"),
            (Doc("image/jpeg", PHOTO),),
        ),
        Case(
            "scanner-zip",
            family,
            message(
                multipart(
                    "mixed",
                    boilerplate,
                    part(
                        'application/octet-stream; name="scans.zip"',
                        zip_bytes(),
                        'Content-Disposition: attachment; filename="scans.zip"',
                    ),
                ),
                subject="Scan",
            ),
            refusal=refused(554, '5.6.1 "scans.zip" is a ZIP archive'),
        ),
        Case(
            "scanner-201-pages",
            family,
            message(
                multipart(
                    "mixed",
                    boilerplate,
                    part(
                        'application/octet-stream; name="big.pdf"',
                        pdf_bytes(201),
                        'Content-Disposition: attachment; filename="big.pdf"',
                    ),
                ),
                subject="Scan",
            ),
            refusal=refused(552, "5.3.4 the documents have 201 pages; RingCentral faxes at most 200"),
        ),
    ]


def corpus() -> list[Case]:
    return [
        *outlook(),
        *outlook_web(),
        *outlook_ios(),
        *apple_mail(),
        *ios_mail(),
        *gmail(),
        *thunderbird(),
        *lotus_notes(),
        *invitations(),
        *smime(),
        *forwards(),
        *scanners(),
    ]
