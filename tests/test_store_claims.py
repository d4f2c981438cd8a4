"""Work is claimed, not assumed, on a real PostgreSQL server: two bridges asking for due jobs or
for faxes to track at the same moment get disjoint ones; a claim that runs out is free for
another bridge; a live claim is never taken; each bridge's heartbeat is the health check's write."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from mail2fax.errors import StoreFull
from mail2fax.models import Actor, Job, JobState
from mail2fax.queue.postgres import PostgresStore
from tests.test_store import NOW, request

SUBMIT = Actor.SUBMIT
LEASE = 30.0


@pytest.fixture
async def bridges(pg_url: str, tmp_path: Path) -> AsyncIterator[tuple[PostgresStore, PostgresStore]]:
    """Two bridges' stores on one database, each with its own document cache."""
    first = await PostgresStore.open(pg_url, tmp_path / "one", lease=LEASE)
    second = await PostgresStore.open(pg_url, tmp_path / "two", lease=LEASE)
    yield first, second
    await first.close()
    await second.close()


async def queue_jobs(store: PostgresStore, count: int) -> list[Job]:
    """``count`` jobs, created (and due) one second apart from NOW on."""
    return [
        await store.enqueue(
            request(f"s{n}@example.com"), backend="dry-run", lifetime=3600, now=NOW + timedelta(seconds=n)
        )
        for n in range(count)
    ]


async def hand_over(store: PostgresStore, job: Job, at: datetime) -> None:
    """Send ``job`` from ``store``'s bridge: the fax is then at the backend, to be tracked."""
    assert await store.transition(job.id, [JobState.QUEUED], JobState.SUBMITTING, actor=SUBMIT, now=at)
    assert await store.transition(
        job.id,
        [JobState.SUBMITTING],
        JobState.SUBMITTED,
        actor=SUBMIT,
        now=at,
        backend_id=f"fax-{job.id}",
        submitted_at=at,
    )


def ids(jobs: list[Job]) -> list[str]:
    return [job.id for job in jobs]


async def test_two_bridges_asking_at_once_get_disjoint_due_jobs(
    bridges: tuple[PostgresStore, PostgresStore], pg_url: str, tmp_path: Path
) -> None:
    one, two = bridges
    jobs = await queue_jobs(one, 10)
    later = NOW + timedelta(seconds=10)
    mine, theirs = await asyncio.gather(one.due(later, 4), two.due(later, 4))
    assert len(mine) == len(theirs) == 4
    assert not set(ids(mine)) & set(ids(theirs))
    # Asked again, a bridge gets its own claims back and what nobody claimed, never the other's.
    again = await one.due(later, 10)
    assert ids(again) == [job.id for job in jobs if job.id not in ids(theirs)]
    # Three bridges asking for one job each, again and again: never one job to two bridges.
    third = await PostgresStore.open(pg_url, tmp_path / "three", lease=LEASE)
    try:
        fresh = await queue_jobs(third, 12)
        claimed: dict[str, set[str]] = {}
        for _ in range(4):
            rounds = await asyncio.gather(
                *(store.due(NOW + timedelta(minutes=1), 1) for store in (two, third))
            )
            for store, claim in zip((two, third), rounds, strict=True):
                claimed.setdefault(store.owner, set()).update(ids(claim))
                for job in claim:
                    assert await store.transition(
                        job.id, [JobState.QUEUED], JobState.SUBMITTING, actor=SUBMIT, now=NOW
                    )
        assert not claimed[two.owner] & claimed[third.owner]
        assert claimed[two.owner] | claimed[third.owner] <= {job.id for job in jobs + fresh}
        assert len(claimed[two.owner]) == len(claimed[third.owner]) == 4
    finally:
        await third.close()


async def test_a_live_claim_is_never_stolen(bridges: tuple[PostgresStore, PostgresStore]) -> None:
    one, two = bridges
    (job,) = await queue_jobs(one, 1)
    assert ids(await one.due(NOW, 5)) == [job.id]
    almost = NOW + timedelta(seconds=LEASE - 1)
    assert await two.due(almost, 5) == []
    assert await two.next_due_at() == NOW + timedelta(seconds=LEASE)
    assert await one.next_due_at() == NOW
    assert (
        await two.transition(job.id, [JobState.QUEUED], JobState.SUBMITTING, actor=SUBMIT, now=almost) is None
    )
    sent = await one.transition(job.id, [JobState.QUEUED], JobState.SUBMITTING, actor=SUBMIT, now=almost)
    assert sent is not None
    assert sent.state is JobState.SUBMITTING
    assert await two.interrupted(almost) == []


async def test_an_expired_claim_is_free_for_another_bridge(
    bridges: tuple[PostgresStore, PostgresStore],
) -> None:
    one, two = bridges
    (job,) = await queue_jobs(one, 1)
    assert ids(await one.due(NOW, 1)) == [job.id]
    # The first bridge waited too long for its turn (or died): the claim ran out.
    after = NOW + timedelta(seconds=LEASE + 1)
    assert await two.next_due_at() == NOW + timedelta(seconds=LEASE)
    assert ids(await two.due(after, 1)) == [job.id]
    assert await one.due(after, 1) == []
    assert (
        await one.transition(job.id, [JobState.QUEUED], JobState.SUBMITTING, actor=SUBMIT, now=after) is None
    )
    assert await two.transition(job.id, [JobState.QUEUED], JobState.SUBMITTING, actor=SUBMIT, now=after)


async def test_an_operator_move_ends_a_claim(bridges: tuple[PostgresStore, PostgresStore]) -> None:
    one, two = bridges
    (job,) = await queue_jobs(one, 1)
    assert ids(await one.due(NOW, 1)) == [job.id]
    operator = Actor.OPERATOR
    assert await two.transition(job.id, [JobState.QUEUED], JobState.HELD, actor=operator, now=NOW)
    assert await one.transition(job.id, [JobState.QUEUED], JobState.SUBMITTING, actor=SUBMIT, now=NOW) is None
    assert await two.transition(job.id, [JobState.HELD], JobState.QUEUED, actor=operator, now=NOW)
    assert ids(await two.due(NOW, 1)) == [job.id]
    assert await one.due(NOW, 1) == []


async def test_a_clean_stop_frees_the_claims_at_once(pg_url: str, tmp_path: Path) -> None:
    leaving = await PostgresStore.open(pg_url, tmp_path / "one", lease=LEASE)
    staying = await PostgresStore.open(pg_url, tmp_path / "two", lease=LEASE)
    try:
        queued, sent = await queue_jobs(leaving, 2)
        await hand_over(leaving, sent, NOW)
        assert ids(await leaving.due(NOW, 1)) == [queued.id]
        assert ids(await leaving.tracked(NOW)) == [sent.id]
        assert await staying.due(NOW, 1) == []
        assert await staying.tracked(NOW) == []
        await leaving.close()
        assert ids(await staying.due(NOW, 1)) == [queued.id]
        assert ids(await staying.tracked(NOW)) == [sent.id]
    finally:
        await staying.close()


async def test_new_faxes_gather_on_the_tracker_of_the_lowest_id(
    bridges: tuple[PostgresStore, PostgresStore],
) -> None:
    low, high = sorted(bridges, key=lambda store: store.owner)
    jobs = await queue_jobs(low, 6)
    first, second, third = jobs[0:2], jobs[2:4], jobs[4:6]

    async def send(faxes: list[Job]) -> None:
        for job, sender in zip(faxes, (low, high), strict=True):
            await hand_over(sender, job, NOW)

    await send(first)
    # Nobody tracks yet: whoever asks first tracks what is there.
    assert ids(await high.tracked(NOW)) == ids(first)
    assert await low.tracked(NOW) == []
    await send(second)
    assert ids(await low.tracked(NOW)) == ids(second)
    # A tracker of a higher id lets its faxes go to the lower one, and takes no new ones.
    assert await high.tracked(NOW) == []
    assert ids(await low.tracked(NOW)) == ids(first + second)
    await send(third)
    assert await high.tracked(NOW) == []
    assert ids(await low.tracked(NOW)) == ids(jobs)
    # A finished fax has no tracker.
    for job in jobs:
        await low.transition(
            job.id, [JobState.SUBMITTED], JobState.SENT, actor=Actor.TRACK, now=NOW, finished_at=NOW
        )
    assert await low.tracked(NOW) == []
    assert await high.tracked(NOW) == []


async def test_untracked_faxes_go_to_one_bridge_each(
    bridges: tuple[PostgresStore, PostgresStore], pg_url: str
) -> None:
    one, two = bridges
    jobs = await queue_jobs(one, 8)
    for job in jobs:
        await hand_over(one, job, NOW)
    # Faxes nobody tracks yet (a queue copied from SQLite, or written by an older bridge).
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as raw:
        await raw.execute("UPDATE jobs SET track_owner = NULL, track_lease_until = NULL")
    claims = await asyncio.gather(*(store.tracked(NOW) for store in (one, two, one, two)))
    first, second = set(ids(claims[0]) + ids(claims[2])), set(ids(claims[1]) + ids(claims[3]))
    assert not first & second
    assert first | second == {job.id for job in jobs}


async def test_a_dead_bridges_faxes_are_tracked_by_another_after_its_lease(
    bridges: tuple[PostgresStore, PostgresStore],
) -> None:
    one, two = bridges
    jobs = await queue_jobs(one, 3)
    for job in jobs:
        await hand_over(one, job, NOW)
    assert ids(await one.tracked(NOW)) == ids(jobs)
    # The first bridge stops renewing (it died): its tracking leases run out.
    assert await two.tracked(NOW + timedelta(seconds=LEASE - 1)) == []
    taken = await two.tracked(NOW + timedelta(seconds=LEASE + 1))
    assert ids(taken) == ids(jobs)
    assert await one.tracked(NOW + timedelta(seconds=LEASE + 2)) == []
    # The tracker's outcome is recorded once; the job then has no tracker.
    finished = await two.transition(
        jobs[0].id, [JobState.SUBMITTED], JobState.SENT, actor=Actor.TRACK, now=NOW, finished_at=NOW
    )
    assert finished is not None
    assert ids(await two.tracked(NOW + timedelta(seconds=LEASE + 2))) == ids(jobs[1:])


async def test_tracking_leases_are_renewed_while_the_bridge_lives(pg_url: str, tmp_path: Path) -> None:
    one = await PostgresStore.open(pg_url, tmp_path / "one", lease=1.5)
    try:
        now = datetime.now(UTC)
        (job,) = await queue_jobs(one, 1)
        await hand_over(one, job, now)
        assert ids(await one.tracked(now)) == [job.id]
        async with await psycopg.AsyncConnection.connect(pg_url) as raw:

            async def expiry() -> float:
                cursor = await raw.execute("SELECT track_lease_until FROM jobs WHERE id = %s", (job.id,))
                row = await cursor.fetchone()
                assert row is not None
                return float(row[0])

            first = await expiry()
            async with asyncio.timeout(10):
                while await expiry() <= first:
                    await asyncio.sleep(0.05)
    finally:
        await one.close()


async def test_the_health_check_writes_the_bridges_heartbeat(pg_url: str, tmp_path: Path) -> None:
    one = await PostgresStore.open(pg_url, tmp_path / "one", lease=LEASE)
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as raw:

        async def seen() -> float | None:
            cursor = await raw.execute(
                "SELECT seen_at FROM bridges WHERE owner = %s AND host = %s AND pid = %s",
                (one.owner, socket.gethostname(), os.getpid()),
            )
            row = await cursor.fetchone()
            return None if row is None else float(row[0])

        try:
            await one.check_writable()
            first = await seen()
            assert first is not None
            listed = [(bridge.owner, bridge.host, bridge.pid) for bridge in await one.bridges()]
            assert listed == [(one.owner, socket.gethostname(), os.getpid())]
            await one.check_writable()
            second = await seen()
            assert second is not None
            assert second >= first
            # A database that refuses writes (here: says its disk is full) fails the check.
            await raw.execute(
                "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'no space left' USING ERRCODE = 'disk_full'; END $$"
            )
            await raw.execute(
                "CREATE TRIGGER refuse BEFORE INSERT OR UPDATE ON bridges "
                "FOR EACH ROW EXECUTE FUNCTION refuse()"
            )
            with pytest.raises(StoreFull):
                await one.check_writable()
            await raw.execute("DROP TRIGGER refuse ON bridges")
        finally:
            await one.close()
        # A bridge that stops cleanly leaves the list of live bridges.
        assert await seen() is None


async def test_a_bridge_writes_its_heartbeat_while_it_lives(pg_url: str, tmp_path: Path) -> None:
    """Without any health check: the lease renewer writes it, for the daemon's store only."""
    command = await PostgresStore.open(pg_url, tmp_path / "command", lease=1.5)
    bridge = await PostgresStore.open(pg_url, tmp_path / "bridge", lease=1.5, heartbeat=True)
    try:
        async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as raw:

            async def beats() -> dict[str, float]:
                cursor = await raw.execute("SELECT owner, seen_at FROM bridges")
                return {owner: float(seen) for owner, seen in await cursor.fetchall()}

            async with asyncio.timeout(10):
                while bridge.owner not in await beats():
                    await asyncio.sleep(0.05)
                first = (await beats())[bridge.owner]
                while (await beats())[bridge.owner] <= first:
                    await asyncio.sleep(0.05)
            assert set(await beats()) == {bridge.owner}
    finally:
        await bridge.close()
        await command.close()


async def test_a_bridge_is_listed_from_the_moment_it_has_started(pg_url: str, tmp_path: Path) -> None:
    bridge = await PostgresStore.open(pg_url, tmp_path / "bridge", lease=600, heartbeat=True)
    try:
        assert [entry.owner for entry in await bridge.bridges()] == [bridge.owner]
    finally:
        await bridge.close()
