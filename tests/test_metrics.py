"""/metrics and /healthz over real HTTP, after real SMTP traffic through the daemon."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from mail2fax.app import Daemon
from mail2fax.models import JobState
from tests.capture import CaptureRelay
from tests.cli_runner import run_cli
from tests.conftest import eventually, ringcentral_overrides, running, settings_for, wait_until
from tests.emulator import RingCentralEmulator
from tests.mailbuilder import mail
from tests.samples.other import pdf_bytes, zip_bytes
from tests.smtp_client import deliver, queued_job

METRICS = {"metrics": {"host": "127.0.0.1", "port": 0}}


class Scrape:
    """One /metrics answer, parsed with prometheus_client's own parser."""

    def __init__(self, text: str):
        self.samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                self.samples[(sample.name, frozenset(sample.labels.items()))] = sample.value

    def value(self, name: str, **labels: str) -> float | None:
        return self.samples.get((name, frozenset(labels.items())))


async def scrape(daemon: Daemon) -> Scrape:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"http://127.0.0.1:{daemon.metrics_port}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return Scrape(response.text)


async def health(daemon: Daemon) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.get(f"http://127.0.0.1:{daemon.metrics_port}/healthz")


async def health_becomes(daemon: Daemon, status: int) -> httpx.Response:
    """Ask /healthz until it answers ``status`` (a report is reused for a second)."""
    answers: list[httpx.Response] = []

    async def answered() -> bool:
        answers.append(await health(daemon))
        return answers[-1].status_code == status

    await eventually(answered)
    return answers[-1]


async def job_in(daemon: Daemon, job_id: str, state: JobState) -> None:
    async def reached() -> bool:
        assert daemon.store is not None
        job = await daemon.store.get(job_id)
        return job is not None and job.state is state

    await eventually(reached)


async def test_metrics_count_real_traffic(
    tmp_path: Path, rc: RingCentralEmulator, relay: CaptureRelay
) -> None:
    settings = settings_for(tmp_path, relay, **ringcentral_overrides(rc), **METRICS)
    good = mail(attachments=[("invoice.pdf", pdf_bytes(pages=3), "application/pdf")])
    archive = mail(attachments=[("files.zip", zip_bytes(), "application/zip")])
    rc.inject(group="Light", status=429, headers={"Retry-After": "1"}, times=1)
    started = time.time()
    async with running(settings) as daemon:
        assert daemon.metrics_port
        port = daemon.smtp_port or 0
        accepted = await deliver(port, bytes(good), recipients=["14155551212@fax.local"])
        refused = await deliver(port, bytes(archive), recipients=["14155551212@fax.local"])
        not_ours = await deliver(port, bytes(good), recipients=["bob@example.com"])
        bad_number = await deliver(port, bytes(good), recipients=["123@fax.local"])
        assert accepted.accepted and refused.final.code == 554
        assert not_ours.final.code == 550 and bad_number.final.code == 553
        job_id = queued_job(accepted.final.text)
        await wait_until(lambda: len(rc.faxes) == 1)
        rc.complete(rc.faxes[0].id, pages=3)
        await job_in(daemon, job_id, JobState.SENT)
        metrics = await scrape(daemon)
        healthz = await health(daemon)

    assert metrics.value("mail2fax_mails_total", outcome="accepted", reason="") == 1
    assert metrics.value("mail2fax_mails_total", outcome="refused", reason="unfaxable_document") == 1
    assert metrics.value("mail2fax_smtp_reply_seconds_count", outcome="accepted") == 1
    assert metrics.value("mail2fax_smtp_reply_seconds_count", outcome="refused") == 1
    refusals = "mail2fax_envelope_refusals_total"
    assert metrics.value(refusals, command="RCPT", outcome="refused", reason="recipient_refused") == 2
    assert metrics.value("mail2fax_faxes_total", state="sent") == 1
    assert metrics.value("mail2fax_fax_pages_total", state="sent") == 3
    assert metrics.value("mail2fax_job_state_changes_total", state="submitted") == 1
    assert metrics.value("mail2fax_accept_to_submit_seconds_count") == 1
    assert metrics.value("mail2fax_accept_to_final_seconds_count", state="sent") == 1
    assert metrics.value("mail2fax_jobs", state="sent") == 1
    assert metrics.value("mail2fax_jobs", state="queued") == 0
    assert metrics.value("mail2fax_api_requests_total", group="heavy", status="200") == 1
    assert metrics.value("mail2fax_api_requests_total", group="light", status="429") == 1
    assert metrics.value("mail2fax_api_rate_limited_total", group="light") == 1
    assert (metrics.value("mail2fax_api_requests_total", group="light", status="200") or 0) >= 1
    assert metrics.value("mail2fax_backend_up") == 1
    assert metrics.value("mail2fax_backend_credentials_ok") == 1
    submitted_at = metrics.value("mail2fax_last_submit_timestamp_seconds") or 0
    tracked_at = metrics.value("mail2fax_last_track_timestamp_seconds") or 0
    assert started <= submitted_at <= tracked_at <= time.time()
    assert metrics.value("mail2fax_status_mails_waiting") is not None
    assert healthz.status_code == 200
    assert healthz.json()["status"] == "ok"


async def test_health_fails_while_the_backend_fails_and_recovers(
    tmp_path: Path, rc: RingCentralEmulator, relay: CaptureRelay
) -> None:
    # A failed submission waits an hour: the operator's retry is what brings the backend back.
    slow = {"retry": {"min_backoff": 3600.0, "max_backoff": 3600.0}}
    settings = settings_for(tmp_path, relay, **ringcentral_overrides(rc), **METRICS, **slow)
    message = mail(attachments=[("invoice.pdf", pdf_bytes(), "application/pdf")])
    async with running(settings) as daemon:
        before = await health(daemon)
        rc.inject(group="Heavy", status=503, times=1)
        transaction = await deliver(
            daemon.smtp_port or 0, bytes(message), recipients=["14155551212@fax.local"]
        )
        job_id = queued_job(transaction.final.text)
        await job_in(daemon, job_id, JobState.DEFERRED)
        failing = await health_becomes(daemon, 503)
        down = (await scrape(daemon)).value("mail2fax_backend_up")
        retried = await run_cli(settings, "queue", "retry", job_id)
        assert retried.code == 0, retried.stderr
        await wait_until(lambda: len(rc.faxes) == 1)
        await job_in(daemon, job_id, JobState.SUBMITTED)
        recovered = await health_becomes(daemon, 200)
        up = (await scrape(daemon)).value("mail2fax_backend_up")

    assert before.status_code == 200
    assert before.json()["backend"] == {"ok": True, "last_success": None, "last_failure": None}
    assert failing.status_code == 503
    report = failing.json()
    assert report["status"] == "failing"
    assert report["store"] == {"ok": True}
    assert report["backend"]["ok"] is False
    assert report["backend"]["error"].startswith("TemporaryBackendError: ")
    assert "503" in report["backend"]["error"]
    assert report["reasons"] == [
        f"the fax backend has been failing since {report['backend']['failing_since']}: "
        f"{report['backend']['error']}"
    ]
    assert down == 0
    assert recovered.status_code == 200
    assert recovered.json()["backend"]["ok"] is True
    assert up == 1


async def test_listener_answers_only_what_it_serves(tmp_path: Path, relay: CaptureRelay) -> None:
    async with running(settings_for(tmp_path, relay, **METRICS)) as daemon:
        base = f"http://127.0.0.1:{daemon.metrics_port}"
        async with httpx.AsyncClient() as client:
            missing = await client.get(f"{base}/")
            posted = await client.post(f"{base}/metrics", content=b"x")
            head = await client.head(f"{base}/healthz")
            query = await client.get(f"{base}/metrics?name[]=mail2fax_jobs")
        reader, writer = await asyncio.open_connection("127.0.0.1", daemon.metrics_port)
        writer.write(b"NONSENSE\r\n\r\n")
        garbage = await reader.read()
        writer.close()
        await writer.wait_closed()

    assert missing.status_code == 404
    assert posted.status_code == 405
    assert posted.headers["allow"] == "GET, HEAD"
    assert head.status_code == 200
    assert head.content == b""
    assert int(head.headers["content-length"]) > 0
    assert query.status_code == 200
    assert garbage.startswith(b"HTTP/1.1 400 Bad Request\r\n")


async def test_no_listener_unless_configured_and_two_daemons_each_count_their_own(
    tmp_path: Path, relay: CaptureRelay
) -> None:
    message = mail(attachments=[("invoice.pdf", pdf_bytes(), "application/pdf")])
    async with running(settings_for(tmp_path / "quiet", relay)) as quiet:
        assert quiet.metrics_port is None
    async with (
        running(settings_for(tmp_path / "one", relay, **METRICS)) as one,
        running(settings_for(tmp_path / "two", relay, **METRICS)) as two,
    ):
        assert (
            await deliver(one.smtp_port or 0, bytes(message), recipients=["14155551212@fax.local"])
        ).accepted
        first, second = await scrape(one), await scrape(two)
    assert first.value("mail2fax_mails_total", outcome="accepted", reason="") == 1
    assert second.value("mail2fax_mails_total", outcome="accepted", reason="") is None
