"""What an accepted mail costs the PostgreSQL queue, as the server itself counts (pg_stat_statements).

Five statements per mail (its duplicate key, job, document, document bytes and first history
row) and three per group commit (BEGIN, COMMIT, and reading the group's jobs back): eight for a
mail committed alone, fewer per mail as mails share a commit. The benchmark reports the same
counts under load (``python -m bench --only bridges``, ``bench/pg.py``) and names the statements
as this test does, so a statement added to intake shows up here first.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest

from bench.pg import SETTINGS, describe_statement
from mail2fax.models import FaxRequest
from mail2fax.queue.postgres import PostgresStore
from tests.pg_server import PostgresServer
from tests.test_store import NOW, request

PER_MAIL = (
    "INSERT INTO duplicate_keys",
    "INSERT INTO jobs",
    "INSERT INTO documents",
    "INSERT INTO document_chunks",
    "INSERT INTO events",
)
PER_GROUP = ("BEGIN", "COMMIT", "SELECT … FROM jobs WHERE id IN (…)")


def one_document(message_id: str) -> FaxRequest:
    """A mail with one small document, as the benchmark sends (each more document adds a row)."""
    mail = request(message_id=message_id)
    return replace(mail, documents=mail.documents[:1])


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
async def counted(
    counting_server: PostgresServer, tmp_path: Path
) -> AsyncIterator[tuple[PostgresStore, str]]:
    url = counting_server.new_database()
    store = await PostgresStore.open(url, tmp_path)
    try:
        with psycopg.connect(counting_server.url(), autocommit=True) as conn:
            conn.execute("SELECT pg_stat_statements_reset()")
        yield store, url
    finally:
        await store.close()
        counting_server.drop_database(url)


def statements(server_url: str, url: str) -> Counter[str]:
    database = url.split("?")[0].rsplit("/", 1)[1]
    with psycopg.connect(server_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT s.query, s.calls FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid "
            "WHERE d.datname = %s",
            (database,),
        ).fetchall()
    found: Counter[str] = Counter()
    for query, calls in rows:
        found[describe_statement(query)] += calls
    return found


async def test_a_mail_committed_alone_costs_eight_statements(
    counted: tuple[PostgresStore, str], counting_server: PostgresServer
) -> None:
    store, url = counted
    await store.enqueue(one_document("<alone@x>"), backend="dry-run", lifetime=3600, now=NOW)
    assert statements(counting_server.url(), url) == Counter(dict.fromkeys((*PER_MAIL, *PER_GROUP), 1))


async def test_mails_committed_together_share_the_commit_and_the_read_back(
    counted: tuple[PostgresStore, str], counting_server: PostgresServer
) -> None:
    store, url = counted
    mails = 20
    await asyncio.gather(
        *(
            store.enqueue(one_document(f"<{n}@x>"), backend="dry-run", lifetime=3600, now=NOW)
            for n in range(mails)
        )
    )
    found = statements(counting_server.url(), url)
    groups = found["COMMIT"]
    assert 1 <= groups < mails
    assert found == Counter({**dict.fromkeys(PER_MAIL, mails), **dict.fromkeys(PER_GROUP, groups)})
