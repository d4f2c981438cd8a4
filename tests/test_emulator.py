"""The RingCentral emulator is as strict as RingCentral's documentation, and its HTTP server is real."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.emulator import Hang, HTTPServer, Request, Response, RingCentralEmulator

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
FAX = "/restapi/v1.0/account/~/extension/~/fax"
STORE = "/restapi/v1.0/account/~/extension/~/message-store"
EXTENSION = "/restapi/v1.0/account/~/extension/~"
BOUNDARY = "test-boundary-42"
MIXED = f"multipart/mixed; boundary={BOUNDARY}"
PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
ENVELOPE = {"to": [{"phoneNumber": "+14155551212", "name": "John Doe"}], "faxResolution": "High"}
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")

# The Ruby SDK page's "PDF with Octet Stream" example, byte for byte (its lines end in CRLF on the wire).
SEED_BOUNDARY = "Boundary_9fzzogow8pxxub43x02zvcc5yg"
SEED_JSON = (
    '{"to":[{"phoneNumber":"+16505551212"}],"faxResolution":"High",'
    '"coverPageText":"RingCentral fax PDF example using Ruby SDK!"}'
)
SEED_PDF = """%PDF-1.3
%?????????
4 0 obj
<< /Length 5 0 R /Filter /FlateDecode >>
stream
[...]
0000024228 00000 n
0000024265 00000 n
trailer
<< /Size 27 /Root 12 0 R /Info 1 0 R /ID [ <48712ae2bdffa879f883d08f491ab571>
<48712ae2bdffa879f883d08f491ab571> ] >>
startxref
24427
%%EOF
"""
SEED_BODY = f"""--{SEED_BOUNDARY}
Content-Type: application/json

{SEED_JSON}
--{SEED_BOUNDARY}
Content-Type: application/pdf
Content-Disposition: attachment; filename="test_file.pdf"

{SEED_PDF}
--{SEED_BOUNDARY}--
"""
# The page's base64 variant, with its "[...]" elision line left out so that the rest decodes.
SEED_BASE64 = """JVBERi0xLjMKJcTl8uXrp/Og0MTGCjQgMCBvYmoKPDwgL0xlbmd0aCA1IDAg
ODcxMmFlMmJkZmZhODc5Zjg4M2QwOGY0OTFhYjU3MT4gXSA+PgpzdGFydHhy
ZWYKMjQ0MjcKJSVFT0YK
"""

Part = tuple[list[tuple[str, str]], bytes]


def json_part(envelope: object = ENVELOPE) -> Part:
    return [("Content-Type", "application/json")], json.dumps(envelope).encode()


def doc(
    filename: str | None = "a.pdf",
    data: bytes = PDF,
    content_type: str | None = "application/pdf",
    disposition: str | None = "attachment",
) -> Part:
    headers = [("Content-Type", content_type)] if content_type else []
    if disposition is not None:
        headers.append(
            (
                "Content-Disposition",
                disposition + (f'; filename="{filename}"' if filename is not None else ""),
            )
        )
    return headers, data


def body(*parts: Part, boundary: str = BOUNDARY) -> bytes:
    out = b""
    for headers, data in parts:
        out += f"--{boundary}\r\n".encode()
        out += "".join(f"{name}: {value}\r\n" for name, value in headers).encode() + b"\r\n" + data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_error(response: httpx.Response, status: int, code: str, parameter: str | None = None) -> None:
    assert response.status_code == status, response.text
    payload = response.json()
    assert payload["errorCode"] == code
    assert payload["errors"][0]["errorCode"] == code
    assert payload["errors"][0]["message"]
    if parameter is not None:
        assert payload["errors"][0]["parameterName"] == parameter


async def login(client: httpx.AsyncClient, **form: str) -> dict[str, Any]:
    data = {"grant_type": JWT_GRANT, "assertion": "test-jwt", **form}
    response = await client.post("/restapi/oauth/token", data=data, auth=("test-client", "test-secret"))
    assert response.status_code == 200, response.text
    info: dict[str, Any] = response.json()
    return info


async def send_fax(
    client: httpx.AsyncClient, token: str, content: bytes | None = None, content_type: str = MIXED
) -> httpx.Response:
    content = body(json_part(), doc()) if content is None else content
    headers = {**bearer(token), "Content-Type": content_type}
    return await client.post(FAX, content=content, headers=headers)


@pytest.fixture
async def rc() -> AsyncIterator[RingCentralEmulator]:
    async with RingCentralEmulator() as emulator:
        yield emulator
        assert emulator.server.errors == []


@pytest.fixture
async def client(rc: RingCentralEmulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=rc.base_url, timeout=5) as http_client:
        yield http_client


@pytest.fixture
async def token(client: httpx.AsyncClient) -> str:
    return str((await login(client))["access_token"])


# ---- fax creation: what is accepted ----------------------------------------------------------------


async def test_the_seed_example_request_is_accepted_as_is(
    rc: RingCentralEmulator, client: httpx.AsyncClient, token: str
) -> None:
    content = SEED_BODY.replace("\n", "\r\n").encode("ascii")
    headers = {
        **bearer(token),
        "Accept": "application/json",
        "Content-Type": f"multipart/mixed; boundary={SEED_BOUNDARY}",
    }
    response = await client.post(FAX, content=content, headers=headers)

    assert response.status_code == 200, response.text
    fax = response.json()
    assert isinstance(fax["id"], int)
    base = f"{rc.base_url}/restapi/v1.0/account/{rc.account_id}/extension/{rc.extension_id}"
    assert fax["uri"] == f"{base}/message-store/{fax['id']}"
    assert [(t["phoneNumber"], t["messageStatus"]) for t in fax["to"]] == [("+16505551212", "Queued")]
    assert fax["type"] == "Fax"
    assert TIMESTAMP.fullmatch(fax["creationTime"])
    assert TIMESTAMP.fullmatch(fax["lastModifiedTime"])
    assert (fax["readStatus"], fax["priority"], fax["direction"]) == ("Unread", "Normal", "Outbound")
    assert (fax["availability"], fax["messageStatus"], fax["faxPageCount"]) == ("Alive", "Queued", 0)
    assert (fax["faxResolution"], fax["coverPageText"]) == (
        "High",
        "RingCentral fax PDF example using Ruby SDK!",
    )
    [attachment] = fax["attachments"]
    assert (attachment["type"], attachment["contentType"]) == ("RenderedDocument", "image/tiff")
    assert attachment["uri"].startswith(fax["uri"] + "/content/")

    [received] = rc.faxes
    assert received.id == str(fax["id"])
    assert received.json == json.loads(SEED_JSON)
    assert received.raw_content_type == f"multipart/mixed; boundary={SEED_BOUNDARY}"
    [document] = received.documents
    assert (document.filename, document.content_type) == ("test_file.pdf", "application/pdf")
    assert document.data == SEED_PDF.replace("\n", "\r\n").encode()
    assert document.headers["content-disposition"] == 'attachment; filename="test_file.pdf"'


async def test_the_seed_base64_variant_is_decoded(
    rc: RingCentralEmulator, client: httpx.AsyncClient, token: str
) -> None:
    encoded = SEED_BASE64.replace("\n", "\r\n").encode()
    part = (
        [
            ("Content-Type", "application/pdf"),
            ("Content-Transfer-Encoding", "base64"),
            ("Content-Disposition", 'attachment; filename="test_file.pdf"'),
        ],
        encoded,
    )
    response = await send_fax(client, token, body(json_part(), part))
    assert response.status_code == 200, response.text
    assert rc.faxes[0].documents[0].data == base64.b64decode(SEED_BASE64)
    assert rc.faxes[0].documents[0].data.startswith(b"%PDF-1.3")


@pytest.mark.parametrize("name", ["json", "request.json"])
async def test_sdk_style_form_data_is_accepted_with_documents_in_order(
    rc: RingCentralEmulator, client: httpx.AsyncClient, token: str, name: str
) -> None:
    files = [
        (name, ("request.json", json.dumps(ENVELOPE).encode(), "application/json")),
        ("attachment", ("first.pdf", PDF, "application/pdf")),
        ("attachment", ("second.png", PNG, "image/png")),
    ]
    response = await client.post(FAX, files=files, headers=bearer(token))
    assert response.status_code == 200, response.text
    [received] = rc.faxes
    assert received.raw_content_type.startswith("multipart/form-data; boundary=")
    assert [(d.filename, d.content_type, d.data) for d in received.documents] == [
        ("first.pdf", "application/pdf", PDF),
        ("second.png", "image/png", PNG),
    ]


async def test_chunked_request_body_is_accepted(
    rc: RingCentralEmulator, client: httpx.AsyncClient, token: str
) -> None:
    content = body(json_part(), doc())

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(content), 7):
            yield content[start : start + 7]

    response = await client.post(FAX, content=chunks(), headers={**bearer(token), "Content-Type": MIXED})
    assert response.request.headers["Transfer-Encoding"] == "chunked"
    assert response.status_code == 200, response.text
    assert rc.faxes[0].documents[0].data == PDF


@pytest.mark.parametrize(
    "envelope",
    [
        {**ENVELOPE, "coverPageText": "x" * 1024, "coverIndex": 0},
        {**ENVELOPE, "coverIndex": 13, "faxResolution": "Low"},
        {**ENVELOPE, "coverIndex": 28, "isoCode": "US"},
        {**ENVELOPE, "sendTime": "2020-01-01T10:00:00+02:00"},
        {"to": [{"phoneNumber": "+14155551212"}, {"phoneNumber": "+442071838750", "name": "London"}]},
    ],
)
async def test_valid_envelopes_are_accepted(
    rc: RingCentralEmulator, client: httpx.AsyncClient, token: str, envelope: dict[str, Any]
) -> None:
    response = await send_fax(client, token, body(json_part(envelope), doc()))
    assert response.status_code == 200, response.text
    assert rc.faxes[0].json == envelope


SAMPLE_BY_EXTENSION = {
    "pdf": PDF,
    "png": PNG,
    "jpg": b"\xff\xd8\xff\xe0data",
    "jpeg": b"\xff\xd8\xff\xe0data",
    "gif": b"GIF89adata",
    "tif": b"II*\x00data",
    "tiff": b"MM\x00*data",
    "bmp": b"BMdata",
    "psd": b"8BPSdata",
    "rtf": b"{\\rtf1 hello}",
    **dict.fromkeys(["docx", "xlsx", "xlsb", "pptx"], b"PK\x03\x04data"),
    **dict.fromkeys(["doc", "dot", "xls", "ppt"], b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1data"),
}
# Written out again here rather than imported, so the emulator's own list is what gets tested.
ALL_EXTENSIONS = (  # noqa: SIM905 - a word list, like the documentation's table
    "pdf psd doc docx dot mcw xls xlsx xlsb ppt pptx vsd vdx pub wps wri awd tif tiff gif jpg jpeg bmp png "
    "pcx tga rtf txt log h cpp c err hpp wk1 wk3 wk4 wq1 xml html htm csv"
).split()


async def test_every_documented_extension_is_accepted(
    rc: RingCentralEmulator, client: httpx.AsyncClient, token: str
) -> None:
    assert len(ALL_EXTENSIONS) == 42
    rc.set_limit("Heavy", 100, 60)
    for extension in ALL_EXTENSIONS:
        data = SAMPLE_BY_EXTENSION.get(extension, b"some text\n")
        part = doc(f"doc.{extension.upper()}", data, "application/octet-stream")
        response = await send_fax(client, token, body(json_part(), part))
        assert response.status_code == 200, (extension, response.text)
    assert len(rc.faxes) == 42


# ---- fax creation: what is refused ----------------------------------------------------------------

FORM = f"multipart/form-data; boundary={BOUNDARY}"


def form_json(name: str = "json") -> Part:
    disposition = f'form-data; name="{name}"; filename="request.json"'
    return [("Content-Disposition", disposition), ("Content-Type", "application/json")], json.dumps(
        ENVELOPE
    ).encode()


def refused(
    case_id: str,
    content: bytes,
    status: int,
    code: str,
    parameter: str | None = None,
    content_type: str = MIXED,
) -> Any:
    return pytest.param(content_type, content, status, code, parameter, id=case_id)


def with_envelope(case_id: str, envelope: object, parameter: str) -> Any:
    return refused(case_id, body(json_part(envelope), doc()), 400, "CMN-101", parameter)


GOOD = body(json_part(), doc())
REFUSALS = [
    refused("not-multipart", b"hello", 400, "MSG-349", content_type="text/plain"),
    refused(
        "json-is-the-resend-form",
        json.dumps(ENVELOPE).encode(),
        400,
        "CMN-101",
        "originalMessageId",
        "application/json",
    ),
    refused("no-content-type", GOOD, 400, "MSG-349", content_type=""),
    refused("no-boundary", GOOD, 400, "MSG-349", content_type="multipart/mixed"),
    refused(
        "multipart-related", GOOD, 400, "MSG-349", content_type=f"multipart/related; boundary={BOUNDARY}"
    ),
    refused("wrong-boundary", GOOD, 400, "MSG-349", content_type="multipart/mixed; boundary=other"),
    refused("bare-lf-line-ends", GOOD.replace(b"\r\n", b"\n"), 400, "MSG-349"),
    refused("no-close-delimiter", GOOD.removesuffix(f"--{BOUNDARY}--\r\n".encode()), 400, "MSG-349"),
    refused("document-first", body(doc(), json_part()), 400, "MSG-349"),
    refused("json-part-untyped", body(([], json.dumps(ENVELOPE).encode()), doc()), 400, "MSG-349"),
    refused("broken-json", body(([("Content-Type", "application/json")], b"{nope"), doc()), 400, "MSG-349"),
    refused("json-not-an-object", body(json_part([ENVELOPE]), doc()), 400, "MSG-349"),
    refused(
        "duplicate-part-header",
        body(([("Content-Type", "application/json")] * 2, b"{}"), doc()),
        400,
        "MSG-349",
    ),
    refused("no-document", body(json_part()), 400, "MSG-349"),
    with_envelope("no-to", {"faxResolution": "High"}, "to"),
    with_envelope("empty-to", {"to": []}, "to"),
    with_envelope("to-of-strings", {"to": ["+14155551212"]}, "to"),
    with_envelope("to-an-object", {"to": {"phoneNumber": "+14155551212"}}, "to"),
    with_envelope("number-without-plus", {"to": [{"phoneNumber": "14155551212"}]}, "to"),
    with_envelope("number-with-spaces", {"to": [{"phoneNumber": "+1 415 555 1212"}]}, "to"),
    with_envelope("name-not-a-string", {"to": [{"phoneNumber": "+14155551212", "name": 7}]}, "to"),
    with_envelope("resolution-medium", {**ENVELOPE, "faxResolution": "Medium"}, "faxResolution"),
    with_envelope("cover-text-1025", {**ENVELOPE, "coverPageText": "x" * 1025}, "coverPageText"),
    with_envelope("cover-index-14", {**ENVELOPE, "coverIndex": 14}, "coverIndex"),
    with_envelope("cover-index-29", {**ENVELOPE, "coverIndex": 29}, "coverIndex"),
    with_envelope("cover-index-negative", {**ENVELOPE, "coverIndex": -1}, "coverIndex"),
    with_envelope("cover-index-string", {**ENVELOPE, "coverIndex": "1"}, "coverIndex"),
    with_envelope("cover-index-bool", {**ENVELOPE, "coverIndex": True}, "coverIndex"),
    with_envelope("send-time-words", {**ENVELOPE, "sendTime": "tomorrow"}, "sendTime"),
    with_envelope("send-time-no-offset", {**ENVELOPE, "sendTime": "2030-01-01T00:00:00"}, "sendTime"),
    with_envelope("send-time-number", {**ENVELOPE, "sendTime": 1893456000}, "sendTime"),
    with_envelope("iso-code-lowercase", {**ENVELOPE, "isoCode": "us"}, "isoCode"),
    refused("no-content-disposition", body(json_part(), doc(disposition=None)), 400, "MSG-350"),
    refused("no-filename", body(json_part(), doc(filename=None)), 400, "MSG-351"),
    refused("empty-filename", body(json_part(), doc(filename="")), 400, "MSG-351"),
    *[
        refused(
            f"filename-with-{char}", body(json_part(), doc(f"a{char}b.pdf")), 400, "CMN-101", "attachment"
        )
        for char in "&@#$%^*"
    ],
    refused("empty-document", body(json_part(), doc(data=b"")), 400, "MSG-347"),
    refused("exe", body(json_part(), doc("tool.exe", b"MZ\x90\x00")), 415, "MSG-348"),
    refused("no-extension", body(json_part(), doc("README", b"text")), 415, "MSG-348"),
    refused("pdf-that-is-not", body(json_part(), doc("a.pdf", b"<html>oops</html>")), 415, "MSG-348"),
    refused("png-that-is-a-pdf", body(json_part(), doc("a.png", PDF, "image/png")), 415, "MSG-348"),
    refused(
        "text-declared-pdf", body(json_part(), doc("a.txt", b"hello", "application/pdf")), 415, "MSG-348"
    ),
    refused("text-with-nul", body(json_part(), doc("a.txt", b"a\x00b", "text/plain")), 415, "MSG-348"),
    refused(
        "bad-base64",
        body(json_part(), ([*doc()[0], ("Content-Transfer-Encoding", "base64")], b"%%% not base64")),
        400,
        "MSG-349",
    ),
    refused(
        "unknown-transfer-encoding",
        body(json_part(), ([*doc()[0], ("Content-Transfer-Encoding", "x-uuencode")], PDF)),
        400,
        "MSG-349",
    ),
    refused(
        "form-json-misnamed",
        body(form_json("metadata"), doc(disposition="form-data")),
        400,
        "MSG-349",
        None,
        FORM,
    ),
    refused("form-document-as-attachment", body(form_json(), doc()), 400, "MSG-350", None, FORM),
]


@pytest.mark.parametrize(("content_type", "content", "status", "code", "parameter"), REFUSALS)
async def test_malformed_fax_requests_are_refused_as_ringcentral_documents(
    rc: RingCentralEmulator,
    client: httpx.AsyncClient,
    token: str,
    content_type: str,
    content: bytes,
    status: int,
    code: str,
    parameter: str | None,
) -> None:
    response = await send_fax(client, token, content, content_type)
    assert_error(response, status, code, parameter)
    assert rc.faxes == []
    assert rc.requests_in("Heavy")[-1].status == status


async def test_attachments_over_50_mb_in_total_are_refused(
    rc: RingCentralEmulator, client: httpx.AsyncClient, token: str
) -> None:
    half = PDF + b"\x00" * (25 * 1024 * 1024 - len(PDF))
    response = await send_fax(client, token, body(json_part(), doc("a.pdf", half), doc("b.pdf", half + b"!")))
    assert_error(response, 400, "MSG-337")
    rc.max_total_bytes = 1000
    exact = PDF + b"x" * (1000 - len(PDF))
    assert (await send_fax(client, token, body(json_part(), doc("a.pdf", exact)))).status_code == 200
    assert_error(await send_fax(client, token, body(json_part(), doc("a.pdf", exact + b"x"))), 400, "MSG-337")


# ---- OAuth ---------------------------------------------------------------------------------------


async def test_token_info_has_ringcentral_shape(rc: RingCentralEmulator, client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/restapi/oauth/token",
        data={"grant_type": JWT_GRANT, "assertion": "test-jwt"},
        auth=("test-client", "test-secret"),
    )
    assert response.status_code == 200
    info = response.json()
    assert info["token_type"] == "bearer"
    assert (info["expires_in"], info["refresh_token_expires_in"]) == (3600, 604800)
    assert info["owner_id"] == rc.extension_id
    assert all(info[key] for key in ("access_token", "refresh_token", "scope", "endpoint_id", "session_id"))
    assert info["access_token"] != info["refresh_token"]
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Rate-Limit-Group"] == "auth"
    assert rc.token_grants == [JWT_GRANT]
    assert rc.requests[-1].group == "Auth"


@pytest.mark.parametrize(
    ("kwargs", "status", "error", "code"),
    [
        ({"json": {"grant_type": JWT_GRANT, "assertion": "test-jwt"}}, 415, "invalid_request", "CMN-104"),
        (
            {"data": {"grant_type": JWT_GRANT, "assertion": "test-jwt"}, "auth": None},
            401,
            "invalid_client",
            "OAU-123",
        ),
        (
            {"data": {"grant_type": JWT_GRANT, "assertion": "test-jwt"}, "auth": ("test-client", "nope")},
            401,
            "invalid_client",
            "OAU-146",
        ),
        ({"data": {"grant_type": JWT_GRANT, "assertion": "wrong"}}, 400, "invalid_grant", "OAU-140"),
        ({"data": {"grant_type": JWT_GRANT}}, 400, "invalid_request", "CMN-101"),
        ({"data": {"assertion": "test-jwt"}}, 400, "invalid_request", "CMN-101"),
        ({"data": {"grant_type": "client_credentials"}}, 400, "unsupported_grant_type", "OAU-125"),
        (
            {"data": {"grant_type": [JWT_GRANT, JWT_GRANT], "assertion": "test-jwt"}},
            400,
            "invalid_request",
            "OAU-111",
        ),
        (
            {"data": {"grant_type": JWT_GRANT, "assertion": "test-jwt"}, "params": {"x": "1"}},
            400,
            "invalid_request",
            "CMN-105",
        ),
        (
            {"data": {"grant_type": "password", "username": "+16505550100", "password": "bad"}},
            400,
            "invalid_grant",
            "OAU-140",
        ),
        (
            {
                "data": {
                    "grant_type": "password",
                    "username": "+16505550100",
                    "password": "test-password",
                    "extension": "102",
                }
            },
            400,
            "invalid_grant",
            "OAU-140",
        ),
        (
            {"data": {"grant_type": "refresh_token", "refresh_token": "never-issued"}},
            400,
            "invalid_grant",
            "OAU-211",
        ),
        (
            {"data": {"grant_type": JWT_GRANT, "assertion": "test-jwt", "access_token_ttl": "60"}},
            400,
            "invalid_request",
            "CMN-101",
        ),
    ],
)
async def test_token_requests_are_checked(
    rc: RingCentralEmulator,
    client: httpx.AsyncClient,
    kwargs: dict[str, Any],
    status: int,
    error: str,
    code: str,
) -> None:
    rc.set_limit("Auth", 100, 60)
    kwargs = {"auth": ("test-client", "test-secret"), **kwargs}
    response = await client.post("/restapi/oauth/token", **kwargs)
    assert_error(response, status, code)
    assert response.json()["error"] == error
    assert response.json()["error_description"]
    assert rc.token_grants == []


async def test_password_grant_with_and_without_extension(
    rc: RingCentralEmulator, client: httpx.AsyncClient
) -> None:
    for extra in ({}, {"extension": "101"}):
        data = {"grant_type": "password", "username": "+16505550100", "password": "test-password", **extra}
        response = await client.post("/restapi/oauth/token", data=data, auth=("test-client", "test-secret"))
        assert response.status_code == 200, response.text
    assert rc.token_grants == ["password", "password"]


async def test_api_calls_need_a_live_bearer_token(client: httpx.AsyncClient, token: str) -> None:
    assert_error(await client.get(EXTENSION), 401, "CMN-405")
    assert_error(await client.get(EXTENSION, headers=bearer("made-up")), 401, "OAU-149")
    response = await client.get(EXTENSION, auth=("test-client", "test-secret"))
    assert_error(response, 401, "OAU-151")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.headers["X-Rate-Limit-Group"] == "light"
    assert (await client.get(EXTENSION, headers=bearer(token))).status_code == 200


async def test_refresh_tokens_are_single_use_and_replace_the_access_token(
    rc: RingCentralEmulator, client: httpx.AsyncClient
) -> None:
    first = await login(client)
    second = await login(client, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert second["session_id"] == first["session_id"]
    assert second["access_token"] != first["access_token"]
    assert_error(await client.get(EXTENSION, headers=bearer(first["access_token"])), 401, "OAU-129")
    assert (await client.get(EXTENSION, headers=bearer(second["access_token"]))).status_code == 200
    reuse = await client.post(
        "/restapi/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
        auth=("test-client", "test-secret"),
    )
    assert_error(reuse, 400, "OAU-211")
    assert reuse.json()["error"] == "invalid_grant"
    assert rc.token_grants == [JWT_GRANT, "refresh_token"]


async def test_access_tokens_expire_after_access_ttl() -> None:
    async with (
        RingCentralEmulator(access_ttl=600, refresh_ttl=1000) as rc,
        httpx.AsyncClient(base_url=rc.base_url) as client,
    ):
        info = await login(client)
        assert info["expires_in"] == 600
        rc.advance(599)
        assert (await client.get(EXTENSION, headers=bearer(info["access_token"]))).status_code == 200
        rc.advance(2)
        assert_error(await client.get(EXTENSION, headers=bearer(info["access_token"])), 401, "OAU-128")
        rc.advance(400)
        response = await client.post(
            "/restapi/oauth/token",
            data={"grant_type": "refresh_token", "refresh_token": info["refresh_token"]},
            auth=("test-client", "test-secret"),
        )
        assert_error(response, 400, "OAU-211")


async def test_requested_access_token_ttl_is_honoured(client: httpx.AsyncClient) -> None:
    assert (await login(client, access_token_ttl="900"))["expires_in"] == 900


async def test_expire_tokens_leaves_refresh_working(
    rc: RingCentralEmulator, client: httpx.AsyncClient
) -> None:
    info = await login(client)
    rc.expire_tokens()
    assert_error(await client.get(EXTENSION, headers=bearer(info["access_token"])), 401, "OAU-128")
    fresh = await login(client, grant_type="refresh_token", refresh_token=info["refresh_token"])
    assert (await client.get(EXTENSION, headers=bearer(fresh["access_token"]))).status_code == 200


async def test_revoke_tokens_ends_every_session(rc: RingCentralEmulator, client: httpx.AsyncClient) -> None:
    info = await login(client)
    rc.revoke_tokens()
    assert_error(await client.get(EXTENSION, headers=bearer(info["access_token"])), 401, "OAU-129")
    response = await client.post(
        "/restapi/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": info["refresh_token"]},
        auth=("test-client", "test-secret"),
    )
    assert_error(response, 400, "OAU-211")
    assert response.json()["error"] == "invalid_grant"
    fresh = await login(client)
    assert (await client.get(EXTENSION, headers=bearer(fresh["access_token"]))).status_code == 200


async def test_revoke_endpoint_ends_the_session(rc: RingCentralEmulator, client: httpx.AsyncClient) -> None:
    info = await login(client)
    unauthenticated = await client.post("/restapi/oauth/revoke", data={"token": info["access_token"]})
    assert_error(unauthenticated, 401, "OAU-123")
    response = await client.post(
        "/restapi/oauth/revoke", data={"token": info["refresh_token"]}, auth=("test-client", "test-secret")
    )
    assert response.status_code == 200
    assert response.headers["X-Rate-Limit-Group"] == "auth"
    assert_error(await client.get(EXTENSION, headers=bearer(info["access_token"])), 401, "OAU-129")


async def test_a_sixth_session_ends_the_oldest(rc: RingCentralEmulator, client: httpx.AsyncClient) -> None:
    rc.set_limit("Auth", 100, 60)
    sessions = [await login(client) for _ in range(6)]
    assert_error(await client.get(EXTENSION, headers=bearer(sessions[0]["access_token"])), 401, "OAU-129")
    assert (await client.get(EXTENSION, headers=bearer(sessions[1]["access_token"]))).status_code == 200


# ---- rate limits ---------------------------------------------------------------------------------


async def test_rate_limit_headers_and_429_penalty_that_restarts(
    rc: RingCentralEmulator, client: httpx.AsyncClient, token: str
) -> None:
    rc.set_limit("Light", 2, 60)
    first = await client.get(EXTENSION, headers=bearer(token))
    assert [first.headers[f"X-Rate-Limit-{name}"] for name in ("Group", "Limit", "Remaining", "Window")] == [
        "light",
        "2",
        "1",
        "60",
    ]
    assert (await client.get(EXTENSION, headers=bearer(token))).headers["X-Rate-Limit-Remaining"] == "0"
    third = await client.get(EXTENSION, headers=bearer(token))
    assert_error(third, 429, "CMN-301")
    assert third.headers["Retry-After"] == "60"
    assert third.headers["X-Rate-Limit-Remaining"] == "0"

    # Other groups keep their own budget.
    assert (await send_fax(client, token)).headers["X-Rate-Limit-Remaining"] == "9"

    rc.advance(59)  # within the penalty: refused again, and the penalty starts over
    assert (await client.get(EXTENSION, headers=bearer(token))).status_code == 429
    rc.advance(59)  # 118 s after the first refusal, but only 59 s after the last one
    assert (await client.get(EXTENSION, headers=bearer(token))).status_code == 429
    rc.advance(61)
    assert (await client.get(EXTENSION, headers=bearer(token))).status_code == 200
    assert rc.count_429("Light") == 3
    assert [r.status for r in rc.requests_in("Light")] == [200, 200, 429, 429, 429, 200]


async def test_sliding_window_frees_budget_as_requests_age(
    rc: RingCentralEmulator, client: httpx.AsyncClient, token: str
) -> None:
    rc.set_limit("Heavy", 2, 0.5)
    assert (await send_fax(client, token)).headers["X-Rate-Limit-Window"] == "1"
    rc.advance(0.3)
    await send_fax(client, token)
    rc.advance(0.3)  # the first request has left the window, the second has not
    response = await send_fax(client, token)
    assert response.status_code == 200
    assert response.headers["X-Rate-Limit-Remaining"] == "0"
    assert rc.limits["Heavy"] == (2, 0.5)


async def test_auth_group_is_limited_too(rc: RingCentralEmulator, client: httpx.AsyncClient) -> None:
    for _ in range(5):
        await login(client)
    response = await client.post(
        "/restapi/oauth/token",
        data={"grant_type": JWT_GRANT, "assertion": "test-jwt"},
        auth=("test-client", "test-secret"),
    )
    assert_error(response, 429, "CMN-301")
    assert rc.count_429("Auth") == 1
    assert len(rc.token_grants) == 5


# ---- message store -------------------------------------------------------------------------------


async def test_read_one_message_and_unknown_ids(
    rc: RingCentralEmulator, client: httpx.AsyncClient, token: str
) -> None:
    created = (await send_fax(client, token)).json()
    response = await client.get(f"{STORE}/{created['id']}", headers=bearer(token))
    assert response.status_code == 200
    record = response.json()
    assert (record["id"], record["messageStatus"]) == (created["id"], "Queued")
    assert record["extensionId"] == rc.extension_id
    assert_error(await client.get(f"{STORE}/12345", headers=bearer(token)), 404, "CMN-102", "messageId")
    assert rc.requests_in("Light")[-1].status == 404


async def test_complete_and_fail_show_in_get_and_list(
    rc: RingCentralEmulator, client: httpx.AsyncClient, token: str
) -> None:
    two = {"to": [{"phoneNumber": "+14155551212"}, {"phoneNumber": "+14155551313"}]}
    sent = (await send_fax(client, token)).json()["id"]
    failed = (await send_fax(client, token, body(json_part(two), doc()))).json()["id"]
    unpaged = (await send_fax(client, token)).json()["id"]
    rc.complete(str(sent), pages=3)
    rc.fail(str(failed), "LineBusy", pages=2, recipient="+14155551313")
    rc.fail(str(unpaged), "NoAnswer")

    record = (await client.get(f"{STORE}/{sent}", headers=bearer(token))).json()
    assert (record["messageStatus"], record["faxPageCount"]) == ("Sent", 3)
    assert [t["messageStatus"] for t in record["to"]] == ["Sent"]
    listed = (await client.get(STORE, params={"messageType": "Fax"}, headers=bearer(token))).json()["records"]
    by_id = {item["id"]: item for item in listed}
    assert by_id[sent] == record
    assert by_id[failed]["messageStatus"] == "SendingFailed"
    assert by_id[failed]["faxPageCount"] == 2
    assert [(t["phoneNumber"], t["messageStatus"], t.get("faxErrorCode")) for t in by_id[failed]["to"]] == [
        ("+14155551212", "Sent", None),
        ("+14155551313", "SendingFailed", "LineBusy"),
    ]
    assert "faxPageCount" not in by_id[unpaged]
    assert by_id[unpaged]["to"][0]["faxErrorCode"] == "NoAnswer"

    with pytest.raises(ValueError, match="not a queued fax"):
        rc.complete(str(sent))
    with pytest.raises(ValueError, match="faxErrorCode"):
        rc.fail(str((await send_fax(client, token)).json()["id"]), "Busy")
    with pytest.raises(KeyError):
        rc.complete("1")


async def test_list_pages_newest_first_with_navigation(
    rc: RingCentralEmulator, client: httpx.AsyncClient, token: str
) -> None:
    ids = [(await send_fax(client, token)).json()["id"] for _ in range(5)]
    params = {"messageType": "Fax", "direction": "Outbound", "perPage": "2"}
    first = (await client.get(STORE, params=params, headers=bearer(token))).json()
    assert [r["id"] for r in first["records"]] == ids[::-1][:2]
    assert first["paging"] == {
        "page": 1,
        "perPage": 2,
        "pageStart": 0,
        "pageEnd": 1,
        "totalPages": 3,
        "totalElements": 5,
    }
    assert "previousPage" not in first["navigation"]
    next_uri = first["navigation"]["nextPage"]["uri"]
    assert next_uri.startswith(rc.base_url + STORE + "?")
    assert "messageType=Fax" in next_uri
    assert "page=2" in next_uri

    second = (await client.get(next_uri, headers=bearer(token))).json()
    assert [r["id"] for r in second["records"]] == ids[::-1][2:4]
    third = (await client.get(second["navigation"]["nextPage"]["uri"], headers=bearer(token))).json()
    assert [r["id"] for r in third["records"]] == [ids[0]]
    assert third["paging"]["pageStart"] == third["paging"]["pageEnd"] == 4
    assert "nextPage" not in third["navigation"]
    assert "page=3" in third["navigation"]["lastPage"]["uri"]
    assert "page=2" in third["navigation"]["previousPage"]["uri"]
    beyond = (await client.get(STORE, params={**params, "page": "4"}, headers=bearer(token))).json()
    assert beyond["records"] == []
    assert "pageStart" not in beyond["paging"]
    sms = (await client.get(STORE, params={"messageType": "SMS"}, headers=bearer(token))).json()
    assert (sms["records"], sms["paging"]["totalElements"]) == ([], 0)


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"perPage": "0"}, "perPage"),
        ({"page": "0"}, "page"),
        ({"page": "two"}, "page"),
        ({"messageType": "Email"}, "messageType"),
        ({"direction": "Sideways"}, "direction"),
        ({"dateFrom": "yesterday"}, "dateFrom"),
        ({"dateFrom": "2024-01-01T00:00:00"}, "dateFrom"),
        ({"dateTo": "2024-01-01"}, "dateTo"),
        ({"page": ["1", "2"]}, "page"),
    ],
)
async def test_list_parameters_are_checked(
    client: httpx.AsyncClient, token: str, params: dict[str, Any], parameter: str
) -> None:
    assert_error(await client.get(STORE, params=params, headers=bearer(token)), 400, "CMN-101", parameter)


async def test_list_defaults_to_the_last_24_hours(rc: RingCentralEmulator, client: httpx.AsyncClient) -> None:
    await send_fax(client, (await login(client))["access_token"])
    rc.advance(25 * 3600)
    token = (await login(client))["access_token"]
    assert (await client.get(STORE, headers=bearer(token))).json()["records"] == []
    since = (datetime.now(UTC) - timedelta(days=2)).isoformat().replace("+00:00", "Z")
    assert (
        len((await client.get(STORE, params={"dateFrom": since}, headers=bearer(token))).json()["records"])
        == 1
    )


async def test_listing_delay_hides_new_faxes_from_lists_only(
    rc: RingCentralEmulator, client: httpx.AsyncClient, token: str
) -> None:
    rc.listing_delay = 30
    fax_id = (await send_fax(client, token)).json()["id"]
    assert (await client.get(STORE, headers=bearer(token))).json()["records"] == []
    assert (await client.get(f"{STORE}/{fax_id}", headers=bearer(token))).status_code == 200
    rc.advance(31)
    assert [r["id"] for r in (await client.get(STORE, headers=bearer(token))).json()["records"]] == [fax_id]


async def test_auto_outcome_applies_on_first_read(
    rc: RingCentralEmulator, client: httpx.AsyncClient, token: str
) -> None:
    rc.auto_outcome = lambda fax: (
        ("Sent", 2, None) if fax.documents[0].filename == "ok.pdf" else ("SendingFailed", None, "NoAnswer")
    )
    ok = await send_fax(client, token, body(json_part(), doc("ok.pdf")))
    bad = await send_fax(client, token, body(json_part(), doc("bad.pdf")))
    assert ok.json()["messageStatus"] == "Queued"
    assert rc.message(ok.json()["id"])["messageStatus"] == "Queued"
    record = (await client.get(f"{STORE}/{ok.json()['id']}", headers=bearer(token))).json()
    assert (record["messageStatus"], record["faxPageCount"]) == ("Sent", 2)
    listed = (await client.get(STORE, headers=bearer(token))).json()["records"]
    failed = next(r for r in listed if r["id"] == bad.json()["id"])
    assert failed["messageStatus"] == "SendingFailed"
    assert "faxPageCount" not in failed
    assert failed["to"][0]["faxErrorCode"] == "NoAnswer"


async def test_scheduled_fax_stays_queued_until_its_send_time(
    rc: RingCentralEmulator, client: httpx.AsyncClient, token: str
) -> None:
    rc.auto_outcome = lambda fax: ("Sent", 1, None)
    later = (datetime.now(UTC) + timedelta(minutes=30)).isoformat()
    fax_id = (await send_fax(client, token, body(json_part({**ENVELOPE, "sendTime": later}), doc()))).json()[
        "id"
    ]
    assert (await client.get(f"{STORE}/{fax_id}", headers=bearer(token))).json()["messageStatus"] == "Queued"
    rc.advance(31 * 60)
    assert (await client.get(f"{STORE}/{fax_id}", headers=bearer(token))).json()["messageStatus"] == "Sent"


async def test_delete_cancels_a_scheduled_fax(
    rc: RingCentralEmulator, client: httpx.AsyncClient, token: str
) -> None:
    rc.auto_outcome = lambda fax: ("Sent", 1, None)
    later = (datetime.now(UTC) + timedelta(minutes=30)).isoformat()
    fax_id = (await send_fax(client, token, body(json_part({**ENVELOPE, "sendTime": later}), doc()))).json()[
        "id"
    ]
    response = await client.delete(f"{STORE}/{fax_id}", headers=bearer(token))
    assert response.status_code == 204
    assert response.headers["X-Rate-Limit-Group"] == "medium"
    assert rc.requests_in("Medium")[0].method == "DELETE"
    rc.advance(31 * 60)
    record = (await client.get(f"{STORE}/{fax_id}", headers=bearer(token))).json()
    assert (record["availability"], record["messageStatus"]) == ("Deleted", "Queued")
    assert (await client.get(STORE, headers=bearer(token))).json()["records"] == []
    deleted = await client.get(STORE, params={"availability": "Deleted"}, headers=bearer(token))
    assert [r["id"] for r in deleted.json()["records"]] == [fax_id]
    assert (await client.delete(f"{STORE}/{fax_id}", headers=bearer(token))).status_code == 204  # now Purged
    assert_error(await client.get(f"{STORE}/{fax_id}", headers=bearer(token)), 404, "CMN-102")
    assert_error(await client.delete(f"{STORE}/999", headers=bearer(token)), 404, "CMN-102")


async def test_extension_info_and_foreign_paths(
    rc: RingCentralEmulator, client: httpx.AsyncClient, token: str
) -> None:
    info = (await client.get(EXTENSION, headers=bearer(token))).json()
    assert (info["id"], info["extensionNumber"], info["status"]) == (int(rc.extension_id), "101", "Enabled")
    assert "permissions" in info
    own = f"/restapi/v1.0/account/{rc.account_id}/extension/{rc.extension_id}"
    assert (await client.get(own, headers=bearer(token))).status_code == 200
    assert_error(
        await client.get("/restapi/v1.0/account/~/extension/1", headers=bearer(token)), 403, "CMN-404"
    )
    assert_error(
        await client.get("/restapi/v1.0/account/1/extension/~", headers=bearer(token)), 404, "CMN-102"
    )
    wrong_method = await client.get(FAX, headers=bearer(token))
    assert_error(wrong_method, 405, "CMN-202")
    assert wrong_method.headers["Allow"] == "POST"
    assert_error(await client.get("/restapi/v1.0/nowhere", headers=bearer(token)), 404, "CMN-120")
    assert rc.requests[-1].group == ""


# ---- injected faults -----------------------------------------------------------------------------


async def test_injected_503s_then_success(
    rc: RingCentralEmulator, client: httpx.AsyncClient, token: str
) -> None:
    rc.inject(group="Heavy", status=503, times=3)
    for _ in range(3):
        response = await send_fax(client, token)
        assert_error(response, 503, "CMN-201")
        assert response.headers["X-Rate-Limit-Group"] == "heavy"
    assert (await send_fax(client, token)).status_code == 200
    assert [r.status for r in rc.requests_in("Heavy")] == [503, 503, 503, 200]
    assert len(rc.faxes) == 1
    assert (await client.get(EXTENSION, headers=bearer(token))).status_code == 200


async def test_injected_429_with_and_without_retry_after(
    rc: RingCentralEmulator, client: httpx.AsyncClient, token: str
) -> None:
    rc.inject(group="Light", status=429, headers={"Retry-After": "7"})
    rc.inject(group="Light", status=429)
    with_header = await client.get(EXTENSION, headers=bearer(token))
    assert_error(with_header, 429, "CMN-301")
    assert with_header.headers["Retry-After"] == "7"
    without = await client.get(EXTENSION, headers=bearer(token))
    assert without.status_code == 429
    assert "Retry-After" not in without.headers
    assert rc.count_429("Light") == 0  # the limiter itself refused nothing
    custom = {
        "errorCode": "XYZ-1",
        "message": "custom",
        "errors": [{"errorCode": "XYZ-1", "message": "custom"}],
    }
    rc.inject(path="/restapi/oauth/token", status=400, body=custom)
    response = await client.post("/restapi/oauth/token", data={}, auth=("test-client", "test-secret"))
    assert response.json() == custom


async def test_injected_headers_only_decorate_the_normal_answer(
    rc: RingCentralEmulator, client: httpx.AsyncClient, token: str
) -> None:
    rc.inject(group="Light", headers={"X-Rate-Limit-Remaining": "0"})
    response = await client.get(EXTENSION, headers=bearer(token))
    assert response.status_code == 200
    assert response.headers["X-Rate-Limit-Remaining"] == "0"


async def test_injected_hang_makes_the_client_time_out(
    rc: RingCentralEmulator, client: httpx.AsyncClient, token: str
) -> None:
    rc.inject(group="Heavy", action="hang")
    with pytest.raises(httpx.ReadTimeout):
        await send_fax_with_timeout(client, token, 0.2)
    assert rc.faxes == []
    assert rc.requests_in("Heavy")[-1].status is None
    rc.inject(group="Heavy", action="hang", process=True)  # the fax goes out, the answer never comes
    with pytest.raises(httpx.ReadTimeout):
        await send_fax_with_timeout(client, token, 0.2)
    assert len(rc.faxes) == 1
    assert (await send_fax(client, token)).status_code == 200


async def send_fax_with_timeout(client: httpx.AsyncClient, token: str, timeout: float) -> httpx.Response:
    headers = {**bearer(token), "Content-Type": MIXED}
    return await client.post(FAX, content=body(json_part(), doc()), headers=headers, timeout=timeout)


async def test_injected_reset_drops_the_connection(
    rc: RingCentralEmulator, client: httpx.AsyncClient, token: str
) -> None:
    rc.inject(path=STORE, action="reset")
    with pytest.raises(httpx.TransportError):
        await client.get(STORE, headers=bearer(token))
    assert rc.requests[-1].status is None
    assert (await client.get(STORE, headers=bearer(token))).status_code == 200


async def test_injected_slow_answer_arrives_late(
    rc: RingCentralEmulator, client: httpx.AsyncClient, token: str
) -> None:
    rc.inject(group="Light", action="slow", delay=0.2)
    loop = asyncio.get_running_loop()
    started = loop.time()
    response = await client.get(EXTENSION, headers=bearer(token))
    assert response.status_code == 200
    assert loop.time() - started >= 0.2


# ---- the HTTP server itself ----------------------------------------------------------------------


async def echo(request: Request) -> Response:
    return Response(
        200, [("Content-Type", "text/plain")], f"{request.method} {request.path}".encode() + request.body
    )


async def test_keep_alive_and_a_second_handler_on_the_same_server() -> None:
    async with HTTPServer() as server:
        rc = RingCentralEmulator(server=server)
        server.mount("/faxapi.asp", echo)
        async with rc, httpx.AsyncClient(base_url=server.base_url) as client:
            info = await login(client)
            assert (await client.post("/faxapi.asp", content=b"!")).text == "POST /faxapi.asp!"
            assert (await client.get(EXTENSION, headers=bearer(info["access_token"]))).status_code == 200
            assert (await client.get("/elsewhere")).status_code == 404
        assert server.connections_opened == 1
        assert server.running  # the emulator leaves a server it was handed to its owner
    assert not server.running


async def test_handler_errors_answer_500_and_are_kept() -> None:
    async def broken(request: Request) -> Response:
        raise RuntimeError("boom")

    async with HTTPServer(broken) as server, httpx.AsyncClient(base_url=server.base_url) as client:
        assert (await client.get("/")).status_code == 500
    assert [str(error) for error in server.errors] == ["boom"]


async def raw_exchange(server: HTTPServer, data: bytes, *, then: bytes = b"") -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(data)
        if then:
            interim = await reader.readuntil(b"\r\n\r\n")
            assert interim.startswith(b"HTTP/1.1 100 ")
            writer.write(then)
        return await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()


async def test_malformed_requests_get_400_and_oversized_bodies_413() -> None:
    async with HTTPServer(echo, max_body=10) as server:
        assert (await raw_exchange(server, b"NONSENSE\r\n\r\n")).startswith(b"HTTP/1.1 400 ")
        too_big = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n" + b"x" * 11
        assert (await raw_exchange(server, too_big)).startswith(b"HTTP/1.1 413 ")


async def test_expect_100_continue_is_honoured() -> None:
    async with HTTPServer(echo) as server:
        head = (
            b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
            b"Expect: 100-continue\r\nConnection: close\r\n\r\n"
        )
        answer = await raw_exchange(server, head, then=b"abc")
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert answer.endswith(b"POST /xabc")


async def test_stop_closes_a_hanging_connection() -> None:
    arrived = asyncio.Event()

    async def hang(request: Request) -> Hang:
        arrived.set()
        return Hang()

    server = HTTPServer(hang)
    await server.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await arrived.wait()
        await server.stop()
        assert await reader.read() == b""
    finally:
        writer.close()
        await writer.wait_closed()
