"""``mail2fax send``, ``test-backend`` and ``hash-password``, run as an operator runs them."""

from __future__ import annotations

import json
from pathlib import Path

from mail2fax.models import JobState
from mail2fax.smtp.passwords import verify_password
from tests.capture import CaptureRelay
from tests.cli_runner import run_cli
from tests.conftest import eventually, ringcentral_overrides, running, settings_for
from tests.emulator import RingCentralEmulator
from tests.samples.other import pdf_bytes, zip_bytes


async def test_send_queues_a_fax_that_the_running_daemon_sends(tmp_path: Path, relay: CaptureRelay) -> None:
    settings = settings_for(tmp_path, relay)
    first, second = tmp_path / "Quarterly report (final).PDF", tmp_path / "notes.txt"
    first.write_bytes(pdf_bytes(pages=2))
    second.write_text("Please call back.\n")
    async with running(settings) as daemon:
        result = await run_cli(
            settings,
            "send",
            "--to",
            "+1 415 555 1212",
            "--to",
            "(650) 555-0100",
            "--cover",
            "Q3 figures",
            "--from",
            "bob@example.com",
            str(first),
            str(second),
        )
        assert result.code == 0, result.stderr
        job_id = result.stdout.splitlines()[0]

        async def sent() -> bool:
            assert daemon.store is not None
            job = await daemon.store.get(job_id)
            return job is not None and job.state is JobState.SENT

        await eventually(sent)
        [status] = await relay.wait_for(1)

    assert len(job_id) == 12
    assert result.stdout.splitlines()[1] == (
        "queued: fax to +14155551212, +16505550100: Quarterly report _final_.pdf, notes.txt"
    )
    outbox = tmp_path / "outbox" / job_id
    assert json.loads((outbox / "request.json").read_text()) == {
        "to": [{"phoneNumber": "+14155551212"}, {"phoneNumber": "+16505550100"}],
        "faxResolution": "High",
        "coverPageText": "Q3 figures",
    }
    assert (outbox / "01-Quarterly report _final_.pdf").read_bytes() == pdf_bytes(pages=2)
    assert (outbox / "02-notes.txt").read_text() == "Please call back.\n"
    assert status.recipients == ["bob@example.com"]


async def test_send_refuses_what_a_mail_would_be_refused_for(tmp_path: Path, relay: CaptureRelay) -> None:
    settings = settings_for(tmp_path, relay, max_document_bytes=4096)
    pdf, archive, big = tmp_path / "a.pdf", tmp_path / "a.zip", tmp_path / "big.pdf"
    pdf.write_bytes(pdf_bytes())
    archive.write_bytes(zip_bytes())
    big.write_bytes(pdf_bytes(pages=40))
    async with running(settings) as daemon:
        bad_number = await run_cli(settings, "send", "--to", "12345", str(pdf))
        premium = await run_cli(settings, "send", "--to", "+1 900 555 0123", str(pdf))
        abroad = await run_cli(settings, "send", "--to", "+44 20 7946 0018", str(pdf))
        unfaxable = await run_cli(settings, "send", "--to", "4155551212", str(pdf), str(archive))
        too_large = await run_cli(settings, "send", "--to", "4155551212", str(big))
        unreadable = await run_cli(settings, "send", "--to", "4155551212", str(tmp_path / "nothing.pdf"))
        no_number = await run_cli(settings, "send", str(pdf))
        bad_from = await run_cli(settings, "send", "--to", "4155551212", "--from", "bob", str(pdf))
        long_cover = await run_cli(settings, "send", "--to", "4155551212", "--cover", "x" * 1025, str(pdf))
        assert daemon.store is not None
        assert await daemon.store.list_jobs() == []

    assert bad_number.code == 1
    assert bad_number.error.startswith("mail2fax: 12345 is not a valid fax number")
    assert premium.code == 1
    assert "premium-rate" in premium.error
    assert abroad.code == 1
    assert "MAIL2FAX_ALLOWED_COUNTRIES" in abroad.error
    assert unfaxable.code == 1
    assert unfaxable.error.startswith('mail2fax: "a.zip" is a')
    assert unfaxable.error.endswith("which cannot be faxed")
    assert too_large.code == 1
    assert too_large.error == (
        "mail2fax: the documents are over the limit of 4.0 KiB (MAIL2FAX_MAX_DOCUMENT_BYTES)"
    )
    assert unreadable.code == 1
    assert unreadable.error.startswith(f"mail2fax: cannot read {tmp_path / 'nothing.pdf'}: ")
    assert bad_from.code == 1
    assert bad_from.error == "mail2fax: --from: 'bob' is not a mail address"
    assert long_cover.code == 1
    assert "1024 characters" in long_cover.error
    assert no_number.code == 2
    assert "--to" in no_number.stderr


async def test_test_backend_logs_in_and_sends_nothing(
    tmp_path: Path, rc: RingCentralEmulator, relay: CaptureRelay
) -> None:
    settings = settings_for(tmp_path, relay, **ringcentral_overrides(rc))
    text = await run_cli(settings, "test-backend", cwd=tmp_path)
    data = await run_cli(settings, "test-backend", "--json", cwd=tmp_path)

    assert text.code == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0] == f"RingCentral at {rc.base_url}: logged in (jwt grant)"
    assert lines[1] == "extension 101 (Test User), id 400000101, status Enabled"
    assert lines[2].startswith("may send faxes: yes")
    assert [line.split()[0] for line in lines[4:]] == ["GROUP", "heavy", "medium", "light", "auth"]
    light = next(line for line in lines if line.split()[0] == "light")
    assert "remaining=" in light  # what RingCentral's rate-limit headers said

    assert data.code == 0, data.stderr
    report = data.json
    assert report["backend"] == "ringcentral"
    assert report["extension_id"] == "400000101"
    assert report["may_send_faxes"] is True
    assert set(report["rate_limits"]) == {"heavy", "medium", "light", "auth"}
    assert rc.faxes == []
    assert [r for r in rc.requests if r.method != "GET" and "/oauth/" not in r.path] == []


async def test_test_backend_reports_rejected_credentials(
    tmp_path: Path, rc: RingCentralEmulator, relay: CaptureRelay
) -> None:
    settings = settings_for(tmp_path, relay, **ringcentral_overrides(rc, jwt="wrong-jwt"))
    result = await run_cli(settings, "test-backend", cwd=tmp_path)
    assert result.code == 1
    assert result.error.startswith("mail2fax: ")
    assert "OAU-" in result.error or "credentials" in result.error.lower()


async def test_test_backend_for_dry_run_and_faxout(tmp_path: Path, relay: CaptureRelay) -> None:
    dry = await run_cli(settings_for(tmp_path, relay), "test-backend", cwd=tmp_path)
    faxout = await run_cli(
        settings_for(tmp_path, relay, backend="faxout", faxout={"username": "16505550100", "password": "x"}),
        "test-backend",
        cwd=tmp_path,
    )
    assert dry.code == 0, dry.stderr
    assert dry.stdout.startswith("backend: dry-run")
    assert faxout.code == 1
    assert faxout.error.startswith("mail2fax: the FaxOut API cannot check credentials without sending a fax")


async def test_hash_password_prints_a_hash_that_verifies(tmp_path: Path) -> None:
    result = await run_cli(None, "hash-password", "--stdin", stdin=b"correct horse\n", cwd=tmp_path)
    empty = await run_cli(None, "hash-password", "--stdin", stdin=b"\n", cwd=tmp_path)
    assert result.code == 0, result.stderr
    encoded = result.stdout.strip()
    assert encoded.startswith("scrypt$")
    assert verify_password("correct horse", encoded)
    assert not verify_password("correct horse\n", encoded)
    assert "correct horse" not in result.stdout + result.stderr
    assert empty.code == 1
    assert empty.error == "mail2fax: an empty password cannot be used for SMTP AUTH"


async def test_send_reads_a_document_from_standard_input(tmp_path: Path, relay: CaptureRelay) -> None:
    settings = settings_for(tmp_path, relay)
    pdf = pdf_bytes()
    async with running(settings) as daemon:
        result = await run_cli(settings, "send", "--to", "4155551212", "-", stdin=pdf)
        twice = await run_cli(settings, "send", "--to", "4155551212", "-", "-", stdin=pdf)
        assert result.code == 0, result.stderr
        job_id = result.stdout.splitlines()[0]
        assert daemon.store is not None
        [document] = await daemon.store.documents(job_id)

    assert (document.filename, document.content_type, document.size) == (
        "document-1.pdf",
        "application/pdf",
        len(pdf),
    )
    assert twice.code == 1
    assert twice.error == "mail2fax: standard input (-) can be only one of the files"


async def test_send_is_held_to_the_quotas_as_a_mail_is(tmp_path: Path, relay: CaptureRelay) -> None:
    settings = settings_for(tmp_path, relay, quota={"sender_per_hour": 2}, submit={"interval": 3600})
    pdf = tmp_path / "a.pdf"
    pdf.write_bytes(pdf_bytes())
    send = ("send", "--from", "bob@example.com", "--to", "4155551212")
    async with running(settings) as daemon:
        first = await run_cli(settings, *send, str(pdf))
        two_numbers = await run_cli(settings, *send, "--to", "4155551313", str(pdf))
        too_many = await run_cli(settings, *send, "--to", "4155551313", "--to", "4155551414", str(pdf))
        assert daemon.store is not None
        jobs = await daemon.store.list_jobs()
    assert first.code == 0, first.stderr
    assert two_numbers.code == 1
    assert two_numbers.error == (
        "mail2fax: Too many faxes from <bob@example.com>: the limit is 2 fax numbers per hour, "
        "please try again later"
    )
    assert too_many.code == 1
    assert too_many.error == (
        "mail2fax: This mail goes to 3 fax numbers, more than <bob@example.com>'s limit of "
        "2 fax numbers per hour: send it to fewer numbers at a time"
    )
    assert [job.id for job in jobs] == [first.stdout.splitlines()[0]]
