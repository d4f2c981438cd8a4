"""Quotas reserved in the store: the count and the insert are one step for every process and
bridge sharing the queue, so mails queued at the same moment never pass a limit together.

Each case runs on two stores sharing one queue: two SQLite connections to one file (two intake
processes of one daemon), and two PostgreSQL stores on one database (two bridges).
"""

from __future__ import annotations

import asyncio
import itertools
import re
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mail2fax.errors import Deferral, Refusal
from mail2fax.models import Document, FaxRequest, Job, Recipient
from mail2fax.queue.base import Store
from mail2fax.queue.postgres import PostgresStore
from mail2fax.queue.sqlite import SqliteStore
from mail2fax.settings import QuotaSettings
from tests.test_store import NOW

SENDERS = ("alice@example.com", "bob@example.com", "carol@example.com")
OVER_SENDER = re.compile(r"450 4\.7\.1 Too many faxes from <(.+)>: the limit is (\d+) fax numbers? per (\w+)")
OVER_GATEWAY = re.compile(
    r"452 4\.5\.3 The fax gateway has reached its limit of (\d+) fax numbers? per (\w+)"
)
TOO_MANY = re.compile(r"552 5\.5\.3 This mail goes to (\d+) fax numbers?, more than .* limit of (\d+) ")

# Each example counts in a window of its own: two days after the previous example's.
moments = itertools.count()


def fax(sender: str, numbers: int, serial: int) -> FaxRequest:
    return FaxRequest(
        sender=sender,
        recipients=tuple(Recipient(f"+1415555{serial:02d}{n:02d}") for n in range(numbers)),
        cover_text="",
        documents=(Document("scan.pdf", "application/pdf", b"%PDF-1.4 " + bytes(str(serial), "ascii")),),
        message_id=f"<{serial}.{next(moments)}@example.com>",
        subject="quota",
        content_digest=f"digest-{serial}",
    )


@pytest.fixture(params=["sqlite", "postgresql"])
async def two_stores(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[Store, Store]]:
    """Two stores on one queue: two connections to one SQLite file, or two bridges on PostgreSQL."""
    stores: list[Store] = []
    if request.param == "sqlite":
        for _ in range(2):
            stores.append(await SqliteStore.open(tmp_path / "db.sqlite3", tmp_path / "spool"))
    else:
        url = request.getfixturevalue("pg_url")
        for name in ("one", "two"):
            stores.append(await PostgresStore.open(url, tmp_path / name))
    try:
        yield stores[0], stores[1]
    finally:
        for store in stores:
            await store.close()


limits = st.builds(
    QuotaSettings,
    sender_per_hour=st.none() | st.integers(0, 6),
    sender_per_day=st.none() | st.integers(0, 8),
    global_per_hour=st.none() | st.integers(0, 10),
    global_per_day=st.none() | st.integers(0, 12),
).filter(lambda q: any(v is not None for v in q.model_dump().values()))
mails = st.lists(st.tuples(st.sampled_from(SENDERS), st.integers(1, 3)), min_size=2, max_size=12)


@settings(
    max_examples=25,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(quota=limits, batch=mails)
async def test_mails_queued_at_once_through_two_stores_never_pass_a_quota(
    two_stores: tuple[Store, Store], quota: QuotaSettings, batch: list[tuple[str, int]]
) -> None:
    now = NOW + timedelta(days=2 * next(moments))
    results = await asyncio.gather(
        *(
            two_stores[serial % 2].enqueue(
                fax(sender, numbers, serial), backend="dry-run", lifetime=3600, now=now, quota=quota
            )
            for serial, (sender, numbers) in enumerate(batch)
        ),
        return_exceptions=True,
    )
    by_sender: Counter[str] = Counter()
    for (sender, numbers), result in zip(batch, results, strict=True):
        if isinstance(result, Job):
            by_sender[sender] += numbers
        else:
            assert isinstance(result, Refusal | Deferral), result
    total = sum(by_sender.values())
    for limit in (quota.sender_per_hour, quota.sender_per_day):
        if limit is not None:
            assert max(by_sender.values(), default=0) <= limit, (quota, by_sender)
    for limit in (quota.global_per_hour, quota.global_per_day):
        if limit is not None:
            assert total <= limit, (quota, by_sender)
    # What the store holds is what was answered, and each refusal names a limit the mail does not fit.
    assert await two_stores[1].count_numbers(since=now) == total
    for (sender, numbers), result in zip(batch, results, strict=True):
        if isinstance(result, Job):
            continue
        reply = result.reply
        if over := OVER_SENDER.match(reply):
            assert over[1] == sender
            assert int(over[2]) == getattr(quota, f"sender_per_{over[3]}")
            assert by_sender[sender] + numbers > int(over[2]), reply
        elif over := OVER_GATEWAY.match(reply):
            assert int(over[1]) == getattr(quota, f"global_per_{over[2]}")
            assert total + numbers > int(over[1]), reply
        else:
            too_many = TOO_MANY.match(reply)
            assert too_many is not None, reply
            assert int(too_many[1]) == numbers > int(too_many[2]) > 0


async def test_a_refused_mail_leaves_the_others_of_its_group_committed(
    two_stores: tuple[Store, Store],
) -> None:
    """Enqueues waiting together share one transaction: the ones over the limit are refused alone."""
    store = two_stores[0]
    quota = QuotaSettings(sender_per_hour=3)
    results = await asyncio.gather(
        *(
            store.enqueue(fax(SENDERS[0], 1, serial), backend="dry-run", lifetime=3600, now=NOW, quota=quota)
            for serial in range(5)
        ),
        return_exceptions=True,
    )
    assert sum(isinstance(r, Job) for r in results) == 3
    refused = [r for r in results if not isinstance(r, Job)]
    assert [r.reply for r in refused if isinstance(r, Deferral)] == [
        "450 4.7.1 Too many faxes from <alice@example.com>: the limit is 3 fax numbers per hour, "
        "please try again later"
    ] * 2
    assert await store.count_numbers(since=NOW) == 3
    assert len(await two_stores[1].list_jobs()) == 3


async def test_a_mail_refused_in_a_group_rolls_nothing_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The refused mail writes nothing, so its group commits as it is: no transaction is undone
    and tried again job by job."""
    statements: list[str] = []
    execute = aiosqlite.Connection.execute

    def recording(self: aiosqlite.Connection, sql: str, parameters: Any = None) -> Any:
        statements.append(sql)
        return execute(self, sql, parameters)

    store = await SqliteStore.open(tmp_path / "db.sqlite3", tmp_path / "spool")
    monkeypatch.setattr(aiosqlite.Connection, "execute", recording)
    try:
        quota = QuotaSettings(global_per_hour=2)
        results = await asyncio.gather(
            *(
                store.enqueue(fax(sender, 1, n), backend="dry-run", lifetime=3600, now=NOW, quota=quota)
                for n, sender in enumerate(SENDERS * 2)
            ),
            return_exceptions=True,
        )
    finally:
        monkeypatch.undo()
        await store.close()
    assert [isinstance(r, Job) for r in results].count(True) == 2
    assert all(isinstance(r, Job | Deferral) for r in results), results
    assert "ROLLBACK" not in statements
