"""Faults at RingCentral, at the relay and on disk: nothing lost, nothing sent twice, limits kept."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import random
import sqlite3
import zlib
from pathlib import Path
from typing import Any

import pytest

import mail2fax.queue.spool
from mail2fax.models import JobState
from tests.capture import CaptureRelay
from tests.conftest import eventually, ringcentral_overrides, running, settings_for, wait_until
from tests.emulator import RingCentralEmulator
from tests.emulator.variants import Variants
from tests.mailbuilder import mail
from tests.samples.other import pdf_bytes
from tests.smtp_client import deliver

TO = ["14155551212@fax.local"]
# MAIL2FAX_VARIANT_SEED=<n> replays one choice of RingCentral's documented answer shapes.
VARIANT_SEED = os.environ.get("MAIL2FAX_VARIANT_SEED")


@pytest.fixture(autouse=True)
def documented_variants(rc: RingCentralEmulator, request: pytest.FixtureRequest) -> Variants:
    """Each test meets RingCentral in one of its documented shapes, chosen from a printed seed."""
    seed = int(VARIANT_SEED) if VARIANT_SEED else zlib.crc32(request.node.name.encode())
    variants = Variants.random(random.Random(seed))
    rc.use(variants, seed=seed)
    print(f"RingCentral variants (MAIL2FAX_VARIANT_SEED={seed}): {variants.describe()}")
    return variants


def fax_mail(subject: str = "Fault test") -> bytes:
    return bytes(mail(subject=subject, attachments=[("a.pdf", pdf_bytes(), "application/pdf")]))


def rest(rc: RingCentralEmulator, tmp_path: Path, relay: CaptureRelay, **ringcentral: Any):
    return settings_for(tmp_path, relay, **ringcentral_overrides(rc, **ringcentral))


async def test_burst_of_100_is_paced_without_a_429(
    tmp_path: Path, relay: CaptureRelay, rc: RingCentralEmulator
) -> None:
    rc.set_limit("Heavy", 10, 1.0)
    rc.auto_outcome = lambda fax: ("Sent", 1, None)
    settings = rest(rc, tmp_path, relay, heavy_limit=10, limit_window=1.0)
    async with running(settings) as daemon:

        async def session(first: int) -> None:
            for number in range(first, 100, 10):
                assert (await deliver(daemon.smtp_port, fax_mail(f"burst {number}"), recipients=TO)).accepted

        await asyncio.gather(*(session(first) for first in range(10)))
        await wait_until(lambda: len(rc.faxes) == 100, timeout=40)
    heavy = rc.requests_in("Heavy")
    assert rc.count_429("Heavy") == 0
    assert [r.status for r in heavy] == [200] * 100
    span = heavy[-1].at - heavy[0].at
    rate = 90 / span  # the first 10 go at once; 90 more need 9 windows
    assert 10 * 0.8 <= rate <= 10 * 1.05, f"{rate:.2f} faxes per second"


@pytest.mark.parametrize(("retry_after", "pause"), [(None, 1.0), ("2", 2.0)])
async def test_a_429_stops_the_group_until_the_penalty_has_passed(
    tmp_path: Path, relay: CaptureRelay, rc: RingCentralEmulator, retry_after: str | None, pause: float
) -> None:
    headers = {"Retry-After": retry_after} if retry_after else {}
    rc.set_limit("Heavy", 10, 1.0)
    rc.inject(group="Heavy", status=429, headers=headers)
    async with running(rest(rc, tmp_path, relay, limit_window=1.0)) as daemon:
        assert (await deliver(daemon.smtp_port, fax_mail(), recipients=TO)).accepted
        await wait_until(lambda: len(rc.faxes) == 1)
    first, second = rc.requests_in("Heavy")
    assert (first.status, second.status) == (429, 200)
    assert second.at - first.at >= pause * 0.95


async def test_rest_outage_is_logged_once_and_recovery_too(
    tmp_path: Path, relay: CaptureRelay, rc: RingCentralEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    rc.inject(group="Heavy", status=503, times=4)
    async with running(rest(rc, tmp_path, relay)) as daemon:
        for number in range(3):
            assert (await deliver(daemon.smtp_port, fax_mail(f"outage {number}"), recipients=TO)).accepted
        await wait_until(lambda: len(rc.faxes) == 3)
    messages = [record.getMessage() for record in caplog.records]
    assert sum("the fax service is failing" in m for m in messages) == 1
    assert sum("the fax service answers again" in m for m in messages) == 1


@pytest.mark.parametrize("processed", [False, True])
@pytest.mark.parametrize("action", ["hang", "reset"])
async def test_no_answer_is_settled_through_the_message_store(
    tmp_path: Path, relay: CaptureRelay, rc: RingCentralEmulator, action: str, processed: bool
) -> None:
    """Whether or not RingCentral created the fax before going silent, it is faxed exactly once."""
    rc.inject(group="Heavy", action=action, process=processed)
    settings = rest(rc, tmp_path, relay, timeout=1.0, listing_grace=0.5)
    async with running(settings) as daemon:
        assert (await deliver(daemon.smtp_port, fax_mail(), recipients=TO)).accepted
        store = daemon.store
        assert store is not None

        async def tracked() -> bool:
            return bool(await store.list_jobs([JobState.SUBMITTED]))

        await eventually(tracked)
        rc.complete(rc.faxes[0].id)
        [status] = await relay.wait_for(1)
    assert len(rc.faxes) == 1
    assert len(rc.requests_in("Heavy")) == (1 if processed else 2)
    assert status.subject.endswith("sent (1 page)")


async def test_fax_listed_late_is_adopted_not_resent(
    tmp_path: Path, relay: CaptureRelay, rc: RingCentralEmulator
) -> None:
    rc.listing_delay = 1.5
    rc.inject(group="Heavy", action="hang", process=True)
    settings = rest(rc, tmp_path, relay, timeout=0.5, listing_grace=5.0)
    async with running(settings) as daemon:
        assert (await deliver(daemon.smtp_port, fax_mail(), recipients=TO)).accepted
        store = daemon.store
        assert store is not None

        async def adopted() -> bool:
            jobs = await store.list_jobs([JobState.SUBMITTED])
            return bool(jobs) and jobs[0].backend_id == rc.faxes[0].id

        await eventually(adopted)
        [event] = [
            e
            for e in await store.events((await store.list_jobs())[0].id)
            if e.detail == "adopted after restart"
        ]
    assert event.state is JobState.SUBMITTED
    assert len(rc.faxes) == 1


async def test_revoked_tokens_lead_to_a_new_login(
    tmp_path: Path, relay: CaptureRelay, rc: RingCentralEmulator
) -> None:
    async with running(rest(rc, tmp_path, relay)) as daemon:
        assert (await deliver(daemon.smtp_port, fax_mail("one"), recipients=TO)).accepted
        await wait_until(lambda: len(rc.faxes) == 1)
        rc.revoke_tokens()
        assert (await deliver(daemon.smtp_port, fax_mail("two"), recipients=TO)).accepted
        await wait_until(lambda: len(rc.faxes) == 2)
    assert rc.token_grants.count("urn:ietf:params:oauth:grant-type:jwt-bearer") == 2


async def test_relay_outage_delays_status_mails_never_drops_them(tmp_path: Path, relay: CaptureRelay) -> None:
    relay.refuse = "451 4.3.0 relay busy"
    async with running(settings_for(tmp_path, relay)) as daemon:
        assert (await deliver(daemon.smtp_port, fax_mail(), recipients=TO)).accepted
        await wait_until(lambda: relay.refused >= 2)
        assert relay.mails == []
        relay.refuse = None
        [status] = await relay.wait_for(1)
    assert status.subject.endswith("dry run only")


async def test_locked_database_answers_451_and_keeps_serving(tmp_path: Path, relay: CaptureRelay) -> None:
    settings = settings_for(tmp_path, relay)
    async with running(settings) as daemon:
        first = await deliver(daemon.smtp_port, fax_mail("before"), recipients=TO)
        assert first.accepted
        await relay.wait_for(1)
        locker = sqlite3.connect(settings.database_path, timeout=0)
        try:
            locker.execute("BEGIN EXCLUSIVE")
            locked = await deliver(daemon.smtp_port, fax_mail("during"), recipients=TO)
        finally:
            locker.rollback()
            locker.close()
        after = await deliver(daemon.smtp_port, fax_mail("after"), recipients=TO)
        assert after.accepted
        await wait_until(lambda: any("Original subject:   after" in m.body for m in relay.mails))
        store = daemon.store
        assert store is not None
        jobs = await store.list_jobs()
    assert locked.final.code == 451
    assert sorted(job.subject for job in jobs) == ["after", "before"]
    assert [job.state for job in jobs] == [JobState.SENT, JobState.SENT]
    # A status mail sent while the lock kept it from being recorded may be repeated, never lost.
    assert 2 <= len(relay.mails) <= 3


async def test_full_disk_answers_452_and_leaves_nothing_behind(
    tmp_path: Path, relay: CaptureRelay, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)

    def no_space(descriptor: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    async with running(settings_for(tmp_path, relay)) as daemon:
        with monkeypatch.context() as patch:
            patch.setattr(mail2fax.queue.spool.os, "fsync", no_space)
            full = await deliver(daemon.smtp_port, fax_mail("full"), recipients=TO)
        assert full.final.code == 452
        assert list((tmp_path / "spool").iterdir()) == []
        again = await deliver(daemon.smtp_port, fax_mail("space again"), recipients=TO)
        assert again.accepted
        await relay.wait_for(1)


async def test_a_slow_answer_within_the_timeout_is_simply_waited_for(
    tmp_path: Path, relay: CaptureRelay, rc: RingCentralEmulator
) -> None:
    rc.inject(group="Heavy", action="slow", delay=0.5)
    async with running(rest(rc, tmp_path, relay, timeout=5.0)) as daemon:
        assert (await deliver(daemon.smtp_port, fax_mail(), recipients=TO)).accepted
        await wait_until(lambda: len(rc.faxes) == 1)
        store = daemon.store
        assert store is not None

        async def submitted() -> bool:
            return bool(await store.list_jobs([JobState.SUBMITTED]))

        await eventually(submitted)
    assert len(rc.requests_in("Heavy")) == 1


async def test_an_answer_without_a_message_id_is_settled_by_the_message_store(
    tmp_path: Path, relay: CaptureRelay, rc: RingCentralEmulator
) -> None:
    rc.auto_outcome = lambda fax: ("Sent", 1, None)
    rc.inject(group="Heavy", status=200, body={"messageStatus": "Queued"}, process=True)
    settings = rest(rc, tmp_path, relay, listing_grace=0.5)
    async with running(settings) as daemon:
        assert (await deliver(daemon.smtp_port, fax_mail(), recipients=TO)).accepted
        [status] = await relay.wait_for(1)
        store = daemon.store
        assert store is not None
        [job] = await store.list_jobs()
        details = [event.detail for event in await store.events(job.id)]
    assert len(rc.faxes) == 1
    assert job.backend_id == rc.faxes[0].id
    assert "adopted after restart" in details
    assert status.subject.endswith("sent (1 page)")


async def test_a_failing_login_defers_the_job_without_making_it_uncertain(
    tmp_path: Path, relay: CaptureRelay, rc: RingCentralEmulator
) -> None:
    rc.auto_outcome = lambda fax: ("Sent", 1, None)
    rc.inject(group="Auth", status=502, times=2)
    settings = rest(rc, tmp_path, relay, listing_grace=60.0)
    async with running(settings) as daemon:
        assert (await deliver(daemon.smtp_port, fax_mail(), recipients=TO)).accepted
        [status] = await relay.wait_for(1)
        store = daemon.store
        assert store is not None
        [job] = await store.list_jobs()
        states = [event.state for event in await store.events(job.id)]
    # Had the login failure been taken for an uncertain fax, the job would wait out the 60 s grace.
    assert states.count(JobState.SUBMITTING) == 1
    assert [r.status for r in rc.requests_in("Auth")][:2] == [502, 502]
    assert len(rc.faxes) == 1
    assert status.subject.endswith("sent (1 page)")
