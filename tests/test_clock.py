"""Time decides through the injected clock: a send time, recovery's grace, a scheduled cancel.

Each backend gets a wall clock that stands still at a chosen moment; what it sends (to the
RingCentral and FaxOut emulators, or into the dry-run outbox) follows that moment, not the
machine's own time.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from mail2fax.backends.base import Settlement
from mail2fax.backends.dryrun import DryRunBackend
from mail2fax.backends.faxout import FaxOutBackend
from mail2fax.backends.ringcentral import RingCentralBackend
from mail2fax.clock import WallClock
from mail2fax.models import FaxOptions
from mail2fax.settings import FaxOutSettings
from tests.emulator import RingCentralEmulator
from tests.emulator.faxout import FaxOutEmulator
from tests.samples.other import pdf_bytes
from tests.test_ringcentral_backend import make_job, rc_settings, spool

SEND_AT = datetime(2031, 3, 4, 15, 30, tzinfo=UTC)


def standing(moment: datetime) -> WallClock:
    return lambda: moment


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0) as http:
        yield http


@pytest.mark.parametrize(("now", "sent"), [(SEND_AT - timedelta(minutes=1), True), (SEND_AT, False)])
async def test_the_rest_send_time_is_kept_only_while_the_clock_is_before_it(
    tmp_path: Path, now: datetime, sent: bool
) -> None:
    backend = DryRunBackend(tmp_path / "outbox", wall=standing(now))
    job = replace(make_job(), options=FaxOptions(send_at=SEND_AT))
    documents = spool(tmp_path, ("a.pdf", "application/pdf", pdf_bytes()))
    await backend.submit(job, documents)
    request = json.loads((tmp_path / "outbox" / job.id / "request.json").read_text())
    assert request.get("sendTime") == ("2031-03-04T15:30:00.000Z" if sent else None)


@pytest.mark.parametrize(("now", "sent"), [(SEND_AT - timedelta(minutes=1), True), (SEND_AT, False)])
async def test_the_faxout_send_time_follows_the_clock_too(
    tmp_path: Path, client: httpx.AsyncClient, now: datetime, sent: bool
) -> None:
    async with FaxOutEmulator() as fo:
        settings = FaxOutSettings(url=fo.url, username="16505550100", password=SecretStr("test-password"))
        backend = FaxOutBackend(settings, client, wall=standing(now))
        job = replace(make_job(), options=FaxOptions(send_at=SEND_AT))
        await backend.submit(job, spool(tmp_path, ("a.pdf", "application/pdf", pdf_bytes())))
        [request] = fo.requests
    assert request.one("Sendtime") == ("04:03:31 15:30" if sent else None)


@pytest.mark.parametrize(("waited", "settlement"), [(119, Settlement.TOO_EARLY), (121, Settlement.NOT_SENT)])
async def test_recovery_measures_its_grace_on_the_clock(
    rc: RingCentralEmulator, client: httpx.AsyncClient, waited: int, settlement: Settlement
) -> None:
    started = datetime.now(UTC)
    backend = RingCentralBackend(
        rc_settings(rc, listing_grace=120), client, wall=standing(started + timedelta(seconds=waited))
    )
    result = await backend.recover(make_job(started=started), known_ids=())
    assert result.settlement is settlement
