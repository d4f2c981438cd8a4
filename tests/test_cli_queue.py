"""``mail2fax queue …`` as an operator runs it: a separate process, against a daemon that is running."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from mail2fax.models import Actor, Job, JobState
from mail2fax.queue.base import Store
from mail2fax.queue.registry import open_store
from mail2fax.settings import Settings
from tests.capture import CaptureRelay
from tests.cli_runner import run_cli
from tests.conftest import eventually, ringcentral_overrides, running, settings_for, wait_until
from tests.emulator import RingCentralEmulator
from tests.mailbuilder import mail
from tests.samples.other import pdf_bytes
from tests.smtp_client import deliver, queued_job

NUMBER = "+14155551212"
# A temporary failure is retried only after an hour: the job waits, deferred, for the operator.
SLOW_RETRY = {"retry": {"min_backoff": 3600.0, "max_backoff": 3600.0}}


async def mail_a_fax(port: int, *, subject: str = "Invoice 42", pages: int = 1) -> str:
    message = mail(subject=subject, attachments=[("invoice.pdf", pdf_bytes(pages), "application/pdf")])
    transaction = await deliver(port, bytes(message), recipients=["14155551212@fax.local"])
    assert transaction.accepted, transaction.final
    return queued_job(transaction.final.text)


async def state_of(store: Store | None, job_id: str) -> JobState | None:
    assert store is not None
    job = await store.get(job_id)
    return None if job is None else job.state


async def until_state(store: Store | None, job_id: str, state: JobState) -> Job:
    async def reached() -> bool:
        return await state_of(store, job_id) is state

    await eventually(reached)
    assert store is not None
    job = await store.get(job_id)
    assert job is not None
    return job


def shown_fields(text: str) -> dict[str, str]:
    """The ``Name: value`` lines at the top of ``queue show``."""
    fields = {}
    for line in text.split("Documents:", 1)[0].splitlines()[1:]:
        name, sep, value = line.strip().partition(":")
        if sep:
            fields[name] = value.strip()
    return fields


def rc_settings(tmp_path: Path, relay: CaptureRelay, rc: RingCentralEmulator, **extra: object) -> Settings:
    return settings_for(tmp_path, relay, **ringcentral_overrides(rc), **extra)


async def test_list_and_show_explain_a_failed_fax(
    tmp_path: Path, rc: RingCentralEmulator, relay: CaptureRelay
) -> None:
    settings = rc_settings(tmp_path, relay, rc)
    async with running(settings) as daemon:
        job_id = await mail_a_fax(daemon.smtp_port or 0, pages=2)
        await wait_until(lambda: len(rc.faxes) == 1)
        fax_id = rc.faxes[0].id
        rc.fail(fax_id, "LineBusy", pages=2)
        await until_state(daemon.store, job_id, JobState.FAILED)

        open_only = await run_cli(settings, "queue", "list")
        listed = await run_cli(settings, "queue", "list", "--all")
        as_json = await run_cli(settings, "queue", "list", "--state", "failed", "--json")
        none_sent = await run_cli(settings, "queue", "list", "--state", "sent", "--json")
        shown = await run_cli(settings, "queue", "show", job_id)
        detail = await run_cli(settings, "queue", "show", job_id, "--json")
        missing = await run_cli(settings, "queue", "show", "000000000000")

    assert open_only.code == 0, open_only.stderr
    assert open_only.stdout.startswith("no open jobs")  # a finished job is not open
    assert listed.code == 0, listed.stderr
    header, row = listed.stdout.splitlines()
    assert header.split()[:3] == ["ID", "STATE", "CREATED"]
    assert row.split()[:2] == [job_id, "failed"]
    assert "LineBusy" in row

    assert as_json.code == 0
    [summary] = as_json.json
    assert summary["id"] == job_id
    assert summary["state"] == "failed"
    assert summary["backend_id"] == fax_id
    assert summary["results"] == [{"number": NUMBER, "status": "SendingFailed", "error_code": "LineBusy"}]
    assert none_sent.json == []

    assert shown.code == 0, shown.stderr
    text = shown.stdout
    assert f"Job {job_id}" in text
    fields = shown_fields(text)
    assert fields["State"] == "failed"
    assert fields["RingCentral id"] == fax_id
    assert fields["Recipients"] == f"{NUMBER}: SendingFailed (LineBusy)"
    assert fields["Last error"] == "LineBusy"
    assert fields["Pages"] == "2"
    assert "1. invoice.pdf  application/pdf" in text
    history = text.split("History:\n", 1)[1]
    assert [line.split()[3] for line in history.splitlines()[1:4]] == ["queued", "submitting", "submitted"]
    assert "failed" in history

    record = detail.json
    assert [event["state"] for event in record["events"]][:4] == [
        "queued",
        "submitting",
        "submitted",
        "failed",
    ]
    assert record["documents"] == [
        {
            "position": 0,
            "filename": "invoice.pdf",
            "content_type": "application/pdf",
            "size": len(pdf_bytes(2)),
            "pages": 2,
        }
    ]
    assert record["page_count"] == 2
    assert record["document_pages"] == 2

    assert missing.code == 1
    assert missing.error == "mail2fax: no job '000000000000' in the queue"


async def test_hold_and_release_a_deferred_fax(
    tmp_path: Path, rc: RingCentralEmulator, relay: CaptureRelay
) -> None:
    settings = rc_settings(tmp_path, relay, rc, **SLOW_RETRY)
    rc.inject(group="Heavy", status=503, times=1)
    async with running(settings) as daemon:
        job_id = await mail_a_fax(daemon.smtp_port or 0)
        await until_state(daemon.store, job_id, JobState.DEFERRED)

        held = await run_cli(settings, "-v", "queue", "hold", job_id)
        assert held.code == 0, held.stderr
        assert held.stdout.strip() == f"job {job_id}: held until released, now held"
        assert f"job={job_id} state=held" in held.stderr  # -v shows the store's log line
        assert await state_of(daemon.store, job_id) is JobState.HELD
        again = await run_cli(settings, "queue", "hold", job_id)

        released = await run_cli(settings, "queue", "release", job_id, "--json")
        assert released.code == 0, released.stderr
        assert released.json["state"] == "queued"
        await wait_until(lambda: len(rc.faxes) == 1)
        rc.complete(rc.faxes[0].id, pages=1)
        await until_state(daemon.store, job_id, JobState.SENT)
        [status] = await relay.wait_for(1)
        late = await run_cli(settings, "queue", "release", job_id)
        assert daemon.store is not None
        events = await daemon.store.events(job_id)

    assert again.code == 1
    assert again.error == f"mail2fax: job {job_id} is held: only queued, deferred jobs can be held"
    assert late.code == 1
    assert late.error == f"mail2fax: job {job_id} is sent: only held jobs can be released"
    assert status.subject == f"Fax to {NUMBER} sent (1 page)"
    states = [(event.state.value, event.detail or "") for event in events]
    assert [state for state, _ in states][:6] == [
        "queued",
        "submitting",
        "deferred",
        "held",
        "queued",
        "submitting",
    ]
    assert states[3][1].startswith("operator ") and states[3][1].endswith(": hold")
    assert states[4][1].endswith(": release")


async def test_cancel_a_waiting_fax_then_retry_it(
    tmp_path: Path, rc: RingCentralEmulator, relay: CaptureRelay
) -> None:
    settings = rc_settings(tmp_path, relay, rc, **SLOW_RETRY)
    rc.inject(group="Heavy", status=503, times=1)
    async with running(settings) as daemon:
        job_id = await mail_a_fax(daemon.smtp_port or 0, subject="Order 7")
        await until_state(daemon.store, job_id, JobState.DEFERRED)

        cancelled = await run_cli(settings, "queue", "cancel", job_id)
        [told] = await relay.wait_for(1)
        retried = await run_cli(settings, "queue", "retry", job_id)
        await wait_until(lambda: len(rc.faxes) == 1)
        rc.complete(rc.faxes[0].id, pages=4)
        await until_state(daemon.store, job_id, JobState.SENT)
        mails = await relay.wait_for(2)
        no_more = await run_cli(settings, "queue", "cancel", job_id)
        no_retry = await run_cli(settings, "queue", "retry", job_id)

    assert cancelled.code == 0, cancelled.stderr
    assert cancelled.stdout.strip() == f"job {job_id}: cancelled, now cancelled"
    assert told.subject == f"Fax to {NUMBER} cancelled"
    assert retried.code == 0, retried.stderr
    assert retried.stdout.strip() == f"job {job_id}: queued again, now queued"
    # The sender learns the new outcome too.
    assert mails[1].subject == f"Fax to {NUMBER} sent (4 pages)"
    assert no_more.code == 1
    assert no_more.error == f"mail2fax: job {job_id} is sent: it is finished"
    assert no_retry.code == 1
    assert "already handed over" in no_retry.error


async def test_a_fax_in_flight_cannot_be_cancelled(
    tmp_path: Path, rc: RingCentralEmulator, relay: CaptureRelay
) -> None:
    settings = rc_settings(tmp_path, relay, rc)
    async with running(settings) as daemon:
        job_id = await mail_a_fax(daemon.smtp_port or 0)
        await until_state(daemon.store, job_id, JobState.SUBMITTED)
        refused = await run_cli(settings, "queue", "cancel", job_id)
        assert await state_of(daemon.store, job_id) is JobState.SUBMITTED

    assert refused.code == 1
    assert refused.error == (
        f"mail2fax: job {job_id} is submitted: it is being transmitted and can no longer be stopped"
    )


async def test_cancel_deletes_a_scheduled_fax_at_ringcentral(
    tmp_path: Path, rc: RingCentralEmulator, relay: CaptureRelay
) -> None:
    settings = rc_settings(tmp_path, relay, rc)
    document = tmp_path / "letter.pdf"
    document.write_bytes(pdf_bytes())
    async with running(settings) as daemon:
        sent = await run_cli(
            settings,
            "send",
            "--to",
            "4155551212",
            "--send-at",
            "2099-01-01 09:00 UTC",
            "--from",
            "bob@example.com",
            str(document),
        )
        assert sent.code == 1
        assert "X-Fax-Send-At" in sent.error  # more than a year ahead: refused like the header
        later = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%d %H:%M UTC")
        sent = await run_cli(
            settings,
            "send",
            "--to",
            "4155551212",
            "--send-at",
            later,
            "--from",
            "bob@example.com",
            str(document),
        )
        assert sent.code == 0, sent.stderr
        job_id = sent.stdout.splitlines()[0]
        job = await until_state(daemon.store, job_id, JobState.SCHEDULED)
        assert job.backend_id == rc.faxes[0].id

        cancelled = await run_cli(settings, "queue", "cancel", job_id)
        [told] = await relay.wait_for(1)

    assert cancelled.code == 0, cancelled.stderr
    assert cancelled.stdout.strip() == (
        f"job {job_id}: scheduled fax {job.backend_id} deleted at ringcentral, now cancelled"
    )
    deletes = [r for r in rc.requests if r.method == "DELETE"]
    assert [(r.path.rsplit("/", 1)[-1], r.status) for r in deletes] == [(job.backend_id, 204)]
    assert rc.message(job.backend_id or "")["availability"] == "Deleted"
    assert told.recipients == ["bob@example.com"]
    assert told.subject == f"Fax to {NUMBER} cancelled"


async def test_an_unknown_fax_is_retried_only_when_forced(
    tmp_path: Path, rc: RingCentralEmulator, relay: CaptureRelay
) -> None:
    # RingCentral keeps reporting "Queued": after queued_timeout nobody can say whether it went out.
    # The timeout leaves the resent fax ample time to be read as sent, however loaded the machine.
    settings = rc_settings(tmp_path, relay, rc, track={"queued_timeout": 1.5})
    async with running(settings) as daemon:
        job_id = await mail_a_fax(daemon.smtp_port or 0)
        await until_state(daemon.store, job_id, JobState.UNKNOWN)
        refused = await run_cli(settings, "queue", "retry", job_id)
        # The second fax goes out at once, however slowly this test runs beside the queued timeout.
        rc.auto_outcome = lambda fax: ("Sent", 1, None)
        forced = await run_cli(settings, "queue", "retry", "--force", job_id)
        await wait_until(lambda: len(rc.faxes) == 2)
        await until_state(daemon.store, job_id, JobState.SENT)
        assert daemon.store is not None
        history = [(event.state, event.actor, event.detail) for event in await daemon.store.events(job_id)]

    moves = [(state, actor) for state, actor, _ in history]
    assert moves[:5] == [
        (JobState.QUEUED, Actor.INTAKE),
        (JobState.SUBMITTING, Actor.SUBMIT),
        (JobState.SUBMITTED, Actor.SUBMIT),
        (JobState.UNKNOWN, Actor.TRACK),
        (JobState.UNKNOWN, Actor.NOTIFY),
    ]
    resend = history[moves.index((JobState.QUEUED, Actor.OPERATOR))]
    assert resend[2] is not None and resend[2].endswith(": retry (forced)")
    assert refused.code == 1
    assert refused.error == (
        f"mail2fax: job {job_id} is unknown: the fax may have gone out already; check the account's "
        "sent faxes, then use --force to send it again"
    )
    assert forced.code == 0, forced.stderr


async def test_purge_forgets_old_finished_jobs(tmp_path: Path, relay: CaptureRelay) -> None:
    settings = settings_for(tmp_path, relay)
    async with running(settings) as daemon:
        job_id = await mail_a_fax(daemon.smtp_port or 0)
        await until_state(daemon.store, job_id, JobState.SENT)
        kept = await run_cli(settings, "queue", "purge", "--older-than", "30d")
        bad = await run_cli(settings, "queue", "purge", "--older-than", "30 fortnights")
        purged = await run_cli(settings, "queue", "purge", "--older-than", "0s", "--json")
        gone = await run_cli(settings, "queue", "show", job_id)
        assert await state_of(daemon.store, job_id) is None

    assert kept.code == 0, kept.stderr
    assert kept.stdout.startswith("deleted 0 finished jobs that finished before ")
    assert bad.code == 2
    assert "is not a duration" in bad.stderr
    assert purged.code == 0
    assert purged.json["deleted"] == 1
    assert gone.code == 1
    assert not (tmp_path / "spool" / job_id).exists()


async def test_list_says_when_the_limit_hides_jobs(tmp_path: Path, relay: CaptureRelay) -> None:
    settings = settings_for(tmp_path, relay)
    async with running(settings) as daemon:
        jobs = [await mail_a_fax(daemon.smtp_port or 0, subject=f"Invoice {n}") for n in range(3)]
        for job_id in jobs:
            await until_state(daemon.store, job_id, JobState.SENT)
        cut = await run_cli(settings, "queue", "list", "--all", "--limit", "2")
        whole = await run_cli(settings, "queue", "list", "--all", "--limit", "3")
        scripted = await run_cli(settings, "queue", "list", "--all", "--limit", "2", "--json")
    assert cut.code == 0, cut.stderr
    assert [line.split()[0] for line in cut.stdout.splitlines()[1:3]] == jobs[:0:-1]
    assert cut.stdout.splitlines()[-1] == "the 2 newest shown; there are more (--limit N shows N)"
    assert "there are more" not in whole.stdout
    assert [job["id"] for job in scripted.json] == jobs[:0:-1]


async def test_commands_refuse_a_data_directory_without_a_queue(tmp_path: Path, relay: CaptureRelay) -> None:
    elsewhere = settings_for(tmp_path / "typo", relay)
    (tmp_path / "typo").mkdir()
    result = await run_cli(elsewhere, "queue", "list")
    assert result.code == 1
    assert result.error.startswith(f"mail2fax: no queue at {tmp_path / 'typo' / 'mail2fax.sqlite3'}: ")
    assert not (tmp_path / "typo" / "mail2fax.sqlite3").exists()


async def test_configuration_errors_exit_2(tmp_path: Path) -> None:
    result = await run_cli(None, "queue", "list", cwd=tmp_path)
    assert result.code == 2
    assert result.error == "mail2fax: configuration error: MAIL2FAX_BACKEND is required"


async def test_bulk_moves_by_state_by_ids_and_all(tmp_path: Path, relay: CaptureRelay) -> None:
    # No daemon runs, so the jobs stay where the commands put them.
    settings = settings_for(tmp_path, relay)
    await (await open_store(settings)).close()
    document = tmp_path / "letter.pdf"
    document.write_bytes(pdf_bytes())
    jobs = []
    for _ in range(3):
        sent = await run_cli(settings, "send", "--to", "4155551212", str(document))
        assert sent.code == 0, sent.stderr
        jobs.append(sent.stdout.splitlines()[0])

    held = await run_cli(settings, "queue", "hold", "--state", "queued")
    wrong_state = await run_cli(settings, "queue", "hold", "--state", "sent")
    nothing = await run_cli(settings, "queue", "release")
    both = await run_cli(settings, "queue", "release", jobs[0], "--all")
    some = await run_cli(settings, "queue", "release", jobs[0], "000000000000", jobs[1], "--json")
    cancelled = await run_cli(settings, "queue", "cancel", "--all")
    none_left = await run_cli(settings, "queue", "cancel", "--all")
    listed = await run_cli(settings, "queue", "list", "--all", "--json")

    assert held.code == 0, held.stderr
    assert sorted(held.stdout.splitlines()) == sorted(f"job {j}: held until released, now held" for j in jobs)
    assert wrong_state.code == 2
    assert "invalid choice: 'sent'" in wrong_state.stderr
    assert nothing.code == 2
    assert "name one or more JOBs, or use --state or --all" in nothing.stderr
    assert both.code == 2
    assert some.code == 1
    assert some.error == "mail2fax: no job '000000000000' in the queue"
    assert [(entry["id"], entry.get("state")) for entry in some.json] == [
        (jobs[0], "queued"),
        ("000000000000", None),
        (jobs[1], "queued"),
    ]
    assert cancelled.code == 0, cancelled.stderr
    assert sorted(cancelled.stdout.splitlines()) == sorted(f"job {j}: cancelled, now cancelled" for j in jobs)
    assert none_left.stdout.strip() == "no queued or deferred or held or scheduled jobs to be cancelled"
    assert {entry["id"]: entry["state"] for entry in listed.json} == dict.fromkeys(jobs, "cancelled")


async def test_flush_sends_deferred_jobs_now_and_verbose_works_after_the_command(
    tmp_path: Path, rc: RingCentralEmulator, relay: CaptureRelay
) -> None:
    settings = rc_settings(tmp_path, relay, rc, **SLOW_RETRY)
    rc.inject(group="Heavy", status=503, times=1)
    async with running(settings) as daemon:
        job_id = await mail_a_fax(daemon.smtp_port or 0)
        await until_state(daemon.store, job_id, JobState.DEFERRED)
        flushed = await run_cli(settings, "queue", "flush", "-v")
        await wait_until(lambda: len(rc.faxes) == 1)  # an hour early
        rc.complete(rc.faxes[0].id)
        await until_state(daemon.store, job_id, JobState.SENT)

    assert flushed.code == 0, flushed.stderr
    assert flushed.stdout.strip() == "1 deferred job and 0 postponed status mails due now"
    assert f"job={job_id} state=queued" in flushed.stderr  # -v after the command shows the store's log


async def test_purge_keeps_jobs_whose_sender_was_not_told(tmp_path: Path, relay: CaptureRelay) -> None:
    relay.refuse = "451 4.3.0 relay down"
    settings = settings_for(tmp_path, relay, retry={"min_backoff": 3600.0, "max_backoff": 3600.0})
    async with running(settings) as daemon:
        job_id = await mail_a_fax(daemon.smtp_port or 0)
        await until_state(daemon.store, job_id, JobState.SENT)
        await wait_until(lambda: relay.refused >= 1)
        kept = await run_cli(settings, "queue", "purge", "--older-than", "0s")
        relay.refuse = None
        flushed = await run_cli(settings, "queue", "flush")
        [told] = await relay.wait_for(1)  # an hour early
        await eventually(lambda: _notified(daemon.store, job_id))
        purged = await run_cli(settings, "queue", "purge", "--older-than", "0s", "--json")

    assert kept.code == 0, kept.stderr
    assert kept.stdout.startswith("deleted 0 finished jobs that finished before ")
    assert kept.stdout.strip().endswith("; kept 1 whose sender has not been told yet")
    assert flushed.stdout.strip() == "0 deferred jobs and 1 postponed status mail due now"
    assert told.subject.startswith("Fax to +14155551212")
    assert purged.json["deleted"] == 1


async def _notified(store: Store | None, job_id: str) -> bool:
    assert store is not None
    job = await store.get(job_id)
    return job is not None and job.notified_at is not None


async def test_numbers_too_large_for_the_queue_are_one_line_errors(
    tmp_path: Path, relay: CaptureRelay
) -> None:
    settings = settings_for(tmp_path, relay)
    async with running(settings) as daemon:
        await mail_a_fax(daemon.smtp_port or 0)
        ages = await run_cli(settings, "queue", "purge", "--older-than", "99999999999999d")
        many = await run_cli(settings, "queue", "list", "--limit", "99999999999999999999")
        assert daemon.store is not None
        assert len(await daemon.store.list_jobs()) == 1
    assert ages.code == 2
    assert ages.error == (
        "mail2fax queue purge: error: argument --older-than: '99999999999999d' is longer than "
        "36500 days (see mail2fax queue purge --help)"
    )
    assert many.code == 2
    assert many.error == (
        "mail2fax queue list: error: argument --limit: '99999999999999999999' is more than 1000000 "
        "(see mail2fax queue list --help)"
    )
    assert "Traceback" not in ages.stderr + many.stderr
