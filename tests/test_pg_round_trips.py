"""What an accepted mail costs the PostgreSQL queue, counted at both ends.

The server counts statements (pg_stat_statements): five per mail (its duplicate key, job,
document, document bytes and first history row) and three per group commit (BEGIN, COMMIT, and
reading the group's jobs back). The client counts its waits for the server (libpq's protocol
trace): the statements of a group go out pipelined, so it waits once per mail (for the duplicate
key's answer) and four times per group (BEGIN, sending the rows, COMMIT, the read-back). The
benchmark reports the same counts (``python -m bench --only bridges``: ``bench/pg.py``,
``bench/round_trips.py``), so a statement or a wait added to intake shows up here first.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest

from bench.pg import SETTINGS
from bench.round_trips import WHEN, mail, measure
from mail2fax.queue.postgres import PostgresStore
from tests.pg_server import PostgresServer

PER_MAIL = (
    "INSERT INTO duplicate_keys",
    "INSERT INTO jobs",
    "INSERT INTO documents",
    "INSERT INTO document_chunks",
    "INSERT INTO events",
)
PER_GROUP = ("BEGIN", "COMMIT", "SELECT … FROM jobs WHERE id IN (…)")
WAITS_PER_GROUP = 4


@pytest.fixture(scope="module")
def counting_server() -> Iterator[PostgresServer]:
    server = PostgresServer(settings=SETTINGS).start()
    try:
        with psycopg.connect(server.url(), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION pg_stat_statements")
        yield server
    finally:
        server.stop()


@pytest.fixture
async def store(counting_server: PostgresServer, tmp_path: Path) -> AsyncIterator[tuple[PostgresStore, str]]:
    url = counting_server.new_database()
    opened = await PostgresStore.open(url, tmp_path)
    try:
        yield opened, url
    finally:
        await opened.close()
        counting_server.drop_database(url)


async def test_a_mail_committed_alone_costs_eight_statements_and_five_waits(
    store: tuple[PostgresStore, str], counting_server: PostgresServer
) -> None:
    opened, url = store

    async def alone() -> None:
        await opened.enqueue(mail("<alone@x>"), backend="dry-run", lifetime=3600, now=WHEN)

    found = await measure(opened, url, counting_server.url(), alone, 1)
    assert found["statements"] == dict.fromkeys((*PER_MAIL, *PER_GROUP), 1)
    assert found["waits"] == 1 + WAITS_PER_GROUP


async def test_mails_committed_together_share_the_commit_and_wait_once_each(
    store: tuple[PostgresStore, str], counting_server: PostgresServer
) -> None:
    opened, url = store
    mails = 20

    async def together() -> None:
        await asyncio.gather(
            *(
                opened.enqueue(mail(f"<{n}@x>"), backend="dry-run", lifetime=3600, now=WHEN)
                for n in range(mails)
            )
        )

    found = await measure(opened, url, counting_server.url(), together, mails)
    groups = found["statements"]["COMMIT"]
    assert 1 <= groups < mails
    assert found["statements"] == {**dict.fromkeys(PER_MAIL, mails), **dict.fromkeys(PER_GROUP, groups)}
    assert found["waits"] == mails + WAITS_PER_GROUP * groups
