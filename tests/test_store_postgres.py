"""What only a queue shared by several bridges must do, on a real PostgreSQL server: leases,
claims, one duplicate key across bridges, streamed documents, and migrations one at a time."""

from __future__ import annotations

import asyncio
import tracemalloc
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from mail2fax.errors import DuplicateMail, StoreUnavailable
from mail2fax.models import Actor, Document, JobState
from mail2fax.queue.pg_schema import MIGRATIONS
from mail2fax.queue.postgres import PostgresStore
from tests.test_store import NOW, read_documents, request

SUBMIT = Actor.SUBMIT


@pytest.fixture
async def bridges(pg_url: str, tmp_path: Path) -> AsyncIterator[tuple[PostgresStore, PostgresStore]]:
    """Two bridges' stores on one database, each with its own document cache."""
    first = await PostgresStore.open(pg_url, tmp_path / "one", lease=30)
    second = await PostgresStore.open(pg_url, tmp_path / "two", lease=30)
    yield first, second
    await first.close()
    await second.close()


async def test_a_live_lease_keeps_other_bridges_out(bridges: tuple[PostgresStore, PostgresStore]) -> None:
    one, two = bridges
    job = await one.enqueue(request(), backend="dry-run", lifetime=3600, now=NOW)
    claimed = await one.transition(job.id, [JobState.QUEUED], JobState.SUBMITTING, actor=SUBMIT, now=NOW)
    assert claimed is not None
    assert await two.transition(job.id, [JobState.QUEUED], JobState.SUBMITTING, actor=SUBMIT, now=NOW) is None
    assert await two.interrupted(NOW + timedelta(seconds=29)) == []
    assert await two.transition(job.id, [JobState.SUBMITTING], JobState.QUEUED, actor=SUBMIT, now=NOW) is None
    moved = await one.transition(
        job.id, [JobState.SUBMITTING], JobState.SUBMITTED, actor=SUBMIT, now=NOW, backend_id="f1"
    )
    assert moved is not None
    assert moved.state is JobState.SUBMITTED


async def test_an_expired_lease_passes_to_one_other_bridge(
    bridges: tuple[PostgresStore, PostgresStore], pg_url: str, tmp_path: Path
) -> None:
    one, two = bridges
    job = await one.enqueue(request(), backend="dry-run", lifetime=3600, now=NOW)
    await one.transition(job.id, [JobState.QUEUED], JobState.SUBMITTING, actor=SUBMIT, now=NOW)
    after = NOW + timedelta(seconds=31)
    third = await PostgresStore.open(pg_url, tmp_path / "three", lease=30)
    try:
        claims = await asyncio.gather(two.interrupted(after), third.interrupted(after))
        assert sorted(len(claim) for claim in claims) == [0, 1]
        winner, loser = (two, third) if claims[0] else (third, two)
        # The first bridge lost its lease: it cannot settle the job any more; the new holder can.
        assert (
            await one.transition(job.id, [JobState.SUBMITTING], JobState.SENT, actor=SUBMIT, now=after)
            is None
        )
        assert await loser.interrupted(after) == []
        settled = await winner.transition(
            job.id, [JobState.SUBMITTING], JobState.QUEUED, actor=SUBMIT, now=after
        )
        assert settled is not None
    finally:
        await third.close()


async def test_leases_are_renewed_while_the_bridge_lives(pg_url: str, tmp_path: Path) -> None:
    one = await PostgresStore.open(pg_url, tmp_path / "one", lease=1.5)
    try:
        now = datetime.now(UTC)
        job = await one.enqueue(request(), backend="dry-run", lifetime=3600, now=now)
        await one.transition(job.id, [JobState.QUEUED], JobState.SUBMITTING, actor=SUBMIT, now=now)
        async with await psycopg.AsyncConnection.connect(pg_url) as raw:

            async def expiry() -> float:
                cursor = await raw.execute("SELECT lease_expires_at FROM jobs WHERE id = %s", (job.id,))
                row = await cursor.fetchone()
                assert row is not None
                return float(row[0])

            first = await expiry()
            async with asyncio.timeout(10):
                while await expiry() <= first:
                    await asyncio.sleep(0.05)
    finally:
        await one.close()


async def test_each_status_mail_is_claimed_by_one_bridge(
    bridges: tuple[PostgresStore, PostgresStore],
) -> None:
    one, two = bridges
    jobs = [
        await one.enqueue(request(f"s{n}@example.com"), backend="dry-run", lifetime=3600, now=NOW)
        for n in range(6)
    ]
    for job in jobs:
        await one.transition(job.id, [JobState.QUEUED], JobState.SUBMITTING, actor=SUBMIT, now=NOW)
        await one.transition(
            job.id, [JobState.SUBMITTING], JobState.SENT, actor=SUBMIT, now=NOW, finished_at=NOW
        )
    mine, theirs = await asyncio.gather(one.awaiting_notification(NOW, 4), two.awaiting_notification(NOW, 4))
    assert len(mine) + len(theirs) == 6
    assert not {j.id for j in mine} & {j.id for j in theirs}
    # A claim runs out with the lease: then another bridge may send the mail (at worst twice).
    later = NOW + timedelta(seconds=31)
    assert {j.id for j in await two.awaiting_notification(later, 10)} == {j.id for j in jobs}


async def test_one_mail_through_two_bridges_at_once_is_queued_once(
    bridges: tuple[PostgresStore, PostgresStore],
) -> None:
    since = NOW - timedelta(hours=24)
    results = await asyncio.gather(
        *(
            store.enqueue(request(), backend="dry-run", lifetime=3600, now=NOW, duplicate_since=since)
            for store in (*bridges, *bridges)
        ),
        return_exceptions=True,
    )
    queued = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, DuplicateMail)]
    assert len(queued) == 1
    assert len(refused) == 3
    assert {r.job_id for r in refused} == {queued[0].id}
    assert await bridges[1].count_numbers(since=since) == len(request().recipients)


async def test_a_large_document_streams_in_chunks(bridges: tuple[PostgresStore, PostgresStore]) -> None:
    one, two = bridges
    data = bytes(range(256)) * (12 * 4096 + 7)  # a little over 12 MiB
    big = replace(request(), documents=(Document("scan.pdf", "application/pdf", data),))
    job = await one.enqueue(big, backend="dry-run", lifetime=3600, now=NOW)
    tracemalloc.start()
    try:
        documents = await two.local_documents(job.id)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * 1024 * 1024, f"reading a 12 MiB document peaked at {peak} bytes"
    assert [d.size for d in documents] == [len(data)]
    assert Path(documents[0].path).read_bytes() == data
    assert await read_documents(two, job.id) == [data]


async def test_a_newer_schema_is_refused(pg_url: str, tmp_path: Path) -> None:
    store = await PostgresStore.open(pg_url, tmp_path / "cache")
    await store.close()
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as raw:
        await raw.execute("INSERT INTO mail2fax_schema (version) VALUES (%s)", (len(MIGRATIONS) + 1,))
    with pytest.raises(StoreUnavailable, match="newer than this mail2fax knows") as refused:
        await PostgresStore.open(pg_url, tmp_path / "cache")
    assert "\n" not in str(refused.value)


async def test_bridges_starting_together_migrate_once(pg_url: str, tmp_path: Path) -> None:
    stores = await asyncio.gather(*(PostgresStore.open(pg_url, tmp_path / f"c{n}") for n in range(4)))
    try:
        async with await psycopg.AsyncConnection.connect(pg_url) as raw:
            cursor = await raw.execute("SELECT version FROM mail2fax_schema ORDER BY version")
            assert [row[0] for row in await cursor.fetchall()] == list(range(1, len(MIGRATIONS) + 1))
    finally:
        for store in stores:
            await store.close()


async def test_an_unreachable_database_is_one_line(tmp_path: Path) -> None:
    url = f"postgresql:///nothing?host={tmp_path}&user=postgres&password=hunter2&connect_timeout=1"
    with pytest.raises(StoreUnavailable) as refused:
        await PostgresStore.open(url, tmp_path / "cache", connect_timeout=1)
    message = str(refused.value)
    assert message.startswith(f"cannot open the PostgreSQL queue (database nothing on {tmp_path}): ")
    assert f'connection to server on socket "{tmp_path}/.s.PGSQL.5432" failed' in message
    assert "hunter2" not in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("database", "user", "reason"),
    [
        ("no_such_database", "postgres", 'database "no_such_database" does not exist'),
        ("postgres", "no_such_role", 'role "no_such_role" does not exist'),
    ],
)
async def test_a_server_that_says_no_is_one_line_with_its_reason(
    pg_url: str, tmp_path: Path, database: str, user: str, reason: str
) -> None:
    host = conninfo_to_dict(pg_url)["host"]
    url = f"postgresql:///{database}?host={host}&user={user}&password=hunter2"
    with pytest.raises(StoreUnavailable) as refused:
        await PostgresStore.open(url, tmp_path / "cache", connect_timeout=1)
    message = str(refused.value)
    assert message.startswith(f"cannot open the PostgreSQL queue (database {database} on {host}): ")
    assert message.endswith(reason)
    assert "hunter2" not in message
    assert "\n" not in message


async def test_bridges_share_one_rate_limit_window(bridges: tuple[PostgresStore, PostgresStore]) -> None:
    now = datetime.now(UTC)
    taken = await asyncio.gather(
        *(store.take_rate_slot("heavy", now, 4, 60.0) for store in bridges for _ in range(6))
    )
    assert sorted(slot.slot is not None for slot in taken) == [False] * 8 + [True] * 4


async def test_a_slot_in_flight_counts_until_its_answer(bridges: tuple[PostgresStore, PostgresStore]) -> None:
    one, two = bridges
    start = datetime.now(UTC)
    slow = await one.take_rate_slot("heavy", start, 1, 1.0)
    assert slow.slot is not None
    # The window has passed, but the request has not been answered: it still holds the slot.
    waiting = await two.take_rate_slot("heavy", start + timedelta(seconds=5), 1, 1.0)
    assert waiting.slot is None
    await one.finish_rate_slot(slow.slot, start + timedelta(seconds=5))
    assert (await two.take_rate_slot("heavy", start + timedelta(seconds=6.5), 1, 1.0)).slot is not None
