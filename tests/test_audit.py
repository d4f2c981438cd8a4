"""The audit trail, as Postfix keeps one: each job records the client, its HELO name and its AUTH user."""

from __future__ import annotations

import getpass
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mail2fax.models import Document, FaxRequest, Origin, Recipient
from mail2fax.queue.base import Store
from mail2fax.queue.postgres import PostgresStore
from mail2fax.queue.sqlite import SqliteStore
from tests.capture import CaptureRelay
from tests.cli_runner import run_cli
from tests.conftest import running, settings_for
from tests.logged import rendered
from tests.mailbuilder import mail
from tests.raw_smtp import Certificates, RawSMTP
from tests.samples.other import pdf_bytes
from tests.smtp_client import queued_job
from tests.test_security_auth import PASSWORD, RECIPIENT, secure_settings

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def fax(sender: str) -> bytes:
    return bytes(
        mail(sender=sender, to=RECIPIENT, attachments=[("scan.pdf", pdf_bytes(), "application/pdf")])
    )


def field(shown: str, name: str) -> str:
    """The value of one field of ``queue show``'s text."""
    [line] = [line for line in shown.splitlines() if line.strip().startswith(name + ":")]
    return line.split(":", 1)[1].strip()


async def hand_over(client: RawSMTP, sender: str) -> str:
    """MAIL, RCPT and DATA on a greeted session; the queued job's id."""
    assert (await client.command(f"MAIL FROM:<{sender}>")).code == 250
    assert (await client.command(f"RCPT TO:<{RECIPIENT}>")).code == 250
    reply = await client.data(fax(sender))
    assert reply.code == 250, reply
    return queued_job(reply.text)


async def test_a_logged_in_scanner_is_recorded_shown_and_logged(
    tmp_path: Path, relay: CaptureRelay, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    certificates = Certificates.create(tmp_path)
    settings = secure_settings(tmp_path, relay, certificates)
    async with running(settings) as daemon:
        client = await RawSMTP.connect(daemon.smtp_port)
        await client.ehlo("scanner-3f.example.com")
        await client.starttls(certificates.client_context())
        await client.ehlo("scanner-3f.example.com")
        assert (await client.auth_plain("scanner", PASSWORD)).code == 235
        job_id = await hand_over(client, "scanner@example.com")
        await client.close()
        shown = await run_cli(settings, "queue", "show", job_id)
        as_json = await run_cli(settings, "queue", "show", "--json", job_id)

    assert shown.code == 0, shown.stderr
    assert field(shown.stdout, "Handed over by") == "127.0.0.1 (HELO scanner-3f.example.com), user scanner"
    facts = as_json.json
    assert (facts["client"], facts["helo"], facts["auth_user"]) == (
        "127.0.0.1",
        "scanner-3f.example.com",
        "scanner",
    )
    queued = [r for r in caplog.records if r.getMessage() == "job queued"]
    text = rendered(queued)
    assert f"job queued job={job_id} state=queued" in text
    assert text.endswith("client=127.0.0.1 helo=scanner-3f.example.com user=scanner")
    assert '"client": "127.0.0.1", "helo": "scanner-3f.example.com", "user": "scanner"' in rendered(
        queued, "json"
    )


async def test_a_trusted_client_with_a_hostile_helo_name_is_recorded_harmlessly(
    tmp_path: Path, relay: CaptureRelay, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    settings = settings_for(tmp_path, relay)
    async with running(settings) as daemon:
        client = await RawSMTP.connect(daemon.smtp_port)
        assert (await client.command("EHLO evil\x1b[2J\x1b]0;owned\x07name")).code == 250
        job_id = await hand_over(client, "alice@example.com")
        await client.close()
        shown = await run_cli(settings, "queue", "show", job_id)
        as_json = await run_cli(settings, "queue", "show", "--json", job_id)

    assert "\x1b" not in shown.stdout
    escaped = "evil\\x1b[2J\\x1b]0;owned\\x07name"
    assert field(shown.stdout, "Handed over by") == f"127.0.0.1 (HELO {escaped}), not logged in"
    assert as_json.json["helo"] == "evil\x1b[2J\x1b]0;owned\x07name"  # stored as given; JSON escapes it
    assert as_json.json["auth_user"] is None
    text = rendered(r for r in caplog.records if r.getMessage() == "job queued")
    assert "\x1b" not in text
    assert f"helo={escaped} user=-" in text


async def test_the_send_command_records_the_system_user(tmp_path: Path, relay: CaptureRelay) -> None:
    settings = settings_for(tmp_path, relay)
    document = tmp_path / "scan.pdf"
    document.write_bytes(pdf_bytes())
    async with running(settings):
        sent = await run_cli(settings, "send", "--json", "--to", "+14155551212", str(document))
        assert sent.code == 0, sent.stderr
        shown = await run_cli(settings, "queue", "show", "--json", sent.json["id"])
    assert (shown.json["client"], shown.json["helo"], shown.json["auth_user"]) == (
        "local",
        None,
        getpass.getuser(),
    )


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    opened: Store
    if request.param == "sqlite":
        opened = await SqliteStore.open(tmp_path / "db.sqlite3", tmp_path / "spool")
    else:
        opened = await PostgresStore.open(request.getfixturevalue("pg_url"), tmp_path / "cache")
    yield opened
    await opened.close()


async def test_both_stores_keep_the_origin(store: Store) -> None:
    request = FaxRequest(
        sender="scanner@example.com",
        recipients=(Recipient("+14155551212"),),
        cover_text="",
        documents=(Document("scan.pdf", "application/pdf", b"%PDF-1.4 x"),),
        origin=Origin("192.0.2.10", "scanner.example.com", "scanner"),
    )
    job = await store.enqueue(request, backend="dry-run", lifetime=3600, now=NOW)
    again = await store.get(job.id)
    assert again is not None
    assert again.origin == Origin("192.0.2.10", "scanner.example.com", "scanner")
    assert job.origin == again.origin
