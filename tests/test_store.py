"""The store behaviour suite, run against both backends (a real SQLite file, a real PostgreSQL
server): durability, checked transitions, quotas, duplicates, retention."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mail2fax.errors import Deferral, DuplicateMail, Refusal, StoreUnavailable
from mail2fax.models import (
    Actor,
    Document,
    FaxOptions,
    FaxRequest,
    Job,
    JobState,
    Recipient,
    RecipientResult,
    Resolution,
)
from mail2fax.queue.base import Store
from mail2fax.queue.postgres import PostgresStore
from mail2fax.queue.sqlite import SqliteStore
from mail2fax.settings import QuotaSettings

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def request(sender: str = "alice@example.com", *, message_id: str = "<a@example.com>") -> FaxRequest:
    return FaxRequest(
        sender=sender,
        recipients=(Recipient("+14155551212", "John Doe"), Recipient("+14155551313")),
        cover_text="Hello",
        documents=(
            Document("scan.pdf", "application/pdf", b"%PDF-1.4 first"),
            Document("notes.txt", "text/plain", b"second"),
        ),
        message_id=message_id,
        subject="Hello",
        content_digest="digest-1",
    )


Opener = Callable[[], Awaitable[Store]]


@pytest.fixture(params=["sqlite", "postgresql"])
def open_any(request: pytest.FixtureRequest, tmp_path: Path) -> Opener:
    """Opens (again) the store of one backend; each test runs once per backend."""
    if request.param == "sqlite":
        return lambda: SqliteStore.open(tmp_path / "db.sqlite3", tmp_path / "spool")
    url = request.getfixturevalue("pg_url")
    return lambda: PostgresStore.open(url, tmp_path / "cache")


@pytest.fixture
async def any_store(open_any: Opener) -> AsyncIterator[Store]:
    opened = await open_any()
    yield opened
    await opened.close()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await SqliteStore.open(tmp_path / "db.sqlite3", tmp_path / "spool")
    yield opened
    await opened.close()


async def read_documents(store: Store, job_id: str) -> list[bytes]:
    return [Path(d.path).read_bytes() for d in await store.local_documents(job_id)]


async def test_enqueue_survives_reopening(open_any: Opener) -> None:
    store = await open_any()
    job = await store.enqueue(request(), backend="dry-run", lifetime=3600, now=NOW)
    await store.close()
    reopened = await open_any()
    try:
        again = await reopened.get(job.id)
        assert again is not None
        assert again.state is JobState.QUEUED
        assert again.recipients == (Recipient("+14155551212", "John Doe"), Recipient("+14155551313"))
        assert again.expires_at == NOW + timedelta(hours=1)
        documents = await reopened.documents(job.id)
        assert [d.filename for d in documents] == ["scan.pdf", "notes.txt"]
        assert [d.size for d in documents] == [14, 6]
        assert await read_documents(reopened, job.id) == [b"%PDF-1.4 first", b"second"]
    finally:
        await reopened.close()


async def test_enqueue_is_durable_and_ordered(tmp_path: Path, store: Store) -> None:
    job = await store.enqueue(request(), backend="dry-run", lifetime=3600, now=NOW)
    await store.close()
    reopened = await SqliteStore.open(tmp_path / "db.sqlite3", tmp_path / "spool")
    try:
        again = await reopened.get(job.id)
        assert again is not None
        assert again.state is JobState.QUEUED
        assert again.recipients == (Recipient("+14155551212", "John Doe"), Recipient("+14155551313"))
        assert again.expires_at == NOW + timedelta(hours=1)
        documents = await reopened.documents(job.id)
        assert [d.filename for d in documents] == ["scan.pdf", "notes.txt"]
        assert [Path(d.path).read_bytes() for d in documents] == [b"%PDF-1.4 first", b"second"]
        with sqlite3.connect(tmp_path / "db.sqlite3") as raw:
            assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        await reopened.close()
        await store.close()


async def test_transition_checks_the_state_it_leaves(any_store: Store) -> None:
    store = any_store
    job = await store.enqueue(request(), backend="dry-run", lifetime=3600, now=NOW)
    moved = await store.transition(
        job.id,
        [JobState.QUEUED],
        JobState.SUBMITTING,
        actor=Actor.SUBMIT,
        now=NOW,
        attempts=1,
        submit_started_at=NOW,
    )
    assert moved is not None
    assert moved.state is JobState.SUBMITTING
    assert moved.attempts == 1
    assert (
        await store.transition(job.id, [JobState.QUEUED], JobState.SUBMITTING, actor=Actor.SUBMIT, now=NOW)
        is None
    )
    results = (RecipientResult("+14155551212", "Sent"),)
    done = await store.transition(
        job.id,
        [JobState.SUBMITTING],
        JobState.SENT,
        actor=Actor.SUBMIT,
        now=NOW,
        results=results,
        page_count=3,
        finished_at=NOW,
    )
    assert done is not None
    assert done.results == results
    assert [e.state for e in await store.events(job.id)] == [
        JobState.QUEUED,
        JobState.SUBMITTING,
        JobState.SENT,
    ]


async def test_transition_refuses_unknown_columns(any_store: Store) -> None:
    store = any_store
    job = await store.enqueue(request(), backend="dry-run", lifetime=3600, now=NOW)
    with pytest.raises(ValueError, match="not updatable"):
        await store.transition(
            job.id, [JobState.QUEUED], JobState.SUBMITTING, actor=Actor.SUBMIT, now=NOW, state="sent"
        )


async def test_due_respects_next_attempt(any_store: Store) -> None:
    store = any_store
    job = await store.enqueue(request(), backend="dry-run", lifetime=3600, now=NOW)
    await store.transition(job.id, [JobState.QUEUED], JobState.SUBMITTING, actor=Actor.SUBMIT, now=NOW)
    await store.transition(
        job.id,
        [JobState.SUBMITTING],
        JobState.DEFERRED,
        actor=Actor.SUBMIT,
        now=NOW,
        next_attempt_at=NOW + timedelta(minutes=5),
    )
    assert await store.due(NOW, 10) == []
    assert [j.id for j in await store.due(NOW + timedelta(minutes=5), 10)] == [job.id]
    assert await store.next_due_at() == NOW + timedelta(minutes=5)


async def test_the_due_job_sent_next_and_the_faxes_to_track_are_this_processs(any_store: Store) -> None:
    """Claimed (PostgreSQL) or simply owned (SQLite): the process that asks gets them, again."""
    store = any_store
    first = await store.enqueue(request(), backend="dry-run", lifetime=3600, now=NOW)
    second = await store.enqueue(request("bob@example.com"), backend="dry-run", lifetime=3600, now=NOW)
    later = NOW + timedelta(seconds=1)
    assert [j.id for j in await store.due(later, 1)] == [first.id]
    assert [j.id for j in await store.due(later, 1)] == [first.id]
    sending = await store.transition(
        first.id, [JobState.QUEUED], JobState.SUBMITTING, actor=Actor.SUBMIT, now=later
    )
    assert sending is not None
    assert [j.id for j in await store.due(later, 5)] == [second.id]
    assert await store.next_due_at() == NOW
    await store.transition(
        first.id,
        [JobState.SUBMITTING],
        JobState.SUBMITTED,
        actor=Actor.SUBMIT,
        now=later,
        backend_id="fax-1",
        submitted_at=later,
    )
    assert [j.id for j in await store.tracked(later)] == [first.id]
    assert [j.id for j in await store.tracked(later + timedelta(hours=1))] == [first.id]
    await store.transition(
        first.id, [JobState.SUBMITTED], JobState.SENT, actor=Actor.TRACK, now=later, finished_at=later
    )
    assert await store.tracked(later) == []


async def test_counts_count_numbers_dialled(any_store: Store) -> None:
    store = any_store
    await store.enqueue(request(), backend="dry-run", lifetime=3600, now=NOW)
    await store.enqueue(request("bob@example.com"), backend="dry-run", lifetime=3600, now=NOW)
    assert await store.count_numbers(since=NOW - timedelta(hours=1)) == 4
    assert await store.count_numbers(since=NOW - timedelta(hours=1), sender="bob@example.com") == 2
    assert await store.count_numbers(since=NOW + timedelta(seconds=1)) == 0


async def test_enqueue_with_quotas_refuses_a_mail_over_a_limit_and_writes_nothing(any_store: Store) -> None:
    store = any_store
    quota = QuotaSettings(sender_per_hour=3, global_per_day=4)

    async def enqueue(sender: str, message_id: str, quota: QuotaSettings | None) -> Job:
        return await store.enqueue(
            request(sender, message_id=message_id), backend="dry-run", lifetime=3600, now=NOW, quota=quota
        )

    await enqueue("alice@example.com", "<1@x>", quota=quota)  # two numbers each
    with pytest.raises(Deferral) as over_sender:
        await enqueue("alice@example.com", "<2@x>", quota=quota)
    assert over_sender.value.reply == (
        "450 4.7.1 Too many faxes from <alice@example.com>: the limit is 3 fax numbers per hour, "
        "please try again later"
    )
    await enqueue("bob@example.com", "<3@x>", quota=quota)
    with pytest.raises(Deferral) as over_gateway:
        await enqueue("carol@example.com", "<4@x>", quota=quota)
    assert over_gateway.value.reply == (
        "452 4.5.3 The fax gateway has reached its limit of 4 fax numbers per day, please try again later"
    )
    with pytest.raises(Refusal) as too_many:
        await enqueue("dave@example.com", "<5@x>", quota=QuotaSettings(global_per_hour=1))
    assert too_many.value.reply == (
        "552 5.5.3 This mail goes to 2 fax numbers, more than the gateway's limit of 1 fax number "
        "per hour: send it to fewer numbers at a time"
    )
    assert sorted(job.sender for job in await store.list_jobs()) == ["alice@example.com", "bob@example.com"]
    # Without limits nothing is counted: the same mail goes in.
    await enqueue("alice@example.com", "<2@x>", quota=QuotaSettings())
    await enqueue("alice@example.com", "<6@x>", quota=None)
    assert await store.count_numbers(since=NOW) == 8


async def test_a_duplicate_is_the_same_mail_and_nothing_else(any_store: Store) -> None:
    store = any_store
    first = await store.enqueue(request(), backend="dry-run", lifetime=3600, now=NOW)
    since = NOW - timedelta(hours=24)
    reordered = replace(request(), recipients=request().recipients[::-1])
    for same in (request(), reordered):
        with pytest.raises(DuplicateMail) as duplicate:
            await store.enqueue(same, backend="dry-run", lifetime=3600, now=NOW, duplicate_since=since)
        assert duplicate.value.job_id == first.id
    different = [
        replace(request(), content_digest="digest-2"),
        replace(request(), recipients=(Recipient("+14155559999"),)),
        replace(request(), recipients=request().recipients[:1]),
        replace(request(), options=FaxOptions(resolution=Resolution.LOW)),
        replace(request(), cover_text="Other"),
        request("bob@example.com"),
        request(message_id="<b@example.com>"),
    ]
    for other in different:
        job = await store.enqueue(other, backend="dry-run", lifetime=3600, now=NOW, duplicate_since=since)
        assert job.id != first.id
    assert len(await store.list_jobs()) == 1 + len(different)


async def test_retention_deletes_documents_keeps_history(any_store: Store) -> None:
    store = any_store
    job = await store.enqueue(request(), backend="dry-run", lifetime=3600, now=NOW)
    await store.transition(job.id, [JobState.QUEUED], JobState.SUBMITTING, actor=Actor.SUBMIT, now=NOW)
    await store.transition(
        job.id, [JobState.SUBMITTING], JobState.SENT, actor=Actor.SUBMIT, now=NOW, finished_at=NOW
    )
    later = NOW + timedelta(seconds=1)
    assert await store.expired_documents(finished_before=NOW + timedelta(hours=1), max_failures=5) == []
    await store.mark_notified(job.id, NOW, "status mail sent")
    assert await store.expired_documents(finished_before=NOW, max_failures=5) == []
    assert await store.expired_documents(finished_before=later, max_failures=5) == [job.id]
    await store.delete_documents(job.id, now=later)
    assert await store.expired_documents(finished_before=later, max_failures=5) == []
    kept = await store.get(job.id)
    assert kept is not None
    assert kept.documents_purged_at == later
    assert kept.state is JobState.SENT
    assert [e.detail for e in await store.events(job.id)][-1] == "status mail sent"


async def test_failures_are_counted_per_stage_and_leave_retention_alone(any_store: Store) -> None:
    store = any_store
    job = await store.enqueue(request(), backend="dry-run", lifetime=3600, now=NOW)
    retry = NOW + timedelta(minutes=1)
    count = await store.record_failure(
        job.id, actor=Actor.SUBMIT, now=NOW, detail="internal error: KeyError: 'x'", retry_at=retry
    )
    assert count == 1
    assert await store.due(NOW, 10) == []
    assert [j.id for j in await store.due(retry, 10)] == [job.id]
    last = (await store.events(job.id))[-1]
    assert (last.state, last.actor, last.detail) == (
        JobState.QUEUED,
        Actor.SUBMIT,
        "internal error: KeyError: 'x'",
    )
    # Moves within the submit stage keep the count; handing the job on starts it again.
    claimed = await store.transition(
        job.id, [JobState.QUEUED], JobState.SUBMITTING, actor=Actor.SUBMIT, now=retry
    )
    assert claimed is not None and claimed.failures == 1
    sent = await store.transition(
        job.id, [JobState.SUBMITTING], JobState.SENT, actor=Actor.SUBMIT, now=retry, finished_at=NOW
    )
    assert sent is not None and sent.failures == 0
    assert await store.record_failure(job.id, actor=Actor.NOTIFY, now=NOW, detail="x", retry_at=retry) == 1
    assert await store.awaiting_notification(NOW, 10) == []
    assert [j.id for j in await store.awaiting_notification(retry, 10)] == [job.id]
    await store.mark_notified(job.id, retry, "status mail sent")
    later = NOW + timedelta(seconds=1)
    assert await store.expired_documents(finished_before=later, max_failures=1) == [job.id]
    await store.record_failure(job.id, actor=Actor.RETENTION, now=NOW, detail="x", retry_at=None)
    assert await store.expired_documents(finished_before=later, max_failures=1) == []
    assert await store.expired_documents(finished_before=later, max_failures=2) == [job.id]


async def test_retention_removes_spool_files(store: Store) -> None:
    job = await store.enqueue(request(), backend="dry-run", lifetime=3600, now=NOW)
    paths = [Path(d.path) for d in await store.documents(job.id)]
    await store.transition(job.id, [JobState.QUEUED], JobState.SUBMITTING, actor=Actor.SUBMIT, now=NOW)
    await store.transition(
        job.id, [JobState.SUBMITTING], JobState.SENT, actor=Actor.SUBMIT, now=NOW, finished_at=NOW
    )
    await store.mark_notified(job.id, NOW, "status mail sent")
    await store.delete_documents(job.id, now=NOW)
    assert not any(path.exists() for path in paths)


async def test_orphaned_spool_directories_are_removed(tmp_path: Path, store: Store) -> None:
    job = await store.enqueue(request(), backend="dry-run", lifetime=3600, now=NOW)
    orphan = tmp_path / "spool" / "deadbeef0000"
    orphan.mkdir()
    (orphan / "000").write_bytes(b"half written")
    assert await store.remove_orphans() == 1
    assert not orphan.exists()
    assert all(Path(d.path).exists() for d in await store.documents(job.id))


async def test_failed_commit_leaves_no_spool(tmp_path: Path, store: Store) -> None:
    with sqlite3.connect(tmp_path / "db.sqlite3") as raw:
        raw.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, 'disk trouble'); END"
        )
    with pytest.raises(StoreUnavailable, match="disk trouble"):
        await store.enqueue(request(), backend="dry-run", lifetime=3600, now=NOW)
    assert list((tmp_path / "spool").iterdir()) == []
    assert await store.list_jobs() == []


async def test_id_collision_keeps_the_existing_job(any_store: Store) -> None:
    store = any_store
    first = await store.enqueue(request(), backend="dry-run", lifetime=3600, now=NOW)
    with pytest.raises(StoreUnavailable):
        await store.enqueue(request(), backend="dry-run", lifetime=3600, now=NOW, job_id=first.id)
    assert await read_documents(store, first.id) == [b"%PDF-1.4 first", b"second"]


async def test_interrupted_submissions_are_found(any_store: Store) -> None:
    store = any_store
    job = await store.enqueue(request(), backend="dry-run", lifetime=3600, now=NOW)
    assert await store.interrupted(NOW) == []
    await store.transition(
        job.id, [JobState.QUEUED], JobState.SUBMITTING, actor=Actor.SUBMIT, now=NOW, submit_started_at=NOW
    )
    assert [j.id for j in await store.interrupted(NOW)] == [job.id]
    settled = await store.transition(
        job.id, [JobState.SUBMITTING], JobState.QUEUED, actor=Actor.SUBMIT, now=NOW
    )
    assert settled is not None
    assert await store.interrupted(NOW) == []


async def test_status_mail_bookkeeping(any_store: Store) -> None:
    store = any_store
    first = await store.enqueue(request(), backend="dry-run", lifetime=3600, now=NOW)
    second = await store.enqueue(request("bob@example.com"), backend="dry-run", lifetime=3600, now=NOW)
    assert await store.awaiting_notification(NOW, 10) == []
    for number, job in enumerate((second, first)):
        done = NOW + timedelta(seconds=number)
        await store.transition(
            job.id, [JobState.QUEUED], JobState.FAILED, actor=Actor.SUBMIT, now=done, finished_at=done
        )
    later = NOW + timedelta(minutes=1)
    assert [j.id for j in await store.awaiting_notification(later, 10)] == [second.id, first.id]
    await store.postpone_notification(second.id, later + timedelta(minutes=5))
    assert [j.id for j in await store.awaiting_notification(later, 10)] == [first.id]
    await store.mark_notified(first.id, later, "status mail sent to alice@example.com")
    assert await store.awaiting_notification(later, 10) == []
    again = await store.awaiting_notification(later + timedelta(minutes=5), 10)
    assert [j.id for j in again] == [second.id]
    notified = await store.get(first.id)
    assert notified is not None
    assert notified.notified_at == later


async def test_listing_counting_and_deleting(any_store: Store) -> None:
    store = any_store
    old = await store.enqueue(request(), backend="dry-run", lifetime=3600, now=NOW)
    new = await store.enqueue(request("bob@example.com"), backend="dry-run", lifetime=3600, now=NOW)
    await store.transition(old.id, [JobState.QUEUED], JobState.SUBMITTING, actor=Actor.SUBMIT, now=NOW)
    await store.transition(
        old.id,
        [JobState.SUBMITTING],
        JobState.SUBMITTED,
        actor=Actor.SUBMIT,
        now=NOW,
        backend_id="fax-1",
        submitted_at=NOW,
    )
    assert await store.backend_ids_submitted_since(NOW) == {"fax-1"}
    assert await store.backend_ids_submitted_since(NOW + timedelta(seconds=1)) == set()
    assert [j.id for j in await store.tracked(NOW)] == [old.id]
    assert await store.count_by_state() == {"submitted": 1, "queued": 1}
    assert {j.id for j in await store.list_jobs()} == {old.id, new.id}
    assert [j.id for j in await store.list_jobs([JobState.QUEUED])] == [new.id]
    await store.transition(
        old.id, [JobState.SUBMITTED], JobState.SENT, actor=Actor.TRACK, now=NOW, finished_at=NOW
    )
    assert await store.delete_jobs(finished_before=NOW) == 0
    # The sender is owed a status mail: the job is kept, however old, until it is sent.
    assert await store.delete_jobs(finished_before=NOW + timedelta(seconds=1)) == 0
    await store.postpone_notification(old.id, NOW + timedelta(hours=1))
    assert await store.flush_notifications(NOW) == 1
    assert [j.id for j in await store.awaiting_notification(NOW, 10)] == [old.id]
    await store.mark_notified(old.id, NOW, "status mail sent")
    assert await store.flush_notifications(NOW) == 0
    assert await store.delete_jobs(finished_before=NOW + timedelta(seconds=1)) == 1
    assert await store.get(old.id) is None
    assert await store.events(old.id) == []
    assert [j.id for j in await store.list_jobs()] == [new.id]
    await store.check_writable()


async def test_rate_limit_windows_outlive_the_process(any_store: Store) -> None:
    await any_store.record_rate_request("heavy", NOW - timedelta(hours=2))
    await any_store.record_rate_request("heavy", NOW - timedelta(seconds=30))
    await any_store.record_rate_request("heavy", NOW)
    await any_store.record_rate_request("auth", NOW)
    await any_store.record_rate_pause("heavy", NOW + timedelta(seconds=60))
    window = await any_store.rate_window("heavy", NOW - timedelta(minutes=5))
    assert window.requests == (NOW - timedelta(seconds=30), NOW)
    assert window.paused_until == NOW + timedelta(seconds=60)
    empty = await any_store.rate_window("light", NOW - timedelta(minutes=5))
    assert (empty.requests, empty.paused_until) == ((), None)
    everything = await any_store.rate_window("heavy", NOW - timedelta(hours=3))
    assert len(everything.requests) == 2  # the entry over an hour old was forgotten


async def test_rate_limit_slots_are_taken_while_the_window_has_room(any_store: Store) -> None:
    first = await any_store.take_rate_slot("heavy", NOW, 2, 60.0)
    second = await any_store.take_rate_slot("heavy", NOW + timedelta(seconds=10), 2, 60.0)
    assert first.slot is not None
    assert second.slot is not None
    # The first answer came late: its slot counts from then on.
    await any_store.finish_rate_slot(first.slot, NOW + timedelta(seconds=15))
    await any_store.finish_rate_slot(second.slot, NOW + timedelta(seconds=10))
    full = await any_store.take_rate_slot("heavy", NOW + timedelta(seconds=20), 2, 60.0)
    assert full.slot is None
    assert full.wait == pytest.approx(50.0)
    later = await any_store.take_rate_slot("heavy", NOW + timedelta(seconds=61), 2, 60.0)
    assert later.slot is None
    assert later.wait == pytest.approx(9.0, abs=0.01)
    assert (await any_store.take_rate_slot("heavy", NOW + timedelta(seconds=75), 2, 60.0)).slot is not None
    assert (await any_store.take_rate_slot("auth", NOW, 2, 60.0)).slot is not None
    await any_store.record_rate_pause("auth", NOW + timedelta(seconds=30))
    paused = await any_store.take_rate_slot("auth", NOW + timedelta(seconds=1), 2, 60.0)
    assert (paused.slot, paused.wait) == (None, pytest.approx(29.0))
