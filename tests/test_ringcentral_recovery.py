"""Recovery and the REST backend's edges against every record shape RingCentral documents."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from mail2fax.backends.base import Outcome, Settlement, TrackedFax
from mail2fax.backends.ringcentral import RingCentralBackend
from mail2fax.backends.ringcentral_records import Likeness, likeness, settle
from mail2fax.errors import PermanentBackendError, TemporaryBackendError, UncertainSubmission
from mail2fax.models import Recipient, StoredDocument
from tests.emulator import RingCentralEmulator
from tests.emulator.variants import Variants, written
from tests.logged import rendered
from tests.samples.other import pdf_bytes
from tests.test_ringcentral_backend import (
    JWT_GRANT,
    NUMBER,
    OffsetClock,
    make_job,
    rc_settings,
    spool,
    statuses_of,
)

STYLES = ["e164", "plain", "national"]


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


LONG_AGO = timedelta(seconds=121)  # past the default listing grace of 120 s


@pytest.mark.parametrize("cover_text", [True, False], ids=["cover", "no-cover"])
@pytest.mark.parametrize("style", STYLES)
async def test_recovery_adopts_the_fax_whatever_shape_its_record_has(
    rc: RingCentralEmulator,
    backend: RingCentralBackend,
    pdf_doc: list[StoredDocument],
    style: str,
    cover_text: bool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    rc.use(Variants(number_style=style, cover_text=cover_text))  # type: ignore[arg-type]
    job = make_job(started=datetime.now(UTC) - LONG_AGO)
    sent = await backend.submit(job, pdf_doc)
    await backend.submit(make_job(recipients=(Recipient("+14155550000"),)), pdf_doc)
    result = await backend.recover(job, known_ids=set())
    assert result.settlement is Settlement.FOUND
    assert result.submission is not None
    assert result.submission.backend_id == sent.backend_id
    assert [r.number for r in result.submission.status.results] == [NUMBER]
    assert "fax of an uncertain attempt listed by RingCentral job=" in rendered(caplog.records)
    assert f"fax_id={sent.backend_id} after=121 listing_grace=120" in rendered(caplog.records)


async def test_recovery_reads_national_numbers_in_the_job_region(
    rc: RingCentralEmulator, backend: RingCentralBackend, pdf_doc: list[StoredDocument]
) -> None:
    rc.use(Variants(number_style="national"))
    job = make_job(recipients=(Recipient("+442071234567"),), started=datetime.now(UTC) - LONG_AGO)
    sent = await backend.submit(job, pdf_doc)
    assert rc.message(sent.backend_id or "")["to"][0]["phoneNumber"] == "020 7123 4567"
    result = await backend.recover(job, known_ids=set())
    assert result.settlement is Settlement.FOUND


async def test_two_records_without_cover_text_are_ambiguous(
    rc: RingCentralEmulator, backend: RingCentralBackend, pdf_doc: list[StoredDocument]
) -> None:
    rc.use(Variants(cover_text=False, number_style="plain"))
    job = make_job(started=datetime.now(UTC) - LONG_AGO)
    await backend.submit(job, pdf_doc)
    await backend.submit(make_job(cover_text="another job to the same number"), pdf_doc)
    result = await backend.recover(job, known_ids=set())
    assert result.settlement is Settlement.AMBIGUOUS


@pytest.mark.parametrize(("waited", "settlement"), [(10, Settlement.TOO_EARLY), (121, Settlement.AMBIGUOUS)])
async def test_a_fax_to_the_same_number_with_other_cover_text_is_never_proof_of_absence(
    rc: RingCentralEmulator,
    backend: RingCentralBackend,
    pdf_doc: list[StoredDocument],
    waited: int,
    settlement: Settlement,
) -> None:
    job = make_job(started=datetime.now(UTC) - timedelta(seconds=waited))
    await backend.submit(replace(job, cover_text="a different cover"), pdf_doc)
    result = await backend.recover(job, known_ids=set())
    assert result.settlement is settlement


async def test_faxes_to_other_numbers_prove_absence_after_the_grace(
    rc: RingCentralEmulator, backend: RingCentralBackend, pdf_doc: list[StoredDocument]
) -> None:
    job = make_job(started=datetime.now(UTC) - LONG_AGO)
    await backend.submit(make_job(recipients=(Recipient("+14155550000"),)), pdf_doc)
    result = await backend.recover(job, known_ids=set())
    assert result.settlement is Settlement.NOT_SENT


# ---- the rule itself, on records as the reference describes them -----------------------------------


def record(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": 1,
        "type": "Fax",
        "direction": "Outbound",
        "creationTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "to": [{"phoneNumber": "14155551212"}],
        "coverPageText": "Invoice 42",
    }
    base.update(fields)
    return {key: value for key, value in base.items() if value is not None}


SINCE = datetime.now(UTC) - timedelta(minutes=5)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, Likeness.CANDIDATE),
        ({"coverPageText": None}, Likeness.CANDIDATE),
        ({"coverPageText": ""}, Likeness.CANDIDATE),
        ({"creationTime": None, "type": None, "direction": None}, Likeness.CANDIDATE),
        ({"coverPageText": "  Invoice\r\n 42 "}, Likeness.CANDIDATE),
        ({"to": [{"phoneNumber": "(415)555-1212", "name": "Someone Else"}]}, Likeness.CANDIDATE),
        ({"coverPageText": "Invoice 43"}, Likeness.DOUBT),
        ({"to": None}, Likeness.DOUBT),
        ({"to": [{"extensionNumber": "101"}]}, Likeness.DOUBT),
        ({"to": [{"phoneNumber": "14155551212"}, {"phoneNumber": "14155550000"}]}, Likeness.DOUBT),
        ({"to": [{"phoneNumber": "14155550000"}]}, Likeness.OTHER),
        ({"creationTime": "2001-01-01T00:00:00.000Z"}, Likeness.OTHER),
        ({"direction": "Inbound"}, Likeness.OTHER),
        ({"id": None}, Likeness.OTHER),
    ],
)
def test_likeness_of_documented_record_shapes(fields: dict[str, Any], expected: Likeness) -> None:
    assert likeness(record(**fields), make_job(), SINCE, known_ids=()) is expected


def test_a_record_of_another_job_is_never_a_candidate() -> None:
    assert likeness(record(), make_job(), SINCE, known_ids={"1"}) is Likeness.OTHER


def test_a_record_in_doubt_is_not_proof_of_absence_but_a_candidate_is_adopted() -> None:
    job = make_job()
    doubtful = [record(to=None)]
    assert settle(doubtful, job, (), since=SINCE, waited=500, grace=120).settlement is Settlement.AMBIGUOUS
    assert settle([], job, (), since=SINCE, waited=500, grace=120).settlement is Settlement.NOT_SENT
    found = settle([record()], job, (), since=SINCE, waited=5, grace=120)
    assert found.settlement is Settlement.FOUND


NUMBERS = st.sampled_from(["+14155551212", "+18661234567", "+442071234567", "+4930123456", "+33142685300"])


@given(
    numbers=st.lists(NUMBERS, min_size=1, max_size=3, unique=True),
    styles=st.lists(st.sampled_from(STYLES), min_size=3, max_size=3),
    cover=st.booleans(),
    order=st.randoms(use_true_random=False),
)
def test_any_documented_writing_of_the_job_numbers_is_a_candidate(
    numbers: list[str], styles: list[str], cover: bool, order: Any
) -> None:
    job = make_job(recipients=tuple(Recipient(n) for n in numbers))
    to = [{"phoneNumber": written(n, style)} for n, style in zip(numbers, styles, strict=False)]  # type: ignore[arg-type]
    order.shuffle(to)
    shaped = record(to=to, coverPageText="Invoice 42" if cover else None)
    assert likeness(shaped, job, SINCE, known_ids=()) is Likeness.CANDIDATE


# ---- the other edges --------------------------------------------------------------------------------


async def test_an_answer_without_a_message_id_is_uncertain_and_recovery_adopts_the_fax(
    rc: RingCentralEmulator, backend: RingCentralBackend, pdf_doc: list[StoredDocument]
) -> None:
    rc.inject(group="Heavy", status=200, body={"messageStatus": "Queued"}, process=True)
    job = make_job(started=datetime.now(UTC) - timedelta(seconds=1))
    with pytest.raises(UncertainSubmission):
        await backend.submit(job, pdf_doc)
    result = await backend.recover(job, known_ids=set())
    assert result.settlement is Settlement.FOUND
    assert result.submission is not None
    assert result.submission.backend_id == rc.faxes[0].id


@pytest.mark.parametrize("fault", [{"status": 500}, {"status": 504}, {"action": "hang"}])
async def test_a_failing_token_endpoint_is_temporary_not_an_uncertain_fax(
    rc: RingCentralEmulator, pdf_doc: list[StoredDocument], fault: dict[str, Any]
) -> None:
    async with httpx.AsyncClient(timeout=0.5) as client:
        backend = RingCentralBackend(rc_settings(rc), client)
        rc.inject(group="Auth", **fault)
        with pytest.raises(TemporaryBackendError) as caught:
            await backend.submit(make_job(), pdf_doc)
    assert type(caught.value) is TemporaryBackendError
    assert rc.requests_in("Heavy") == []


@pytest.mark.parametrize("fault", [{"status": 502}, {"action": "hang"}])
async def test_a_failing_status_read_is_temporary_not_uncertain(
    rc: RingCentralEmulator, fault: dict[str, Any]
) -> None:
    async with httpx.AsyncClient(timeout=0.5) as client:
        backend = RingCentralBackend(rc_settings(rc), client)
        await backend.probe()
        rc.inject(group="Light", **fault)
        with pytest.raises(TemporaryBackendError) as caught:
            await backend.statuses([TrackedFax("job-1", "1", datetime.now(UTC))])
    assert type(caught.value) is TemporaryBackendError


@pytest.mark.parametrize("backend_id", ["", " ", "1,2", "*", "../message-store", "1/content/1"])
async def test_cancel_refuses_anything_but_one_message_id(
    rc: RingCentralEmulator, backend: RingCentralBackend, backend_id: str
) -> None:
    with pytest.raises(PermanentBackendError):
        await backend.cancel(backend_id)
    assert rc.requests == []


async def test_without_a_refresh_token_the_session_logs_in_again_when_expires_in_says(
    rc: RingCentralEmulator, client: httpx.AsyncClient, pdf_doc: list[StoredDocument]
) -> None:
    rc.use(Variants(refresh_tokens=False, access_ttl=7199))
    clock = OffsetClock()
    backend = RingCentralBackend(rc_settings(rc), client, clock=clock)
    await backend.submit(make_job(), pdf_doc)
    clock.offset += 7000
    rc.advance(7000)
    await backend.submit(make_job(), pdf_doc)  # 199 s left of 7199: not yet due (margin 719 s)
    assert rc.token_grants == [JWT_GRANT, JWT_GRANT]
    clock.offset += 150
    rc.advance(150)
    await backend.submit(make_job(), pdf_doc)
    assert rc.token_grants == [JWT_GRANT, JWT_GRANT]
    assert statuses_of(rc, "Heavy") == [200, 200, 200]
    assert [r.status for r in rc.requests_in("Auth")] == [200, 200]


async def test_expires_in_is_taken_from_the_answer(
    rc: RingCentralEmulator, client: httpx.AsyncClient, pdf_doc: list[StoredDocument]
) -> None:
    rc.use(Variants(access_ttl=7199))
    clock = OffsetClock()
    backend = RingCentralBackend(rc_settings(rc), client, clock=clock)
    await backend.submit(make_job(), pdf_doc)
    clock.offset += 6000
    rc.advance(6000)  # past an hour, still inside 7199 s less the margin: no renewal
    await backend.submit(make_job(), pdf_doc)
    assert rc.token_grants == [JWT_GRANT]
    clock.offset += 600
    rc.advance(600)
    await backend.submit(make_job(), pdf_doc)
    assert rc.token_grants == [JWT_GRANT, "refresh_token"]


@pytest.mark.parametrize("status", [400, 401])
async def test_invalid_credentials_are_an_auth_error_whichever_status_says_so(
    rc: RingCentralEmulator, client: httpx.AsyncClient, pdf_doc: list[StoredDocument], status: int
) -> None:
    from mail2fax.errors import BackendAuthError

    rc.use(Variants(bad_credentials_status=status))
    backend = RingCentralBackend(rc_settings(rc, jwt=SecretStr("wrong")), client)
    with pytest.raises(BackendAuthError) as caught:
        await backend.submit(make_job(), pdf_doc)
    assert caught.value.code == "OAU-140"


def test_the_password_grant_is_warned_about(
    rc: RingCentralEmulator, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    settings = rc_settings(rc, jwt=None, username="+16505550100", password=SecretStr("test-password"))
    RingCentralBackend(settings, client)
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "password grant is deprecated" in warning.getMessage()
    RingCentralBackend(rc_settings(rc), client)
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1


async def test_faxes_missing_from_the_listing_are_read_in_one_bulk_request(
    rc: RingCentralEmulator, backend: RingCentralBackend, pdf_doc: list[StoredDocument]
) -> None:
    rc.use(Variants(number_style="national"))
    started = datetime.now(UTC)
    faxes = []
    for index in range(3):
        submitted = await backend.submit(make_job(job_id=f"job-{index}"), pdf_doc)
        faxes.append(TrackedFax(f"job-{index}", submitted.backend_id or "", started, (NUMBER,)))
    rc.complete(faxes[0].backend_id, pages=2)
    rc.listing_delay = 600.0
    gone = TrackedFax("job-9", "123456", started, (NUMBER,))
    result = await backend.statuses([*faxes, gone])
    assert set(result) == {fax.backend_id for fax in faxes}
    assert result[faxes[0].backend_id].outcome is Outcome.SENT
    assert [r.number for r in result[faxes[0].backend_id].results] == [NUMBER]
    reads = [r for r in rc.requests_in("Light") if not r.path.endswith("/message-store")]
    assert [r.status for r in reads] == [207]
    assert reads[0].headers["accept"] == "application/vnd.ringcentral.multipart+json"
    await backend.statuses([gone])
    assert len(rc.requests_in("Light")) == 3  # the gone fax is not asked for again
