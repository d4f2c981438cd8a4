"""Quotas and duplicate suppression against the running daemon, counted in the store across restarts."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mail2fax.app import Daemon
from mail2fax.settings import Settings
from tests.capture import CaptureRelay
from tests.conftest import running, settings_for
from tests.mailbuilder import mail
from tests.raw_smtp import RawSMTP
from tests.samples.other import pdf_bytes
from tests.smtp_client import Transaction, deliver, queued_job

pytestmark = pytest.mark.timeout(30)

TO = "12015550123@fax.local"


class Clock:
    """The daemon's clock, moved by the test: jobs are stamped and quotas counted with it."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def fax(text: str = "page", sender: str = "alice@example.com") -> bytes:
    pdf = pdf_bytes(text=text)
    return bytes(mail(sender=sender, to=TO, attachments=[("doc.pdf", pdf, "application/pdf")]))


def quota_settings(tmp_path: Path, relay: CaptureRelay, **quota: Any) -> Settings:
    return settings_for(tmp_path, relay, quota=quota)


async def send(daemon: Daemon, sender: str = "alice@example.com", raw: bytes | None = None) -> Transaction:
    return await deliver(daemon.smtp_port, raw or fax(sender=sender), sender=sender, recipients=[TO])


async def jobs(daemon: Daemon) -> int:
    assert daemon.store is not None
    return len(await daemon.store.list_jobs())


async def test_sender_quota_per_hour_survives_a_restart_and_expires_with_the_hour(
    tmp_path: Path, relay: CaptureRelay
) -> None:
    clock = Clock()
    settings = quota_settings(tmp_path, relay, sender_per_hour=2)
    async with running(settings, clock=clock) as daemon:
        assert (await send(daemon)).accepted
        assert (await send(daemon)).accepted
        refused = await send(daemon)
        assert (refused.mail.code, refused.mail.text) == (
            450,
            "4.7.1 Too many faxes from <alice@example.com>: the limit is 2 fax numbers per hour, "
            "please try again later",
        )
        assert refused.data is None
        assert (await send(daemon, sender="bob@example.com")).accepted
    clock.advance(minutes=30)
    async with running(settings, clock=clock) as daemon:
        assert (await send(daemon)).mail.code == 450
        assert await jobs(daemon) == 3
        clock.advance(minutes=31)
        assert (await send(daemon)).accepted


async def test_sender_quota_per_day(tmp_path: Path, relay: CaptureRelay) -> None:
    clock = Clock()
    async with running(quota_settings(tmp_path, relay, sender_per_day=1), clock=clock) as daemon:
        assert (await send(daemon)).accepted
        clock.advance(hours=23)
        refused = await send(daemon)
        assert refused.mail.code == 450
        assert "the limit is 1 fax number per day" in refused.mail.text
        clock.advance(hours=2)
        assert (await send(daemon)).accepted


async def test_global_quota_counts_every_sender(tmp_path: Path, relay: CaptureRelay) -> None:
    settings = quota_settings(tmp_path, relay, global_per_hour=5, global_per_day=2)
    async with running(settings) as daemon:
        assert (await send(daemon, "alice@example.com")).accepted
        assert (await send(daemon, "bob@example.com")).accepted
        refused = await send(daemon, "carol@example.com")
        assert (refused.mail.code, refused.mail.text) == (
            452,
            "4.5.3 The fax gateway has reached its limit of 2 fax numbers per day, please try again later",
        )
    async with running(settings) as daemon:
        assert (await send(daemon, "dave@example.com")).mail.code == 452


async def test_a_zero_quota_stops_a_sender_entirely(tmp_path: Path, relay: CaptureRelay) -> None:
    async with running(quota_settings(tmp_path, relay, sender_per_hour=0)) as daemon:
        assert (await send(daemon)).mail.code == 450
        assert await jobs(daemon) == 0


async def test_quota_is_checked_again_at_data_for_concurrent_sessions(
    tmp_path: Path, relay: CaptureRelay
) -> None:
    async with running(quota_settings(tmp_path, relay, sender_per_hour=1)) as daemon:
        first, second = await RawSMTP.connect(daemon.smtp_port), await RawSMTP.connect(daemon.smtp_port)
        for client in (first, second):
            await client.ehlo()
            assert (await client.command("MAIL FROM:<alice@example.com>")).code == 250
            assert (await client.command(f"RCPT TO:<{TO}>")).code == 250
        assert (await first.data(fax("one"))).code == 250
        late = await second.data(fax("two"))
        assert (late.code, late.text) == (
            450,
            "4.7.1 Too many faxes from <alice@example.com>: the limit is 1 fax number per hour, "
            "please try again later",
        )
        # The session goes on: the client may try something else.
        assert (await second.command("NOOP")).code == 250
        for client in (first, second):
            await client.close()
        assert await jobs(daemon) == 1


async def test_a_resent_mail_is_answered_250_and_not_faxed_again(
    tmp_path: Path, relay: CaptureRelay, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mail2fax")
    raw = fax("the original")
    async with running(settings_for(tmp_path, relay)) as daemon:
        first = await send(daemon, raw=raw)
        assert first.accepted
        job_id = queued_job(first.final.text)
        again = await send(daemon, raw=raw)
        assert again.accepted
        assert again.final.text == f"2.0.0 Already queued as {job_id} (duplicate not faxed again)"
        assert await jobs(daemon) == 1
    assert any("duplicate" in r.getMessage() and "not faxed twice" in r.getMessage() for r in caplog.records)


async def test_only_the_same_message_id_content_and_sender_is_a_duplicate(
    tmp_path: Path, relay: CaptureRelay
) -> None:
    original = mail(
        sender="alice@example.com", to=TO, attachments=[("a.pdf", pdf_bytes(text="A"), "application/pdf")]
    )
    changed = mail(
        sender="alice@example.com", to=TO, attachments=[("a.pdf", pdf_bytes(text="B"), "application/pdf")]
    )
    del changed["Message-ID"]
    changed["Message-ID"] = original["Message-ID"]
    async with running(settings_for(tmp_path, relay)) as daemon:
        assert (await send(daemon, raw=bytes(original))).accepted
        assert (await send(daemon, raw=bytes(changed))).accepted
        assert (await send(daemon, sender="bob@example.com", raw=bytes(original))).accepted
        assert await jobs(daemon) == 3
        again = await send(daemon, raw=bytes(original))
        assert "duplicate not faxed again" in again.final.text
        assert await jobs(daemon) == 3


async def test_duplicates_are_remembered_across_a_restart_for_the_window_only(
    tmp_path: Path, relay: CaptureRelay
) -> None:
    clock = Clock()
    raw = fax("window")
    settings = settings_for(tmp_path, relay, duplicate_window=3600)
    async with running(settings, clock=clock) as daemon:
        assert (await send(daemon, raw=raw)).accepted
    clock.advance(minutes=59)
    async with running(settings, clock=clock) as daemon:
        assert "duplicate not faxed again" in (await send(daemon, raw=raw)).final.text
        clock.advance(minutes=2)
        fresh = await send(daemon, raw=raw)
        assert fresh.accepted
        assert "duplicate" not in fresh.final.text
        assert await jobs(daemon) == 2


async def open_transaction(
    daemon: Daemon, recipients: list[str], sender: str = "alice@example.com"
) -> RawSMTP:
    client = await RawSMTP.connect(daemon.smtp_port or 0)
    await client.ehlo()
    assert (await client.command(f"MAIL FROM:<{sender}>")).code == 250
    for recipient in recipients:
        assert (await client.command(f"RCPT TO:<{recipient}>")).code == 250
    return client


async def test_quotas_count_numbers_and_refuse_a_mail_whole_before_its_upload(
    tmp_path: Path, relay: CaptureRelay
) -> None:
    two = [TO, "12015550124@fax.local"]
    async with running(quota_settings(tmp_path, relay, sender_per_hour=3)) as daemon:
        client = await open_transaction(daemon, two)
        assert (await client.data(fax("two numbers"))).code == 250
        assert (await client.command("MAIL FROM:<alice@example.com>")).code == 250
        for recipient in two:
            assert (await client.command(f"RCPT TO:<{recipient}>")).code == 250
        over = await client.command("DATA")  # 2 + 2 > 3: refused before the client sends the mail
        assert (over.code, over.text) == (
            450,
            "4.7.1 Too many faxes from <alice@example.com>: the limit is 3 fax numbers per hour, "
            "please try again later",
        )
        assert (await client.command("RSET")).code == 250
        await client.close()
        assert (await send(daemon)).accepted  # one more number still fits
        assert daemon.store is not None
        assert [len(job.recipients) for job in await daemon.store.list_jobs()] in ([1, 2], [2, 1])


async def test_a_mail_to_more_numbers_than_a_quota_allows_is_refused_for_good(
    tmp_path: Path, relay: CaptureRelay
) -> None:
    numbers = [f"120155501{n:02d}@fax.local" for n in range(10, 15)]
    async with running(quota_settings(tmp_path, relay, global_per_hour=4)) as daemon:
        client = await open_transaction(daemon, numbers)
        refused = await client.command("DATA")
        assert (refused.code, refused.text) == (
            552,
            "5.5.3 This mail goes to 5 fax numbers, more than the gateway's limit of 4 fax numbers "
            "per hour: send it to fewer numbers at a time",
        )
        await client.close()
        assert await jobs(daemon) == 0


async def test_a_mail_has_at_most_100_recipients(tmp_path: Path, relay: CaptureRelay) -> None:
    numbers = [f"1201555{n:04d}@fax.local" for n in range(100, 201)]
    async with running(settings_for(tmp_path, relay)) as daemon:
        client = await open_transaction(daemon, numbers[:100])
        over = await client.command(f"RCPT TO:<{numbers[100]}>")
        assert (over.code, over.text) == (
            452,
            "4.5.3 Too many recipients: at most 100 numbers a mail; send the rest in another mail",
        )
        assert (await client.data(fax("a hundred"))).code == 250
        await client.close()
        assert daemon.store is not None
        [job] = await daemon.store.list_jobs()
    assert len(job.recipients) == 100


async def test_the_same_message_id_to_another_number_is_a_new_fax(
    tmp_path: Path, relay: CaptureRelay
) -> None:
    raw = fax("same page")
    async with running(settings_for(tmp_path, relay)) as daemon:
        first = await deliver(daemon.smtp_port or 0, raw, recipients=[TO])
        other = await deliver(daemon.smtp_port or 0, raw, recipients=["12015550199@fax.local"])
        again = await deliver(daemon.smtp_port or 0, raw, recipients=[TO])
        assert first.accepted and other.accepted and again.accepted
        assert "duplicate" not in other.final.text
        assert "duplicate not faxed again" in again.final.text
        assert daemon.store is not None
        numbers = sorted(job.recipients[0].number for job in await daemon.store.list_jobs())
    assert numbers == ["+12015550123", "+12015550199"]
