"""Properties of parse_mail on hostile input: a ParsedMail or a Refusal, never anything else."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mail2fax.errors import Refusal
from mail2fax.mail.message import ParsedMail, parse_mail
from mail2fax.mail.sniffing import ALLOWED
from tests.samples import (
    Attachment,
    build_mail,
    doc_bytes,
    docx_bytes,
    pdf_bytes,
    png_bytes,
    tnef_bytes,
    zip_bytes,
)

SAFE_NAME = re.compile(r"[A-Za-z0-9_ -][A-Za-z0-9._ -]{0,98}\.[a-z0-9]+")
CONTENT_TYPES = {ct for family in ALLOWED.values() for ct in family.extensions.values()} | {"text/plain"}
LIMIT = 5 * 1024 * 1024

PROPERTY = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def outcome(raw: bytes) -> ParsedMail | Refusal:
    try:
        return parse_mail(raw, body_mode="auto", max_document_bytes=LIMIT)
    except Refusal as exc:
        return exc


def check(raw: bytes) -> ParsedMail | Refusal:
    """parse_mail's outcome, after checking the promises every outcome keeps."""
    result = outcome(raw)
    if isinstance(result, Refusal):
        assert result.code in (550, 552, 553, 554)
        assert result.reason and result.reason.isascii()
        assert "\r" not in result.reason and "\n" not in result.reason
        return result
    assert result.documents or result.html_body is not None
    assert sum(len(d.data) for d in result.documents) <= LIMIT
    if result.html_body is not None:
        assert result.html_body.html.strip()
    for document in result.documents:
        assert SAFE_NAME.fullmatch(document.filename), document.filename
        assert document.content_type in CONTENT_TYPES
    texts = (
        result.subject,
        result.message_id or "",
        *result.fax_headers.values(),
        *result.recipient_names.values(),
    )
    for text in texts:
        text.encode("utf-8")  # storable and sendable
        assert "\r" not in text and "\n" not in text
    assert all(name == name.lower() for name in result.fax_headers)
    return result


@PROPERTY
@given(st.binary(max_size=4000))
def test_any_bytes(raw: bytes) -> None:
    check(raw)


@PROPERTY
@given(
    st.lists(
        st.sampled_from(
            [
                b"From: a@b\r\n",
                b"Subject: =?utf-8?q?=C3=A4?=\r\n",
                b"Content-Type: multipart/mixed; boundary=x\r\n",
                b"Content-Type: text/plain; charset=utf-8\r\n",
                b"Content-Transfer-Encoding: base64\r\n",
                b"Content-Disposition: attachment; filename*=utf-8''a%C3%A4.pdf\r\n",
                b"\r\n",
                b"--x\r\n",
                b"--x--\r\n",
                b"JVBERi0xLjQK\r\n",
                b"%PDF-1.4\r\n",
                b"Content-Type: message/rfc822\r\n",
                b"To: (\r\n",
                b"X-Fax-Cover: \xff\r\n",
                b"hello\r\n",
                b"=?\r\n",
                b"Content-Type: image/png\r\n",
                b" folded\r\n",
            ]
        ),
        max_size=60,
    )
)
def test_mime_shaped_lines_in_any_order(lines: list[bytes]) -> None:
    check(b"".join(lines))


SAMPLE_FILES = [
    pdf_bytes(),
    png_bytes(),
    docx_bytes(),
    doc_bytes(),
    zip_bytes(),
    tnef_bytes(),
    b"",
    b"plain text\n",
]

filenames = st.one_of(
    st.none(),
    st.text(max_size=40).map(lambda t: " ".join(t.splitlines())),  # the stdlib refuses line breaks here
    st.sampled_from(["../../x.pdf", "a\tb.pdf", "=?utf-8?q?a?=.pdf", ".pdf", "CON.pdf", "ä" * 200]),
)
attachments = st.builds(
    Attachment,
    filename=filenames,
    data=st.sampled_from(SAMPLE_FILES),
    content_type=st.sampled_from(["application/octet-stream", "application/pdf", "image/png", "text/plain"]),
    inline=st.booleans(),
)


@st.composite
def mails(draw: st.DrawFn) -> bytes:
    body = draw(st.one_of(st.none(), st.text(max_size=200)))
    html = draw(st.one_of(st.none(), st.text(max_size=100).map(lambda t: f"<p>{t}</p>")))
    msg = build_mail(
        subject=" ".join(draw(st.text(max_size=100)).split()),  # a header value holds no line breaks
        body=body,
        html=html,
        attachments=draw(st.lists(attachments, max_size=4)),
        headers={"X-Fax-Resolution": draw(st.sampled_from(["low", "high", "x"]))},
    )
    for number, part in enumerate(msg.walk()):
        if part.is_multipart():
            part.set_boundary(f"==boundary-{number}==")  # else the generator draws one at random
    return msg.as_bytes()


@st.composite
def mangled(draw: st.DrawFn) -> bytes:
    raw = bytearray(draw(mails()))
    for _ in range(draw(st.integers(0, 6))):
        action = draw(st.sampled_from(["flip", "cut", "insert", "delete", "lf", "boundary"]))
        at = draw(st.integers(0, max(len(raw) - 1, 0)))
        if action == "flip" and raw:
            raw[at] = draw(st.integers(0, 255))
        elif action == "cut":
            del raw[at:]
        elif action == "insert":
            raw[at:at] = draw(
                st.sampled_from([b"\r\n", b"--", b"\r\n\r\n", b"=?utf-8?b?", b"\x00", b"\xff" * 3])
            )
        elif action == "delete":
            del raw[at : at + draw(st.integers(1, 200))]
        elif action == "lf":
            raw = bytearray(bytes(raw).replace(b"\r\n", b"\n"))
        else:
            raw = bytearray(re.sub(rb'boundary="[^"]*"', b"boundary=", bytes(raw)))
    return bytes(raw)


@PROPERTY
@given(mails())
def test_well_formed_mails_give_documents_or_a_refusal(raw: bytes) -> None:
    check(raw)


@PROPERTY
@given(mangled())
def test_mangled_mails(raw: bytes) -> None:
    check(raw)


@st.composite
def trees(draw: st.DrawFn, depth: int = 0) -> str:
    """A hand-written MIME entity with random structure, headers and encodings."""
    kind = draw(st.sampled_from(["leaf", "leaf", "multipart", "message"] if depth < 6 else ["leaf"]))
    extra = draw(
        st.sampled_from(
            ["", "Content-Disposition: attachment\n", 'Content-Disposition: inline; filename="x.pdf"\n']
        )
    )
    if kind == "multipart":
        boundary = f"b{depth}{draw(st.integers(0, 9))}"
        subtype = draw(
            st.sampled_from(["mixed", "alternative", "related", "signed", "appledouble", "report"])
        )
        children = draw(st.lists(trees(depth + 1), min_size=0, max_size=3))
        inner = "".join(f"--{boundary}\n{child}\n" for child in children)
        return f'Content-Type: multipart/{subtype}; boundary="{boundary}"\n{extra}\n{inner}--{boundary}--\n'
    if kind == "message":
        return f"Content-Type: message/rfc822\n\nSubject: inner\n{draw(trees(depth + 1))}"
    ctype = draw(
        st.sampled_from(
            ["text/plain", "text/html", "application/pdf", "image/png", "text/calendar", "audio/wav"]
        )
    )
    charset = draw(
        st.sampled_from(
            ["", "; charset=utf-8", "; charset=bogus", "; charset=utf-16", "; charset=unicode_escape"]
        )
    )
    encoding = draw(st.sampled_from(["", "base64", "quoted-printable", "8bit", "x-uuencode"]))
    payload = draw(
        st.sampled_from(["hello", "JVBERi0xLjQK", "=C3=A4=", "%PDF-1.4", "", "\\ud800", "iVBORw0KGgo="])
    )
    cte = f"Content-Transfer-Encoding: {encoding}\n" if encoding else ""
    return f"Content-Type: {ctype}{charset}\n{cte}{extra}\n{payload}\n"


@PROPERTY
@given(trees(), st.sampled_from(["\r\n", "\n"]))
def test_random_mime_trees(tree: str, newline: str) -> None:
    check(
        ("Subject: tree\nMIME-Version: 1.0\n" + tree)
        .replace("\n", newline)
        .encode("utf-8", "surrogateescape")
    )
