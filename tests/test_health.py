"""/healthz fails, with the reason, whenever mail is not being taken or delivered; /metrics shows why."""

from __future__ import annotations

import asyncio
import errno
import os
import shutil
import socket
from pathlib import Path

import pytest

from mail2fax.models import JobState
from mail2fax.monitor.health import smtp_greeting_problem
from mail2fax.queue import spool
from tests.capture import CaptureRelay
from tests.conftest import ringcentral_overrides, running, settings_for
from tests.emulator import RingCentralEmulator
from tests.mailbuilder import mail
from tests.samples.other import pdf_bytes
from tests.smtp_client import deliver, queued_job
from tests.test_metrics import METRICS, health_becomes, job_in, scrape

TO = ["14155551212@fax.local"]


def fax() -> bytes:
    return bytes(mail(attachments=[("invoice.pdf", pdf_bytes(), "application/pdf")]))


def closed_port() -> int:
    """A port on loopback where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_spool_that_cannot_be_written_fails_health_as_it_fails_mail(
    tmp_path: Path, relay: CaptureRelay
) -> None:
    settings = settings_for(tmp_path / "data", relay, **METRICS)
    async with running(settings) as daemon:
        healthy = await health_becomes(daemon, 200)
        shutil.rmtree(settings.spool_dir, ignore_errors=True)
        settings.spool_dir.write_text("a file where the spool directory should be")
        refused = await deliver(daemon.smtp_port or 0, fax(), recipients=TO)
        failing = await health_becomes(daemon, 503)
        metrics = await scrape(daemon)
        settings.spool_dir.unlink()
        recovered = await health_becomes(daemon, 200)
        accepted = await deliver(daemon.smtp_port or 0, fax(), recipients=TO)

    assert healthy.json()["store"] == {"ok": True}
    assert refused.final.code == 451
    body = failing.json()
    assert body["status"] == "failing"
    assert body["store"]["ok"] is False
    assert body["store"]["error"].startswith(f"the spool {settings.spool_dir} cannot be written")
    assert body["reasons"] == [f"the queue cannot be written: {body['store']['error']}"]
    assert metrics.value("mail2fax_healthy") == 0
    assert metrics.value("mail2fax_check_ok", check="store") == 0
    assert metrics.value("mail2fax_check_ok", check="smtp") == 1
    assert recovered.json()["store"] == {"ok": True}
    assert accepted.accepted


async def test_a_full_disk_fails_health(
    tmp_path: Path, relay: CaptureRelay, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(descriptor: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    async with running(settings_for(tmp_path / "data", relay, **METRICS)) as daemon:
        monkeypatch.setattr(spool.os, "fsync", disk_full)
        failing = await health_becomes(daemon, 503)
    assert "is full" in failing.json()["store"]["error"]


async def test_status_mails_piling_up_fail_health_and_show_in_the_metrics(
    tmp_path: Path, relay: CaptureRelay
) -> None:
    settings = settings_for(tmp_path / "data", relay, health={"status_mail_max_age": 0.5}, **METRICS)
    settings = settings.model_copy(
        update={"relay": settings.relay.model_copy(update={"port": closed_port()})}
    )
    async with running(settings) as daemon:
        transaction = await deliver(daemon.smtp_port or 0, fax(), recipients=TO)
        job_id = queued_job(transaction.final.text)
        await job_in(daemon, job_id, JobState.SENT)
        early = await scrape(daemon)
        failing = await health_becomes(daemon, 503)
        metrics = await scrape(daemon)

    assert early.value("mail2fax_status_mails_waiting") == 1
    body = failing.json()
    assert body["status_mails"]["ok"] is False
    assert body["status_mails"]["waiting"] == 1
    assert body["status_mails"]["oldest_age_seconds"] > 0.5
    [reason] = body["reasons"]
    assert reason.startswith("1 status mail(s) wait for the relay, the oldest for ")
    assert "MAIL2FAX_HEALTH__STATUS_MAIL_MAX_AGE=0.5" in reason
    assert metrics.value("mail2fax_status_mails_waiting") == 1
    assert (metrics.value("mail2fax_status_mail_oldest_age_seconds") or 0) > 0.5
    assert metrics.value("mail2fax_check_ok", check="status_mails") == 0


async def test_refused_credentials_fail_health(
    tmp_path: Path, relay: CaptureRelay, rc: RingCentralEmulator
) -> None:
    settings = settings_for(tmp_path / "data", relay, **ringcentral_overrides(rc, jwt="wrong-jwt"), **METRICS)
    async with running(settings) as daemon:
        before = await scrape(daemon)
        transaction = await deliver(daemon.smtp_port or 0, fax(), recipients=TO)
        assert transaction.accepted
        failing = await health_becomes(daemon, 503)
        metrics = await scrape(daemon)

    assert before.value("mail2fax_backend_credentials_ok") == 1
    body = failing.json()
    assert body["credentials"]["ok"] is False
    assert "OAU-" in body["credentials"]["error"]
    assert any(r.startswith("the fax service has refused the credentials since ") for r in body["reasons"])
    assert metrics.value("mail2fax_backend_credentials_ok") == 0
    assert metrics.value("mail2fax_check_ok", check="credentials") == 0


async def test_a_job_stuck_in_submitting_fails_health(
    tmp_path: Path, relay: CaptureRelay, rc: RingCentralEmulator
) -> None:
    rc.inject(group="Heavy", action="hang")
    settings = settings_for(
        tmp_path / "data",
        relay,
        **ringcentral_overrides(rc, timeout=60.0),
        health={"submitting_max_age": 0.3},
        shutdown_timeout=0.5,
        **METRICS,
    )
    async with running(settings) as daemon:
        transaction = await deliver(daemon.smtp_port or 0, fax(), recipients=TO)
        job_id = queued_job(transaction.final.text)
        await job_in(daemon, job_id, JobState.SUBMITTING)
        failing = await health_becomes(daemon, 503)
        metrics = await scrape(daemon)

    body = failing.json()
    assert body["submitting"]["ok"] is False
    assert body["submitting"]["stuck"] == [job_id]
    assert body["reasons"] == [
        f"1 job(s) in submitting for more than MAIL2FAX_HEALTH__SUBMITTING_MAX_AGE=0.3 s: {job_id}"
    ]
    assert (metrics.value("mail2fax_submitting_oldest_age_seconds") or 0) > 0.3
    assert metrics.value("mail2fax_jobs", state="submitting") == 1


async def test_a_healthy_daemon_says_where_its_listener_answered(tmp_path: Path, relay: CaptureRelay) -> None:
    async with running(settings_for(tmp_path / "data", relay, **METRICS)) as daemon:
        healthy = await health_becomes(daemon, 200)
        metrics = await scrape(daemon)
    body = healthy.json()
    assert body["smtp"] == {"ok": True, "address": f"127.0.0.1:{daemon.smtp_port}"}
    assert set(body) == {"status", "store", "smtp", "backend", "credentials", "status_mails", "submitting"}
    assert metrics.value("mail2fax_healthy") == 1
    build = [key for key in metrics.samples if key[0] == "mail2fax_build_info"]
    assert len(build) == 1
    assert dict(build[0][1])["version"]


class _Server:
    """A TCP server on loopback that answers each connection with ``greeting`` (or closes at once)."""

    def __init__(self, greeting: bytes) -> None:
        self.greeting = greeting
        self.port = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> _Server:
        async def answer(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(self.greeting)
            await writer.drain()
            writer.close()

        self._server = await asyncio.start_server(answer, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()


async def test_the_smtp_check_reads_the_greeting() -> None:
    async with _Server(b"220 mail2fax ready\r\n") as good:
        assert await smtp_greeting_problem("127.0.0.1", good.port) is None
        assert await smtp_greeting_problem("0.0.0.0", good.port) is None
    async with _Server(b"421 4.3.2 shutting down\r\n") as busy:
        assert await smtp_greeting_problem("127.0.0.1", busy.port) == "answered '421 4.3.2 shutting down'"
    async with _Server(b"") as mute:
        assert (
            await smtp_greeting_problem("127.0.0.1", mute.port) == "closed the connection without a greeting"
        )
    assert await smtp_greeting_problem("127.0.0.1", closed_port()) == "Connection refused"


async def test_checks_asked_for_together_run_once(tmp_path: Path, relay: CaptureRelay) -> None:
    async with running(settings_for(tmp_path / "data", relay)) as daemon:
        assert daemon.health is not None
        reports = await asyncio.gather(*(daemon.health.report() for _ in range(20)))
    assert all(report is reports[0] for report in reports)
