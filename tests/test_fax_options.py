"""The same end-to-end suite through both backends: recipients, cover text, options from the mail."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from mail2fax.models import JobState
from tests.capture import CaptureRelay
from tests.conftest import eventually, ringcentral_overrides, running, settings_for, wait_until
from tests.emulator import RingCentralEmulator
from tests.emulator.faxout import FaxOutEmulator
from tests.mailbuilder import mail
from tests.samples.other import pdf_bytes
from tests.smtp_client import deliver


@dataclass
class Received:
    """What a backend received, in one shape for both: recipients, cover, resolution, schedule."""

    recipients: list[tuple[str, str | None]]
    cover_text: str | None
    resolution: str | None
    cover: str | None
    send_time: str | None
    documents: list[tuple[str, bytes]]


class RestBackend:
    name = "ringcentral"

    def __init__(self, rc: RingCentralEmulator):
        self.rc = rc

    def overrides(self) -> dict[str, Any]:
        return ringcentral_overrides(self.rc)

    def count(self) -> int:
        return len(self.rc.faxes)

    def received(self, index: int = 0) -> Received:
        fax = self.rc.faxes[index]
        body = fax.json
        cover_index = body.get("coverIndex")
        return Received(
            recipients=[(to["phoneNumber"].lstrip("+"), to.get("name")) for to in body["to"]],
            cover_text=body.get("coverPageText"),
            resolution=body.get("faxResolution"),
            cover=None if cover_index is None else ("None" if cover_index == 0 else str(cover_index)),
            send_time=body.get("sendTime"),
            documents=[(d.filename, d.data) for d in fax.documents],
        )


class FormBackend:
    name = "faxout"

    def __init__(self, fo: FaxOutEmulator):
        self.fo = fo

    def overrides(self) -> dict[str, Any]:
        return {
            "backend": "faxout",
            "faxout": {"url": self.fo.url, "username": "+1 650 555 0100", "password": "test-password"},
        }

    def count(self) -> int:
        return len(self.fo.accepted)

    def received(self, index: int = 0) -> Received:
        request = self.fo.accepted[index]
        recipients = []
        for value in request.fields["Recipient"]:
            number, _, name = value.partition("|")
            recipients.append((number, name or None))
        return Received(
            recipients=recipients,
            cover_text=request.one("Coverpagetext"),
            resolution=request.one("Resolution"),
            cover=request.one("Coverpage"),
            send_time=request.one("Sendtime"),
            documents=[(a.filename, a.data) for a in request.attachments],
        )


@pytest.fixture(params=["ringcentral", "faxout"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[RestBackend | FormBackend]:
    if request.param == "ringcentral":
        async with RingCentralEmulator() as rc:
            yield RestBackend(rc)
    else:
        async with FaxOutEmulator() as fo:
            yield FormBackend(fo)


PDF = pdf_bytes()


def fax_mail(**kwargs: Any):
    kwargs.setdefault("attachments", [("a.pdf", PDF, "application/pdf")])
    return mail(**kwargs)


async def send_and_receive(
    tmp_path: Path, relay: CaptureRelay, backend: RestBackend | FormBackend, message, recipients: list[str]
) -> Received:
    async with running(settings_for(tmp_path, relay, **backend.overrides())) as daemon:
        transaction = await deliver(daemon.smtp_port, bytes(message), recipients=recipients)
        assert transaction.accepted, transaction.final
        await wait_until(lambda: backend.count() == 1)
    return backend.received()


async def test_two_recipients_with_names(tmp_path: Path, relay: CaptureRelay, backend) -> None:
    message = fax_mail(to='"John Doe" <14155551212@fax.local>, "Jane Roe" <14155551313@fax.local>')
    received = await send_and_receive(
        tmp_path, relay, backend, message, ["14155551212@fax.local", "14155551313@fax.local"]
    )
    assert received.recipients == [("14155551212", "John Doe"), ("14155551313", "Jane Roe")]
    assert received.documents == [("a.pdf", PDF)]
    assert received.resolution == "High"
    assert received.cover is None


async def test_subject_tags_set_options_and_leave_the_cover_text(
    tmp_path: Path, relay: CaptureRelay, backend
) -> None:
    message = fax_mail(subject="[low] [nocover] Signed contract")
    received = await send_and_receive(tmp_path, relay, backend, message, ["14155551212@fax.local"])
    assert received.cover_text == "Signed contract"
    assert received.resolution == "Low"
    assert received.cover == "None"


async def test_headers_win_over_tags(tmp_path: Path, relay: CaptureRelay, backend) -> None:
    message = fax_mail(
        subject="[low] Report",
        headers={"X-Fax-Resolution": "high", "X-Fax-Cover": "none"},
    )
    received = await send_and_receive(tmp_path, relay, backend, message, ["14155551212@fax.local"])
    assert received.cover_text == "Report"
    assert received.resolution == "High"
    assert received.cover == "None"


async def test_send_later(tmp_path: Path, relay: CaptureRelay, backend) -> None:
    when = (datetime.now(UTC) + timedelta(days=2)).replace(second=0, microsecond=0)
    message = fax_mail(headers={"X-Fax-Send-At": format_datetime(when)})
    received = await send_and_receive(tmp_path, relay, backend, message, ["14155551212@fax.local"])
    if backend.name == "ringcentral":
        assert received.send_time == when.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    else:
        assert received.send_time == when.strftime("%d:%m:%y %H:%M")


async def test_subject_tag_for_send_later(tmp_path: Path, relay: CaptureRelay, backend) -> None:
    berlin = (datetime.now(UTC) + timedelta(days=3)).astimezone(ZoneInfo("Europe/Berlin"))
    berlin = berlin.replace(second=0, microsecond=0)
    tag = f"[at {berlin:%Y-%m-%d %H:%M} Europe/Berlin]"
    message = fax_mail(subject=f"{tag} Court filing")
    received = await send_and_receive(tmp_path, relay, backend, message, ["14155551212@fax.local"])
    assert received.cover_text == "Court filing"
    utc = berlin.astimezone(UTC)
    expected = (
        utc.strftime("%Y-%m-%dT%H:%M:%S.000Z") if backend.name == "ringcentral" else f"{utc:%d:%m:%y %H:%M}"
    )
    assert received.send_time == expected


@pytest.mark.parametrize(
    ("headers", "subject", "named"),
    [
        ({"X-Fax-Send-At": "tomorrow morning"}, "x", "X-Fax-Send-At"),
        ({"X-Fax-Send-At": "2099-01-01T09:00:00+00:00"}, "x", "X-Fax-Send-At"),
        ({"X-Fax-Resolution": "ultra"}, "x", "X-Fax-Resolution"),
        ({"X-Fax-Cover": "14"}, "x", "X-Fax-Cover"),
    ],
)
async def test_options_that_cannot_be_honoured_are_refused(
    tmp_path: Path, relay: CaptureRelay, backend, headers: dict[str, str], subject: str, named: str
) -> None:
    message = fax_mail(subject=subject, headers=headers)
    async with running(settings_for(tmp_path, relay, **backend.overrides())) as daemon:
        transaction = await deliver(daemon.smtp_port, bytes(message), recipients=["14155551212@fax.local"])
    assert transaction.final.code == 550
    assert transaction.final.text.startswith("5.5.4")
    assert named in transaction.final.text
    assert backend.count() == 0


async def test_scheduled_rest_fax_waits_in_state_scheduled(
    tmp_path: Path, relay: CaptureRelay, rc: RingCentralEmulator
) -> None:
    when = datetime.now(UTC) + timedelta(hours=5)
    message = fax_mail(headers={"X-Fax-Send-At": when.isoformat()})
    async with running(settings_for(tmp_path, relay, **ringcentral_overrides(rc))) as daemon:
        assert (
            await deliver(daemon.smtp_port, bytes(message), recipients=["14155551212@fax.local"])
        ).accepted
        await wait_until(lambda: len(rc.faxes) == 1)
        store = daemon.store
        assert store is not None

        async def scheduled() -> bool:
            jobs = await store.list_jobs([JobState.SCHEDULED])
            return len(jobs) == 1

        await eventually(scheduled)
        [job] = await store.list_jobs()
        assert job.backend_id == rc.faxes[0].id
        assert relay.mails == []
        rc.complete(rc.faxes[0].id, pages=2)
        [status] = await relay.wait_for(1)
    assert status.subject == "Fax to +14155551212 sent (2 pages)"


@pytest.mark.parametrize(
    ("header", "rest_cover", "faxout_cover"),
    [("none", "None", "None"), ("default", None, "Default"), ("0", "None", "None")],
)
async def test_cover_choices_both_backends_understand(
    tmp_path: Path, relay: CaptureRelay, backend, header: str, rest_cover: str | None, faxout_cover: str
) -> None:
    message = fax_mail(headers={"X-Fax-Cover": header})
    received = await send_and_receive(tmp_path, relay, backend, message, ["14155551212@fax.local"])
    assert received.cover == (rest_cover if backend.name == "ringcentral" else faxout_cover)


async def test_a_cover_page_by_number_for_rest_and_by_name_for_faxout(
    tmp_path: Path, relay: CaptureRelay, backend
) -> None:
    chosen = "3" if backend.name == "ringcentral" else "Confidential"
    refused = "Confidential" if backend.name == "ringcentral" else "3"
    received = await send_and_receive(
        tmp_path, relay, backend, fax_mail(headers={"X-Fax-Cover": chosen}), ["14155551212@fax.local"]
    )
    assert received.cover == chosen
    async with running(settings_for(tmp_path / "again", relay, **backend.overrides())) as daemon:
        other = await deliver(
            daemon.smtp_port,
            bytes(fax_mail(headers={"X-Fax-Cover": refused})),
            recipients=["14155551212@fax.local"],
        )
    assert other.final.code == 550
    assert "X-Fax-Cover" in other.final.text
