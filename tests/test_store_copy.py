"""``mail2fax store copy`` and ``mail2fax queue`` on PostgreSQL, as an operator runs them.

An SQLite queue with jobs in every kind of state is copied into a real PostgreSQL database by the
command in a subprocess; the copy must hold every job, its history and its documents byte for
byte, keep recognising duplicates, hand an interrupted submission to recovery, and converge when
run a second time after the SQLite queue changed.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from mail2fax.errors import DuplicateMail
from mail2fax.models import Actor, Document, JobState
from mail2fax.queue.postgres import PostgresStore
from mail2fax.queue.sqlite import SqliteStore
from tests.capture import CaptureRelay
from tests.cli_runner import run_cli
from tests.conftest import settings_for
from tests.test_store import NOW, read_documents, request

BIG = bytes(range(256)) * 9000  # a little over 2 MiB: several chunks


async def test_copy_moves_every_job_and_converges_when_run_again(
    tmp_path: Path, pg_url: str, relay: CaptureRelay
) -> None:
    data_dir = tmp_path / "sqlite-install"
    sqlite = await SqliteStore.open(data_dir / "mail2fax.sqlite3", data_dir / "spool")
    queued = await sqlite.enqueue(request(), backend="dry-run", lifetime=3600, now=NOW)
    big = replace(request("bob@example.com"), documents=(Document("scan.pdf", "application/pdf", BIG),))
    sending = await sqlite.enqueue(big, backend="dry-run", lifetime=3600, now=NOW)
    await sqlite.transition(
        sending.id, [JobState.QUEUED], JobState.SUBMITTING, actor=Actor.SUBMIT, now=NOW, attempts=1
    )
    done = await sqlite.enqueue(request("carol@example.com"), backend="dry-run", lifetime=3600, now=NOW)
    await sqlite.transition(done.id, [JobState.QUEUED], JobState.SUBMITTING, actor=Actor.SUBMIT, now=NOW)
    await sqlite.transition(
        done.id, [JobState.SUBMITTING], JobState.SENT, actor=Actor.SUBMIT, now=NOW, finished_at=NOW
    )
    await sqlite.mark_notified(done.id, NOW, "status mail sent")
    await sqlite.delete_documents(done.id, now=NOW + timedelta(seconds=1))

    settings = settings_for(tmp_path / "operator", relay)
    (tmp_path / "operator").mkdir()
    copied = await run_cli(
        settings, "store", "copy", "--from", str(data_dir / "mail2fax.sqlite3"), "--to", pg_url, "--json"
    )
    assert copied.code == 0, copied.stderr
    assert copied.json == {"jobs": 3, "documents": 3, "bytes": 14 + 6 + len(BIG), "missing": []}

    # The old daemon goes on for a moment: a new job, and the queued one moves on.
    late = await sqlite.enqueue(request("dave@example.com"), backend="dry-run", lifetime=3600, now=NOW)
    await sqlite.transition(queued.id, [JobState.QUEUED], JobState.HELD, actor=Actor.OPERATOR, now=NOW)
    await sqlite.close()
    again = await run_cli(
        settings, "store", "copy", "--from", str(data_dir / "mail2fax.sqlite3"), "--to", pg_url
    )
    assert again.code == 0, again.stderr
    assert again.stdout.startswith("copied 4 jobs and 5 documents")

    shared = await PostgresStore.open(pg_url, tmp_path / "bridge")
    try:
        assert await shared.count_by_state() == {"held": 1, "submitting": 1, "sent": 1, "queued": 1}
        held = await shared.get(queued.id)
        assert held is not None
        assert [(e.state, e.actor) for e in await shared.events(queued.id)] == [
            (JobState.QUEUED, Actor.INTAKE),
            (JobState.HELD, Actor.OPERATOR),
        ]
        assert await read_documents(shared, queued.id) == [b"%PDF-1.4 first", b"second"]
        assert await read_documents(shared, sending.id) == [BIG]
        assert await read_documents(shared, late.id) == [b"%PDF-1.4 first", b"second"]
        purged = await shared.get(done.id)
        assert purged is not None
        assert purged.documents_purged_at is not None
        assert [j.id for j in await shared.interrupted(NOW)] == [sending.id]
        with pytest.raises(DuplicateMail) as duplicate:
            await shared.enqueue(
                request(), backend="dry-run", lifetime=3600, now=NOW, duplicate_since=NOW - timedelta(days=1)
            )
        assert duplicate.value.job_id == queued.id
    finally:
        await shared.close()

    listed = await run_cli(
        settings_for(tmp_path / "operator", relay, database_url=pg_url), "queue", "list", "--all", "--json"
    )
    assert listed.code == 0, listed.stderr
    assert {job["id"] for job in listed.json} == {queued.id, sending.id, done.id, late.id}


async def test_copy_without_a_target_says_what_is_missing(tmp_path: Path, relay: CaptureRelay) -> None:
    settings = settings_for(tmp_path, relay)
    result = await run_cli(settings, "store", "copy")
    assert result.code == 1
    assert "give --to URL or set MAIL2FAX_DATABASE_URL" in result.error
