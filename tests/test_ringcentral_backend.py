"""The RingCentral REST backend against the RingCentral emulator, a real HTTP server on loopback."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from mail2fax.backends.base import Outcome, Settlement, TrackedFax
from mail2fax.backends.pacing import HEAVY, LIGHT, RatePacer
from mail2fax.backends.ringcentral import RingCentralBackend
from mail2fax.errors import (
    BackendAuthError,
    PermanentBackendError,
    TemporaryBackendError,
    UncertainSubmission,
)
from mail2fax.models import (
    Cover,
    FaxOptions,
    Job,
    JobState,
    Recipient,
    RecipientResult,
    Resolution,
    StoredDocument,
)
from mail2fax.settings import RingCentralSettings
from tests.emulator import RingCentralEmulator
from tests.samples.images import tiff_bytes
from tests.samples.other import pdf_bytes, random_bytes, text_bytes

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
NUMBER = "+14155551212"


# ---- helpers ------------------------------------------------------------------------------------


def rc_settings(rc: RingCentralEmulator, **overrides: Any) -> RingCentralSettings:
    values: dict[str, Any] = {
        "server_url": rc.base_url,
        "client_id": "test-client",
        "client_secret": SecretStr("test-secret"),
        "jwt": SecretStr("test-jwt"),
    }
    values.update(overrides)
    return RingCentralSettings(**values)


def make_job(
    *,
    job_id: str = "job-1",
    recipients: tuple[Recipient, ...] = (Recipient(NUMBER, "John Doe"),),
    cover_text: str = "Invoice 42",
    options: FaxOptions | None = None,
    started: datetime | None = None,
) -> Job:
    now = datetime.now(UTC)
    return Job(
        id=job_id,
        sender="alice@example.com",
        recipients=recipients,
        cover_text=cover_text,
        options=options or FaxOptions(),
        state=JobState.SUBMITTING,
        attempts=1,
        created_at=now,
        updated_at=now,
        next_attempt_at=None,
        expires_at=now + timedelta(days=2),
        submit_started_at=started or now,
    )


def spool(directory: Path, *documents: tuple[str, str, bytes]) -> list[StoredDocument]:
    stored = []
    for position, (filename, content_type, data) in enumerate(documents, start=1):
        path = directory / f"{position:02d}.bin"
        path.write_bytes(data)
        stored.append(StoredDocument(position, filename, content_type, len(data), str(path)))
    return stored


class OffsetClock:
    """Monotonic time that a test can move forward, for token lifetimes."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset


class FakeTime:
    """A pacer clock whose sleep moves both this clock and the emulator's clock forward."""

    def __init__(self, rc: RingCentralEmulator | None = None) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        self.rc = rc

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        if self.rc is not None:
            self.rc.advance(seconds)


def statuses_of(rc: RingCentralEmulator, group: str) -> list[int | None]:
    return [request.status for request in rc.requests_in(group)]


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0) as http:
        yield http


@pytest.fixture
def pdf_doc(tmp_path: Path) -> list[StoredDocument]:
    return spool(tmp_path, ("invoice.pdf", "application/pdf", pdf_bytes()))


@pytest.fixture
def backend(rc: RingCentralEmulator, client: httpx.AsyncClient) -> RingCentralBackend:
    return RingCentralBackend(rc_settings(rc), client)


# ---- the request ----------------------------------------------------------------------------------


async def test_submit_sends_the_envelope_and_each_document_in_order(
    rc: RingCentralEmulator, backend: RingCentralBackend, tmp_path: Path
) -> None:
    pdf, tiff = pdf_bytes(pages=2), tiff_bytes()
    text = text_bytes("line one\r\n--not-a-boundary\r\n")
    documents = spool(
        tmp_path,
        ("invoice.pdf", "application/pdf", pdf),
        ("scan.tif", "image/tiff", tiff),
        ("note.txt", "text/plain", text),
    )
    submission = await backend.submit(make_job(), documents)

    [fax] = rc.faxes
    assert fax.raw_content_type.startswith("multipart/mixed; boundary=")
    assert fax.json == {
        "to": [{"phoneNumber": NUMBER, "name": "John Doe"}],
        "faxResolution": "High",
        "coverPageText": "Invoice 42",
    }
    assert [(d.filename, d.content_type, d.data) for d in fax.documents] == [
        ("invoice.pdf", "application/pdf", pdf),
        ("scan.tif", "image/tiff", tiff),
        ("note.txt", "text/plain", text),
    ]
    assert fax.documents[1].headers["content-disposition"] == 'attachment; filename="scan.tif"'
    [request] = rc.requests_in("Heavy")
    assert request.path == "/restapi/v1.0/account/~/extension/~/fax"
    assert "transfer-encoding" not in request.headers
    assert int(request.headers["content-length"]) > len(pdf) + len(tiff) + len(text)
    assert submission.backend_id == fax.id
    assert submission.backend_uri is not None
    assert submission.backend_uri.endswith(f"/message-store/{fax.id}")
    assert submission.status.outcome is Outcome.PENDING


async def test_each_request_has_its_own_boundary(
    rc: RingCentralEmulator, backend: RingCentralBackend, pdf_doc: list[StoredDocument]
) -> None:
    await backend.submit(make_job(), pdf_doc)
    await backend.submit(make_job(), pdf_doc)
    assert rc.faxes[0].raw_content_type != rc.faxes[1].raw_content_type


async def test_a_large_document_arrives_intact(
    rc: RingCentralEmulator, backend: RingCentralBackend, tmp_path: Path
) -> None:
    big = pdf_bytes() + random_bytes(6 * 1024 * 1024 + 7)
    await backend.submit(make_job(), spool(tmp_path, ("big.pdf", "application/pdf", big)))
    assert rc.faxes[0].documents[0].data == big


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (FaxOptions(cover=Cover("none")), {"coverIndex": 0}),
        (FaxOptions(cover=Cover("index", index=3)), {"coverIndex": 3}),
        (FaxOptions(cover=Cover("default")), {}),
        (FaxOptions(resolution=Resolution.LOW), {"faxResolution": "Low"}),
        (
            FaxOptions(send_at=datetime(2099, 5, 1, 14, 30, 15, 123456, tzinfo=UTC)),
            {"sendTime": "2099-05-01T14:30:15.000Z"},
        ),
        (FaxOptions(send_at=datetime(2001, 5, 1, tzinfo=UTC)), {}),
    ],
)
async def test_fax_options_in_the_envelope(
    rc: RingCentralEmulator,
    backend: RingCentralBackend,
    pdf_doc: list[StoredDocument],
    options: FaxOptions,
    expected: dict[str, Any],
) -> None:
    job = make_job(recipients=(Recipient(NUMBER),), cover_text="", options=options)
    await backend.submit(job, pdf_doc)
    assert rc.faxes[0].json == {"to": [{"phoneNumber": NUMBER}], "faxResolution": "High", **expected}


async def test_a_document_missing_from_the_spool_is_permanent_and_sends_nothing(
    rc: RingCentralEmulator, backend: RingCentralBackend, tmp_path: Path
) -> None:
    missing = StoredDocument(1, "gone.pdf", "application/pdf", 10, str(tmp_path / "gone"))
    with pytest.raises(PermanentBackendError, match=r"gone\.pdf"):
        await backend.submit(make_job(), [missing])
    assert rc.requests_in("Heavy") == []


# ---- OAuth ------------------------------------------------------------------------------------------


async def test_one_jwt_login_serves_every_call(
    rc: RingCentralEmulator, backend: RingCentralBackend, pdf_doc: list[StoredDocument]
) -> None:
    started = datetime.now(UTC)
    await asyncio.gather(*(backend.submit(make_job(), pdf_doc) for _ in range(3)))
    faxes = [TrackedFax("job-1", fax.id, started) for fax in rc.faxes]
    await asyncio.gather(*(backend.statuses(faxes) for _ in range(3)))
    assert rc.token_grants == [JWT_GRANT]
    assert len(rc.requests_in("Auth")) == 1


async def test_password_grant_when_no_jwt_is_set(
    rc: RingCentralEmulator, client: httpx.AsyncClient, pdf_doc: list[StoredDocument]
) -> None:
    settings = rc_settings(
        rc, jwt=None, username="+16505550100", extension="101", password=SecretStr("test-password")
    )
    await RingCentralBackend(settings, client).submit(make_job(), pdf_doc)
    assert rc.token_grants == ["password"]
    assert len(rc.faxes) == 1


async def test_the_token_is_refreshed_before_it_expires(
    rc: RingCentralEmulator, client: httpx.AsyncClient, pdf_doc: list[StoredDocument]
) -> None:
    clock = OffsetClock()
    backend = RingCentralBackend(rc_settings(rc), client, clock=clock)
    await backend.submit(make_job(), pdf_doc)
    clock.offset += 3400
    rc.advance(3400)  # the token has 200 s left: still valid, but due for renewal
    await backend.submit(make_job(), pdf_doc)
    assert rc.token_grants == [JWT_GRANT, "refresh_token"]
    assert 401 not in statuses_of(rc, "Heavy")


async def test_a_failed_refresh_keeps_the_valid_token_and_retries_later(
    rc: RingCentralEmulator, client: httpx.AsyncClient, pdf_doc: list[StoredDocument]
) -> None:
    clock = OffsetClock()
    backend = RingCentralBackend(rc_settings(rc), client, clock=clock)
    await backend.submit(make_job(), pdf_doc)
    clock.offset += 3400
    rc.advance(3400)
    rc.inject(group="Auth", status=503)
    await backend.submit(make_job(), pdf_doc)
    await backend.submit(make_job(), pdf_doc)
    assert statuses_of(rc, "Auth") == [200, 503]
    clock.offset += 31
    await backend.submit(make_job(), pdf_doc)
    assert statuses_of(rc, "Auth") == [200, 503, 200]
    assert rc.token_grants == [JWT_GRANT, "refresh_token"]
    assert statuses_of(rc, "Heavy") == [200, 200, 200, 200]


async def test_an_expired_token_is_refreshed_once_and_the_call_retried(
    rc: RingCentralEmulator, backend: RingCentralBackend, pdf_doc: list[StoredDocument]
) -> None:
    await backend.submit(make_job(), pdf_doc)
    rc.expire_tokens()
    submission = await backend.submit(make_job(), pdf_doc)
    assert submission.backend_id == rc.faxes[1].id
    assert rc.token_grants == [JWT_GRANT, "refresh_token"]
    assert statuses_of(rc, "Heavy") == [200, 401, 200]


async def test_a_revoked_session_logs_in_again(
    rc: RingCentralEmulator, backend: RingCentralBackend, pdf_doc: list[StoredDocument]
) -> None:
    await backend.submit(make_job(), pdf_doc)
    rc.revoke_tokens()
    await backend.submit(make_job(), pdf_doc)
    assert rc.token_grants == [JWT_GRANT, JWT_GRANT]
    assert statuses_of(rc, "Auth") == [200, 400, 200]  # login, refused refresh, login
    assert len(rc.faxes) == 2


async def test_a_token_refused_twice_is_an_auth_error(
    rc: RingCentralEmulator, backend: RingCentralBackend, pdf_doc: list[StoredDocument]
) -> None:
    rc.inject(group="Heavy", status=401, times=2)
    with pytest.raises(BackendAuthError):
        await backend.submit(make_job(), pdf_doc)
    assert statuses_of(rc, "Heavy") == [401, 401]
    assert rc.faxes == []


@pytest.mark.parametrize(
    "overrides",
    [
        {"client_secret": SecretStr("wrong")},
        {"jwt": SecretStr("wrong")},
        {"jwt": None, "username": "+16505550100", "password": SecretStr("wrong")},
    ],
    ids=["client-secret", "jwt", "password"],
)
async def test_rejected_credentials_are_an_auth_error(
    rc: RingCentralEmulator,
    client: httpx.AsyncClient,
    pdf_doc: list[StoredDocument],
    overrides: dict[str, Any],
) -> None:
    backend = RingCentralBackend(rc_settings(rc, **overrides), client)
    with pytest.raises(BackendAuthError) as caught:
        await backend.submit(make_job(), pdf_doc)
    assert caught.value.code in ("OAU-146", "OAU-140")
    assert rc.requests_in("Heavy") == []


async def test_aclose_revokes_the_session_but_leaves_the_client_open(
    rc: RingCentralEmulator, backend: RingCentralBackend, client: httpx.AsyncClient
) -> None:
    await backend.statuses([TrackedFax("job-1", "1", datetime.now(UTC))])
    await backend.aclose()
    assert [(r.path, r.status) for r in rc.requests_in("Auth")][-1] == ("/restapi/oauth/revoke", 200)
    assert not client.is_closed
    await backend.statuses([TrackedFax("job-1", "1", datetime.now(UTC))])
    assert rc.token_grants == [JWT_GRANT, JWT_GRANT]


async def test_aclose_without_a_session_sends_nothing_and_ignores_failures(
    rc: RingCentralEmulator, backend: RingCentralBackend
) -> None:
    await backend.aclose()
    assert rc.requests == []
    await backend.probe()
    rc.inject(group="Auth", action="reset")
    await backend.aclose()


async def test_secrets_and_tokens_never_reach_the_log(
    rc: RingCentralEmulator,
    backend: RingCentralBackend,
    pdf_doc: list[StoredDocument],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    await backend.submit(make_job(), pdf_doc)
    rc.expire_tokens()
    await backend.submit(make_job(), pdf_doc)
    rc.revoke_tokens()
    await backend.submit(make_job(), pdf_doc)
    await backend.aclose()
    tokens = {r.headers["authorization"].split()[-1] for r in rc.requests if r.group != "Auth"}
    assert len(tokens) == 3
    assert caplog.records, "the auth events are logged"
    for secret in (*tokens, "test-secret", "test-jwt"):
        assert secret not in caplog.text


# ---- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "retry_after",
    ["7", "http-date"],
)
async def test_503_is_temporary_with_retry_after(
    rc: RingCentralEmulator, backend: RingCentralBackend, pdf_doc: list[StoredDocument], retry_after: str
) -> None:
    if retry_after == "http-date":
        retry_after = format_datetime(datetime.now(UTC) + timedelta(seconds=8), usegmt=True)
    rc.inject(group="Heavy", status=503, headers={"Retry-After": retry_after})
    with pytest.raises(TemporaryBackendError) as caught:
        await backend.submit(make_job(), pdf_doc)
    assert caught.value.retry_after == pytest.approx(7.0, abs=1.0)
    assert caught.value.code == "CMN-201"
    assert rc.faxes == []


async def test_429_is_temporary_and_stops_the_whole_group(
    rc: RingCentralEmulator, client: httpx.AsyncClient, pdf_doc: list[StoredDocument]
) -> None:
    settings = rc_settings(rc)
    fake = FakeTime()
    pacer = RatePacer.from_settings(settings, clock=fake.clock, sleep=fake.sleep)
    seen: list[tuple[str, int]] = []
    backend = RingCentralBackend(
        settings, client, pacer=pacer, on_response=lambda group, status: seen.append((group, status))
    )
    rc.inject(group="Heavy", status=429, headers={"Retry-After": "30"})
    with pytest.raises(TemporaryBackendError) as caught:
        await backend.submit(make_job(), pdf_doc)
    assert caught.value.retry_after == 30.0
    assert caught.value.code == "CMN-301"
    assert pacer.wait_time(HEAVY) == pytest.approx(30.0)
    assert pacer.wait_time(LIGHT) == 0
    assert seen == [("auth", 200), ("heavy", 429)]

    await backend.ready()  # waits out the penalty without using a slot
    assert fake.sleeps == [pytest.approx(30.0)]
    assert len(rc.requests_in("Heavy")) == 1
    await backend.submit(make_job(), pdf_doc)
    assert len(rc.faxes) == 1


async def test_429_without_retry_after_waits_one_window(
    rc: RingCentralEmulator, client: httpx.AsyncClient, pdf_doc: list[StoredDocument]
) -> None:
    settings = rc_settings(rc, limit_window=45.0)
    pacer = RatePacer.from_settings(settings, clock=FakeTime().clock)
    backend = RingCentralBackend(settings, client, pacer=pacer)
    rc.inject(group="Heavy", status=429)
    with pytest.raises(TemporaryBackendError) as caught:
        await backend.submit(make_job(), pdf_doc)
    # The emulator announces a 60 s window, longer than the configured 45 s.
    assert caught.value.retry_after == 60.0
    assert pacer.wait_time(HEAVY) == pytest.approx(60.0)


async def test_pacing_keeps_every_group_under_the_server_limit(
    rc: RingCentralEmulator, client: httpx.AsyncClient, pdf_doc: list[StoredDocument]
) -> None:
    settings = rc_settings(rc, heavy_limit=3, limit_window=10.0)
    rc.set_limit("Heavy", 3, 10.0)
    fake = FakeTime(rc)
    pacer = RatePacer.from_settings(settings, clock=fake.clock, sleep=fake.sleep)
    backend = RingCentralBackend(settings, client, pacer=pacer)
    for _ in range(7):
        await backend.submit(make_job(), pdf_doc)
    assert len(rc.faxes) == 7
    assert rc.count_429("Heavy") == 0
    assert sum(fake.sleeps) >= 20.0


async def test_a_hung_request_times_out_as_temporary(
    rc: RingCentralEmulator, pdf_doc: list[StoredDocument]
) -> None:
    async with httpx.AsyncClient(timeout=0.3) as client:
        backend = RingCentralBackend(rc_settings(rc), client)
        await backend.probe()
        rc.inject(group="Heavy", action="hang")
        with pytest.raises(TemporaryBackendError) as caught:
            await backend.submit(make_job(), pdf_doc)
    assert isinstance(caught.value.__cause__, httpx.TimeoutException)


async def test_a_reset_connection_is_temporary(
    rc: RingCentralEmulator, backend: RingCentralBackend, pdf_doc: list[StoredDocument]
) -> None:
    rc.inject(group="Heavy", action="reset")
    with pytest.raises(TemporaryBackendError) as caught:
        await backend.submit(make_job(), pdf_doc)
    assert isinstance(caught.value.__cause__, httpx.TransportError)


async def test_an_unreachable_server_is_temporary(
    client: httpx.AsyncClient, pdf_doc: list[StoredDocument]
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = RingCentralSettings(
        server_url=f"http://127.0.0.1:{port}", client_id="c", client_secret=SecretStr("s"), jwt=SecretStr("j")
    )
    with pytest.raises(TemporaryBackendError) as caught:
        await RingCentralBackend(settings, client).submit(make_job(), pdf_doc)
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


async def test_an_unsupported_document_is_permanent_with_its_code(
    rc: RingCentralEmulator, backend: RingCentralBackend, tmp_path: Path
) -> None:
    documents = spool(tmp_path, ("fake.pdf", "application/pdf", b"this is not a PDF"))
    with pytest.raises(PermanentBackendError) as caught:
        await backend.submit(make_job(), documents)
    assert caught.value.code == "MSG-348"
    assert statuses_of(rc, "Heavy") == [415]


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (403, "MSG-341", PermanentBackendError),
        (403, "CMN-401", BackendAuthError),
        (400, "MSG-305", TemporaryBackendError),
        (400, "CMN-310", TemporaryBackendError),
        (500, "CMN-203", UncertainSubmission),
    ],
)
async def test_error_codes_decide_the_error_class(
    rc: RingCentralEmulator,
    backend: RingCentralBackend,
    pdf_doc: list[StoredDocument],
    status: int,
    code: str,
    expected: type[Exception],
) -> None:
    body = {"errors": [{"errorCode": code, "message": "refused"}]}
    rc.inject(group="Heavy", status=status, body=body)
    with pytest.raises(expected) as caught:
        await backend.submit(make_job(), pdf_doc)
    assert type(caught.value) is expected
    assert caught.value.code == code  # type: ignore[attr-defined]


# ---- statuses -------------------------------------------------------------------------------------


async def submit_many(
    backend: RingCentralBackend, documents: list[StoredDocument], count: int
) -> list[TrackedFax]:
    tracked = []
    for index in range(count):
        started = datetime.now(UTC)
        submission = await backend.submit(make_job(job_id=f"job-{index}"), documents)
        assert submission.backend_id is not None
        tracked.append(TrackedFax(f"job-{index}", submission.backend_id, started))
    return tracked


def list_requests(rc: RingCentralEmulator) -> list[Any]:
    return [r for r in rc.requests_in("Light") if r.path.endswith("/message-store")]


async def test_statuses_reads_every_fax_with_one_listing(
    rc: RingCentralEmulator, backend: RingCentralBackend, pdf_doc: list[StoredDocument]
) -> None:
    sent, failed, queued = await submit_many(backend, pdf_doc, 3)
    rc.complete(sent.backend_id, pages=3)
    rc.fail(failed.backend_id, "LineBusy")
    result = await backend.statuses([sent, failed, queued])

    assert result[sent.backend_id].outcome is Outcome.SENT
    assert result[sent.backend_id].page_count == 3
    assert result[failed.backend_id].outcome is Outcome.FAILED
    assert result[failed.backend_id].results == (RecipientResult(NUMBER, "SendingFailed", "LineBusy"),)
    assert result[failed.backend_id].page_count is None
    assert "LineBusy" in (result[failed.backend_id].detail or "")
    assert result[queued.backend_id].outcome is Outcome.PENDING
    [listing] = rc.requests_in("Light")
    assert listing.query["messageType"] == ["Fax"]
    assert listing.query["direction"] == ["Outbound"]
    assert listing.query["perPage"] == ["1000"]
    date_from = datetime.fromisoformat(listing.query["dateFrom"][0].replace("Z", "+00:00"))
    assert date_from <= min(fax.since for fax in (sent, failed, queued))


async def test_statuses_follows_the_next_pages(
    rc: RingCentralEmulator, client: httpx.AsyncClient, pdf_doc: list[StoredDocument]
) -> None:
    backend = RingCentralBackend(rc_settings(rc), client, page_size=2)
    tracked = await submit_many(backend, pdf_doc, 5)
    result = await backend.statuses(tracked)
    assert set(result) == {fax.backend_id for fax in tracked}
    assert [r.query.get("page") for r in list_requests(rc)] == [None, ["2"], ["3"]]
    assert len(rc.requests_in("Light")) == 3


async def test_a_fax_missing_from_the_listing_is_read_on_its_own(
    rc: RingCentralEmulator, backend: RingCentralBackend, pdf_doc: list[StoredDocument]
) -> None:
    [fax] = await submit_many(backend, pdf_doc, 1)
    rc.complete(fax.backend_id, pages=2)
    rc.listing_delay = 600.0  # the listing lags behind
    result = await backend.statuses([fax])
    assert result == {fax.backend_id: result[fax.backend_id]}
    assert result[fax.backend_id].outcome is Outcome.SENT
    assert [r.path.rsplit("/", 1)[-1] for r in rc.requests_in("Light")] == ["message-store", fax.backend_id]


async def test_a_failed_single_read_keeps_what_the_listing_told(
    rc: RingCentralEmulator, backend: RingCentralBackend, pdf_doc: list[StoredDocument]
) -> None:
    [listed] = await submit_many(backend, pdf_doc, 1)
    rc.advance(100)
    rc.listing_delay = 50.0
    [lagging] = await submit_many(backend, pdf_doc, 1)
    rc.inject(path=f"/restapi/v1.0/account/~/extension/~/message-store/{lagging.backend_id}", status=503)
    result = await backend.statuses([listed, lagging])
    assert set(result) == {listed.backend_id}
    assert [r.status for r in rc.requests_in("Light")] == [200, 503]


async def test_a_fax_gone_from_the_message_store_is_left_out_and_not_asked_for_again(
    rc: RingCentralEmulator, backend: RingCentralBackend
) -> None:
    gone = TrackedFax("job-9", "123456", datetime.now(UTC))
    assert await backend.statuses([gone]) == {}
    assert await backend.statuses([gone]) == {}
    assert [r.status for r in rc.requests_in("Light")] == [200, 404, 200]


async def test_no_faxes_no_requests(rc: RingCentralEmulator, backend: RingCentralBackend) -> None:
    assert await backend.statuses([]) == {}
    assert rc.requests == []


# ---- recovery after a crash -------------------------------------------------------------------------


async def test_recover_finds_the_fax_the_job_sent(
    rc: RingCentralEmulator, backend: RingCentralBackend, pdf_doc: list[StoredDocument]
) -> None:
    job = make_job(started=datetime.now(UTC) - timedelta(seconds=1))
    await backend.submit(make_job(cover_text="another job"), pdf_doc)
    await backend.submit(replace(job, recipients=(Recipient("+14155550000"),)), pdf_doc)
    sent = await backend.submit(job, pdf_doc)
    result = await backend.recover(job, known_ids=set())
    assert result.settlement is Settlement.FOUND
    assert result.submission == sent


async def test_recover_ignores_faxes_that_belong_to_other_jobs(
    rc: RingCentralEmulator, backend: RingCentralBackend, pdf_doc: list[StoredDocument]
) -> None:
    job = make_job(started=datetime.now(UTC) - timedelta(minutes=5))
    other = await backend.submit(job, pdf_doc)
    assert other.backend_id is not None
    result = await backend.recover(job, known_ids={other.backend_id})
    assert result.settlement is Settlement.NOT_SENT


async def test_recover_with_two_candidates_is_ambiguous(
    rc: RingCentralEmulator, backend: RingCentralBackend, pdf_doc: list[StoredDocument]
) -> None:
    job = make_job()
    first = await backend.submit(job, pdf_doc)
    second = await backend.submit(job, pdf_doc)
    result = await backend.recover(job, known_ids=())
    assert result.settlement is Settlement.AMBIGUOUS
    assert result.submission is None
    assert f"{first.backend_id}" in result.detail
    assert f"{second.backend_id}" in result.detail


async def test_recover_says_not_sent_once_the_listing_grace_has_passed(
    rc: RingCentralEmulator, backend: RingCentralBackend
) -> None:
    job = make_job(started=datetime.now(UTC) - timedelta(seconds=121))
    result = await backend.recover(job, known_ids=())
    assert result.settlement is Settlement.NOT_SENT


async def test_recover_says_too_early_while_the_listing_may_still_lag(
    rc: RingCentralEmulator, backend: RingCentralBackend, pdf_doc: list[StoredDocument]
) -> None:
    job = make_job()
    rc.listing_delay = 30.0
    sent = await backend.submit(job, pdf_doc)
    assert (await backend.recover(job, known_ids=())).settlement is Settlement.TOO_EARLY
    rc.advance(31)
    result = await backend.recover(job, known_ids=())
    assert result.settlement is Settlement.FOUND
    assert result.submission is not None
    assert result.submission.backend_id == sent.backend_id


# ---- cancel, ready and probe -------------------------------------------------------------------------


async def test_cancel_deletes_the_message_and_tolerates_it_being_gone(
    rc: RingCentralEmulator, backend: RingCentralBackend, pdf_doc: list[StoredDocument]
) -> None:
    job = make_job(options=FaxOptions(send_at=datetime.now(UTC) + timedelta(hours=2)))
    submission = await backend.submit(job, pdf_doc)
    assert submission.backend_id is not None
    await backend.cancel(submission.backend_id)
    assert rc.message(submission.backend_id)["availability"] == "Deleted"
    await backend.cancel("999999")
    assert statuses_of(rc, "Medium") == [204, 404]


async def test_ready_logs_in_and_takes_the_slot_the_next_fax_uses(
    rc: RingCentralEmulator, client: httpx.AsyncClient, pdf_doc: list[StoredDocument]
) -> None:
    settings = rc_settings(rc, heavy_limit=1)
    fake = FakeTime(rc)
    pacer = RatePacer.from_settings(settings, clock=fake.clock, sleep=fake.sleep)
    backend = RingCentralBackend(settings, client, pacer=pacer)
    await backend.ready()
    await backend.ready()  # the slot already taken is kept, not a second one
    assert [r.group for r in rc.requests] == ["Auth"]
    assert fake.sleeps == []
    await backend.submit(make_job(), pdf_doc)
    assert fake.sleeps == []  # the fax left on the slot ready() took
    assert statuses_of(rc, "Heavy") == [200]
    assert pacer.wait_time(HEAVY) > 0


async def test_probe_reports_the_extension_and_sends_nothing(
    rc: RingCentralEmulator, backend: RingCentralBackend
) -> None:
    rc.set_limit("Light", 50, 60)
    report = await backend.probe()
    assert report["extension_id"] == rc.extension_id
    assert report["extension_number"] == "101"
    assert report["name"] == "Test User"
    assert report["status"] == "Enabled"
    assert report["grant"] == "jwt"
    limits: Any = report["rate_limits"]
    assert limits["light"]["server"] == {"limit": "50", "remaining": "49", "window": "60"}
    assert rc.faxes == []


def _groups(requests: Iterable[Any]) -> list[str]:
    return [request.group for request in requests]


async def test_on_response_sees_every_answer(
    rc: RingCentralEmulator, client: httpx.AsyncClient, pdf_doc: list[StoredDocument]
) -> None:
    seen: list[tuple[str, int]] = []
    backend = RingCentralBackend(
        rc_settings(rc), client, on_response=lambda group, status: seen.append((group, status))
    )
    await backend.submit(make_job(), pdf_doc)
    rc.expire_tokens()
    await backend.cancel("42")
    assert seen == [("auth", 200), ("heavy", 200), ("medium", 401), ("auth", 200), ("medium", 404)]
    assert _groups(rc.requests) == ["Auth", "Heavy", "Medium", "Auth", "Medium"]
