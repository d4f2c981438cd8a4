"""The benchmark's own PostgreSQL server, durable, and what it counts: statements and transactions.

The server is the test suite's (``tests/pg_server.py``: initdb and pg_ctl from the installed
server programs, a unix socket in a temporary directory, no TCP port) with PostgreSQL's durable
defaults kept (fsync, synchronous commit, full page writes), as SQLite syncs too. It loads
``pg_stat_statements``, which counts every statement each database received as the server saw it,
so the count needs nothing from the client.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import psycopg

from tests.pg_server import PostgresServer

SETTINGS = {
    "max_connections": "200",
    "shared_preload_libraries": "pg_stat_statements",
    "pg_stat_statements.track_utility": "on",
}

# What each statement of the intake path does; anything else is the work of the stages
# (submit, track, notify, lease renewal) that run beside intake.
INTAKE_STATEMENTS = (
    ("BEGIN", re.compile(r"^BEGIN\b", re.IGNORECASE), "opens the group's transaction"),
    (
        "INSERT INTO duplicate_keys",
        re.compile(r"^INSERT INTO duplicate_keys"),
        "claims the mail's duplicate key (a unique key; ON CONFLICT decides)",
    ),
    ("INSERT INTO jobs", re.compile(r"^INSERT INTO jobs"), "the job's row"),
    (
        "INSERT INTO documents",
        re.compile(r"^INSERT INTO documents"),
        "a row per document (its name, type, size)",
    ),
    (
        "INSERT INTO document_chunks",
        re.compile(r"^INSERT INTO document_chunks"),
        "the document's bytes, a row per MiB",
    ),
    ("INSERT INTO events", re.compile(r"^INSERT INTO events .*VALUES"), "the job's first history row"),
    ("COMMIT", re.compile(r"^COMMIT\b", re.IGNORECASE), "commits the group: one WAL flush"),
    (
        "SELECT … FROM jobs WHERE id IN (…)",
        re.compile(r"^SELECT .* FROM jobs WHERE id IN \("),
        "reads the group's jobs back, after the commit",
    ),
)


def describe_statement(query: str) -> str:
    """The name of an intake statement, or ``other: <its start>``."""
    for name, pattern, _ in INTAKE_STATEMENTS:
        if pattern.search(query.strip()):
            return name
    return "other: " + " ".join(query.split())[:70]


@dataclass
class Counts:
    """Statements one database received over a round, by kind, and the mails accepted meanwhile."""

    mails: int
    statements: dict[str, int]

    def per_mail(self, name: str) -> float:
        return self.statements.get(name, 0) / self.mails

    @property
    def intake(self) -> int:
        return sum(calls for name, calls in self.statements.items() if not name.startswith("other"))

    @property
    def other(self) -> int:
        return sum(calls for name, calls in self.statements.items() if name.startswith("other"))


class BenchDatabase:
    """A durable PostgreSQL server for the run, a fresh database per round."""

    def __init__(self, parent: Path):
        self.server = PostgresServer(durable=True, settings=SETTINGS, parent=parent)

    def start(self) -> BenchDatabase:
        self.server.start()
        with psycopg.connect(self.server.url(), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        return self

    def stop(self) -> None:
        self.server.stop()

    @property
    def pid(self) -> int:
        return self.server.pid()

    def new_database(self) -> str:
        return self.server.new_database()

    def drop(self, url: str) -> None:
        self.server.drop_database(url)

    def settings(self) -> list[tuple[str, str]]:
        """The server's version and the settings that decide what a commit costs."""
        names = (
            "fsync",
            "synchronous_commit",
            "full_page_writes",
            "wal_sync_method",
            "commit_delay",
            "shared_buffers",
            "max_connections",
            "shared_preload_libraries",
        )
        with psycopg.connect(self.server.url(), autocommit=True) as conn:
            shown = {name: conn.execute(f"SHOW {name}").fetchone() for name in ("server_version", *names)}
        return [(name, str(row[0]) if row else "?") for name, row in shown.items()]

    def reset_counts(self) -> None:
        reset_statements(self.server.url())

    def counts(self, url: str, mails: int) -> Counts:
        return Counts(mails, statement_counts(self.server.url(), url))


def reset_statements(admin_url: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_statements_reset()")


def statement_counts(admin_url: str, url: str) -> dict[str, int]:
    """What the database of ``url`` received since the last reset, statement by kind."""
    name = url.split("?")[0].rsplit("/", 1)[1]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT s.query, s.calls FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid "
            "WHERE d.datname = %s",
            (name,),
        ).fetchall()
    statements: Counter[str] = Counter()
    for query, calls in rows:
        statements[describe_statement(query)] += int(calls)
    return dict(statements)
