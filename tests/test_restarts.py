"""Pacing and shutdown across restarts: the window outlives the process, waiting never holds up an exit."""

from __future__ import annotations

import logging
import signal
import time
from pathlib import Path

import pytest

from mail2fax.commands.moves import move_jobs
from mail2fax.models import JobState
from tests.capture import CaptureRelay
from tests.conftest import eventually, ringcentral_overrides, running, settings_for, wait_until
from tests.daemon_process import DaemonProcess
from tests.emulator import RingCentralEmulator
from tests.mailbuilder import mail
from tests.samples.other import pdf_bytes
from tests.smtp_client import deliver
from tests.test_crash import ringcentral_environment

TO = ["14155551212@fax.local"]


def fax_mail(subject: str) -> bytes:
    return bytes(mail(subject=subject, attachments=[("a.pdf", pdf_bytes(), "application/pdf")]))


async def test_a_restart_mid_burst_continues_the_window_and_gets_no_429(
    tmp_path: Path, relay: CaptureRelay, rc: RingCentralEmulator
) -> None:
    rc.set_limit("Heavy", 4, 3.0)
    rc.auto_outcome = lambda fax: ("Sent", 1, None)
    settings = settings_for(tmp_path, relay, **ringcentral_overrides(rc, heavy_limit=4, limit_window=3.0))
    async with running(settings) as daemon:
        for number in range(8):
            assert (await deliver(daemon.smtp_port, fax_mail(f"burst {number}"), recipients=TO)).accepted
        await wait_until(lambda: len(rc.faxes) == 4)
    async with running(settings):
        await wait_until(lambda: len(rc.faxes) == 8, timeout=20)
    heavy = rc.requests_in("Heavy")
    assert rc.count_429("Heavy") == 0
    assert [r.status for r in heavy] == [200] * 8
    assert heavy[4].at - heavy[0].at >= 3.0 * 0.95


async def test_a_job_waiting_for_its_turn_is_queued_and_can_be_cancelled(
    tmp_path: Path, relay: CaptureRelay, rc: RingCentralEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="mail2fax.backends.pacing")
    rc.set_limit("Heavy", 1, 3.0)
    rc.auto_outcome = lambda fax: ("Sent", 1, None)
    settings = settings_for(tmp_path, relay, **ringcentral_overrides(rc, heavy_limit=1, limit_window=3.0))
    async with running(settings) as daemon:
        store = daemon.store
        assert store is not None
        assert (await deliver(daemon.smtp_port, fax_mail("first"), recipients=TO)).accepted
        await wait_until(lambda: len(rc.faxes) == 1)
        assert (await deliver(daemon.smtp_port, fax_mail("second"), recipients=TO)).accepted
        waiting = next(job for job in await store.list_jobs() if job.subject == "second")
        await wait_until(lambda: "heavy: waiting" in caplog.text)
        assert (await store.get(waiting.id)).state is JobState.QUEUED  # type: ignore[union-attr]
        report = await move_jobs(settings, "cancel", [waiting.id])
        assert "cancelled" in report.text

        async def told() -> bool:
            job = await store.get(waiting.id)
            return job is not None and job.notified_at is not None

        await eventually(told)
        assert (await deliver(daemon.smtp_port, fax_mail("third"), recipients=TO)).accepted
        await wait_until(lambda: len(rc.faxes) == 2, timeout=10)
        states = [event.state for event in await store.events(waiting.id)]
    assert JobState.SUBMITTING not in states
    assert not any("second" in fax.json.get("coverPageText", "") for fax in rc.faxes)


async def test_sigterm_while_jobs_wait_for_a_slot_exits_at_once(
    tmp_path: Path, relay: CaptureRelay, rc: RingCentralEmulator
) -> None:
    rc.set_limit("Heavy", 1, 60.0)
    env = ringcentral_environment(tmp_path / "data", relay, rc)
    env |= {
        "MAIL2FAX_RINGCENTRAL__HEAVY_LIMIT": "1",
        "MAIL2FAX_RINGCENTRAL__LIMIT_WINDOW": "60",
        "MAIL2FAX_SHUTDOWN_TIMEOUT": "30",
    }
    daemon = DaemonProcess(env, tmp_path)
    port = await daemon.start()
    try:
        for number in range(3):
            assert (await deliver(port, fax_mail(f"waiting {number}"), recipients=TO)).accepted
        await wait_until(lambda: len(rc.faxes) == 1)
        await daemon.wait_for_line(r"job=\w+ state=submitted")
        started = time.monotonic()
        assert daemon.process is not None
        daemon.process.send_signal(signal.SIGTERM)
        assert await daemon.wait(at_most=10) == 0
        elapsed = time.monotonic() - started
    finally:
        await daemon.kill()
    assert elapsed < 2.0, f"took {elapsed:.1f}s"
    assert "mail2fax stopped" in daemon.log_text()
    assert len(rc.faxes) == 1
    assert rc.count_429("Heavy") == 0
