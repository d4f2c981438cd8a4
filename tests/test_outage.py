"""A RingCentral outage: the submit stage probes at the backoff rate instead of walking the queue."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mail2fax.queue.sqlite import SqliteStore
from tests.capture import CaptureRelay
from tests.conftest import ringcentral_overrides, running, settings_for, wait_until
from tests.emulator import RingCentralEmulator
from tests.mailbuilder import mail
from tests.samples.other import pdf_bytes
from tests.smtp_client import deliver

TO = ["14155551212@fax.local"]


def fax_mail(subject: str) -> bytes:
    return bytes(mail(subject=subject, attachments=[("a.pdf", pdf_bytes(), "application/pdf")]))


def outage_settings(rc: RingCentralEmulator, tmp_path: Path, relay: CaptureRelay, backoff: float) -> Any:
    rc.set_limit("Heavy", 1000, 60)
    return settings_for(
        tmp_path,
        relay,
        retry={"min_backoff": backoff, "max_backoff": backoff},
        **ringcentral_overrides(rc, heavy_limit=1000),
    )


async def test_a_dead_service_is_probed_at_the_backoff_rate(
    tmp_path: Path, relay: CaptureRelay, rc: RingCentralEmulator
) -> None:
    rc.inject(group="Heavy", status=503, times=5)
    async with running(outage_settings(rc, tmp_path, relay, backoff=0.5)) as daemon:
        for number in range(12):
            assert (await deliver(daemon.smtp_port, fax_mail(f"outage {number}"), recipients=TO)).accepted
        await wait_until(lambda: len(rc.faxes) == 12, timeout=30)
        store = daemon.store
        assert store is not None
        jobs = await store.list_jobs()
    heavy = rc.requests_in("Heavy")
    failed = [request for request in heavy if request.status == 503]
    assert len(failed) == 5
    # Two failures in a row make an outage; after that one job is tried per backoff.
    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(failed[1:])]
    assert all(gap >= 0.5 * 0.95 for gap in gaps), gaps
    # The jobs not used as probes were never attempted and failed: one attempt each.
    assert sorted(job.attempts for job in jobs).count(1) >= 12 - 5


async def test_wake_ups_during_an_outage_cost_no_query(
    tmp_path: Path, relay: CaptureRelay, rc: RingCentralEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []

    def counted(name: str) -> Callable[..., Any]:
        method = getattr(SqliteStore, name)

        def call(self: SqliteStore, *args: Any, **kwargs: Any) -> Any:
            calls.append(name)
            return method(self, *args, **kwargs)

        return call

    for name in ("due", "next_due_at", "in_states"):
        monkeypatch.setattr(SqliteStore, name, counted(name))
    rc.inject(group="Heavy", status=503, times=2)
    async with running(outage_settings(rc, tmp_path, relay, backoff=4.0)) as daemon:
        for number in range(2):
            assert (await deliver(daemon.smtp_port, fax_mail(f"first {number}"), recipients=TO)).accepted
        await wait_until(lambda: len(rc.requests_in("Heavy")) == 2)
        calls.clear()
        began = time.monotonic()
        for number in range(10):
            assert (await deliver(daemon.smtp_port, fax_mail(f"during {number}"), recipients=TO)).accepted
        during = list(calls)
        assert time.monotonic() - began < 3.5, "the mails arrived within the outage's backoff"
        await wait_until(lambda: len(rc.faxes) == 12, timeout=30)
    assert during == []
