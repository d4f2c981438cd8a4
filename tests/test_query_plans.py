"""Every statement the SQLite store issues, with the query plan SQLite chooses for it.

The statements are recorded while every method of the store runs against a real file, then each
is explained (``EXPLAIN QUERY PLAN``) and compared with the table below. A statement on the intake
path or in a stage's cycle may read only through an index, never sort in a temporary B-tree, and
scan an index only when it is a partial index holding exactly the rows asked for, so its cost does
not grow with the queue. A new or changed statement fails here until its plan is in the table.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiosqlite
import pytest

from mail2fax.models import (
    FINAL_STATES,
    SUBMITTABLE_STATES,
    TRACKED_STATES,
    Actor,
    Document,
    FaxRequest,
    Recipient,
)
from mail2fax.models import JobState as S
from mail2fax.queue import schema
from mail2fax.queue.base import Store
from mail2fax.queue.schema import JOB_COLUMNS
from mail2fax.queue.sqlite import SqliteStore
from mail2fax.settings import QuotaSettings

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
BEFORE = NOW - timedelta(days=1)
JOBS = "SELECT {JOB_COLUMNS} FROM jobs"
SUBMIT = Actor.SUBMIT
QUOTA = QuotaSettings(sender_per_hour=10, global_per_day=100)

# Where a statement runs. Only "start-up", "operator" and "metrics" statements may scan.
HOT = ("intake", "submit", "track", "notify", "retention", "health")


@dataclass(frozen=True)
class Plan:
    used_by: str
    plan: tuple[str, ...]


PLANS: dict[str, Plan] = {
    # intake: the duplicate check, the inserts, the committed jobs read back
    "SELECT id, recipients, options, cover_text FROM jobs INDEXED BY jobs_by_message_id "
    "WHERE message_id = ? AND sender = ? AND content_digest = ? AND created_at >= ? "
    "ORDER BY created_at": Plan(
        "intake", ("SEARCH jobs USING INDEX jobs_by_message_id (message_id=? AND created_at>?)",)
    ),
    "INSERT INTO jobs (id, sender, recipients, number_count, cover_text, options, state, created_at, "
    "updated_at, next_attempt_at, expires_at, message_id, subject, content_digest, backend, notify, "
    "document_pages, client_address, helo_name, auth_user) VALUES (?, …)": Plan("intake", ()),
    "INSERT INTO documents (job_id, position, filename, content_type, size, path, pages) VALUES (?, …)": Plan(
        "intake", ()
    ),
    "INSERT INTO events (job_id, at, state, detail, actor) VALUES (?, …)": Plan("intake", ()),
    f"{JOBS} WHERE id IN (?, …)": Plan("intake", ("SEARCH jobs USING INDEX sqlite_autoindex_jobs_1 (id=?)",)),
    f"{JOBS} WHERE id = ?": Plan("intake", ("SEARCH jobs USING INDEX sqlite_autoindex_jobs_1 (id=?)",)),
    # quotas (intake, when configured): counted in the window, which the limit keeps short; early
    # by the gate, then in the transaction that queues the mail
    "SELECT SUM(number_count) FROM jobs WHERE created_at >= ?": Plan(
        "intake", ("SEARCH jobs USING COVERING INDEX jobs_by_created (created_at>?)",)
    ),
    "SELECT SUM(number_count) FROM jobs WHERE sender = ? AND created_at >= ?": Plan(
        "intake", ("SEARCH jobs USING COVERING INDEX jobs_by_sender (sender=? AND created_at>?)",)
    ),
    # submit: the rate-limit windows that outlive a restart (Heavy and Auth requests only)
    "INSERT INTO rate_events (rate_group, kind, at) VALUES (?, 'request', ?)": Plan("submit", ()),
    "INSERT INTO rate_events (rate_group, kind, at) VALUES (?, 'pause', ?)": Plan("submit", ()),
    "DELETE FROM rate_events WHERE rate_group = ? AND kind = ? AND at < ?": Plan(
        "submit",
        ("SEARCH rate_events USING INDEX rate_events_by_group (rate_group=? AND kind=? AND at<?)",),
    ),
    "SELECT at FROM rate_events WHERE rate_group = ? AND kind = 'request' AND at >= ? ORDER BY at": Plan(
        "submit",
        ("SEARCH rate_events USING COVERING INDEX rate_events_by_group (rate_group=? AND kind=? AND at>?)",),
    ),
    "SELECT MAX(at) FROM rate_events WHERE rate_group = ? AND kind = 'pause'": Plan(
        "submit", ("SEARCH rate_events USING COVERING INDEX rate_events_by_group (rate_group=? AND kind=?)",)
    ),
    "UPDATE rate_events SET at = MAX(at, ?) WHERE rowid = ?": Plan(
        "submit", ("SEARCH rate_events USING INTEGER PRIMARY KEY (rowid=?)",)
    ),
    # submit
    f"{JOBS} INDEXED BY jobs_due WHERE {schema.DUE_CONDITION} AND next_attempt_at <= ? "
    "ORDER BY next_attempt_at, created_at LIMIT ?": Plan(
        "submit", ("SEARCH jobs USING INDEX jobs_due (next_attempt_at<?)",)
    ),
    f"SELECT MIN(next_attempt_at) FROM jobs INDEXED BY jobs_due WHERE {schema.DUE_CONDITION}": Plan(
        "submit", ("SEARCH jobs USING INDEX jobs_due",)
    ),
    f"{JOBS} WHERE state IN (?, …) ORDER BY created_at LIMIT ?": Plan(
        "submit", ("SEARCH jobs USING INDEX jobs_by_state_age (state=?)",)
    ),
    "SELECT backend_id FROM jobs WHERE backend_id IS NOT NULL AND submitted_at >= ?": Plan(
        "submit", ("SEARCH jobs USING INDEX jobs_by_submitted_at (submitted_at>?)",)
    ),
    "UPDATE jobs SET state = ?, updated_at = ?, attempts = ?, submit_started_at = ? "
    "WHERE id = ? AND state IN (?, …)": Plan(
        "submit", ("SEARCH jobs USING INDEX sqlite_autoindex_jobs_1 (id=?)",)
    ),
    "SELECT position, filename, content_type, size, path, pages FROM documents "
    "WHERE job_id = ? ORDER BY position": Plan(
        "submit", ("SEARCH documents USING INDEX sqlite_autoindex_documents_1 (job_id=?)",)
    ),
    # track
    f"{JOBS} INDEXED BY jobs_tracked WHERE {schema.TRACKED_CONDITION} ORDER BY created_at LIMIT ?": Plan(
        "track", ("SCAN jobs USING INDEX jobs_tracked",)
    ),
    # notify
    f"{JOBS} INDEXED BY jobs_awaiting_notification WHERE notified_at IS NULL AND {schema.FINAL_CONDITION} "
    "AND (notify_next_at IS NULL OR notify_next_at <= ?) ORDER BY finished_at LIMIT ?": Plan(
        "notify", ("SCAN jobs USING INDEX jobs_awaiting_notification",)
    ),
    "UPDATE jobs SET notified_at = ?, failures = 0 WHERE id = ?": Plan(
        "notify", ("SEARCH jobs USING INDEX sqlite_autoindex_jobs_1 (id=?)",)
    ),
    # any stage, when a job raised something unexpected (stages/boundary.py)
    "SELECT state, failures FROM jobs WHERE id = ?": Plan(
        "notify", ("SEARCH jobs USING INDEX sqlite_autoindex_jobs_1 (id=?)",)
    ),
    "UPDATE jobs SET failures = ?, next_attempt_at = coalesce(?, next_attempt_at), last_error = ? "
    "WHERE id = ?": Plan("submit", ("SEARCH jobs USING INDEX sqlite_autoindex_jobs_1 (id=?)",)),
    "UPDATE jobs SET failures = ?, notify_next_at = coalesce(?, notify_next_at) WHERE id = ?": Plan(
        "notify", ("SEARCH jobs USING INDEX sqlite_autoindex_jobs_1 (id=?)",)
    ),
    "INSERT INTO events (job_id, at, state, detail, actor) "
    "SELECT id, ?, state, ?, ? FROM jobs WHERE id = ?": Plan(
        "notify", ("SEARCH jobs USING INDEX sqlite_autoindex_jobs_1 (id=?)",)
    ),
    "UPDATE jobs SET notify_next_at = ? WHERE id = ?": Plan(
        "notify", ("SEARCH jobs USING INDEX sqlite_autoindex_jobs_1 (id=?)",)
    ),
    # retention
    f"SELECT id FROM jobs INDEXED BY jobs_holding_documents WHERE documents_purged_at IS NULL AND "
    f"{schema.FINAL_CONDITION} AND (notified_at IS NOT NULL OR notify = 0) AND finished_at < ? "
    "AND failures < ?": Plan(
        "retention", ("SEARCH jobs USING INDEX jobs_holding_documents (finished_at<?)",)
    ),
    "UPDATE jobs SET documents_purged_at = ? WHERE id = ? AND documents_purged_at IS NULL": Plan(
        "retention", ("SEARCH jobs USING INDEX sqlite_autoindex_jobs_1 (id=?)",)
    ),
    # health: a real write, and the status mails waiting (a partial index of exactly those)
    "INSERT INTO health (id, checked_at) VALUES (1, ?) "
    "ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at": Plan("health", ()),
    "SELECT COUNT(*), MIN(finished_at) FROM jobs INDEXED BY jobs_awaiting_notification "
    f"WHERE notified_at IS NULL AND {schema.FINAL_CONDITION}": Plan(
        "health", ("SCAN jobs USING INDEX jobs_awaiting_notification",)
    ),
    # operator commands, metrics and start-up: these may read everything they list
    f"{JOBS} ORDER BY created_at DESC LIMIT ?": Plan("operator", ("SCAN jobs USING INDEX jobs_by_created",)),
    f"{JOBS} WHERE state IN (?, …) ORDER BY created_at DESC LIMIT ?": Plan(
        "operator", ("SEARCH jobs USING INDEX jobs_by_state_age (state=?)", "USE TEMP B-TREE FOR ORDER BY")
    ),
    "SELECT at, state, detail, actor FROM events WHERE job_id = ? ORDER BY id": Plan(
        "operator", ("SEARCH events USING INDEX events_by_job (job_id=?)",)
    ),
    "SELECT id FROM jobs WHERE state IN (?, …) AND finished_at < ? "
    "AND (notified_at IS NOT NULL OR notify = 0)": Plan(
        "operator", ("SEARCH jobs USING INDEX jobs_by_state_age (state=?)",)
    ),
    "UPDATE jobs INDEXED BY jobs_awaiting_notification SET notify_next_at = ? "
    f"WHERE notified_at IS NULL AND {schema.FINAL_CONDITION} AND notify_next_at > ?": Plan(
        "operator", ("SCAN jobs USING INDEX jobs_awaiting_notification",)
    ),
    "DELETE FROM jobs WHERE id = ?": Plan(
        "operator", ("SEARCH jobs USING INDEX sqlite_autoindex_jobs_1 (id=?)",)
    ),
    "SELECT state, COUNT(*) FROM jobs GROUP BY state": Plan(
        "metrics", ("SCAN jobs USING COVERING INDEX jobs_by_state_age",)
    ),
    "SELECT id FROM jobs WHERE documents_purged_at IS NULL": Plan("start-up", ("SCAN jobs",)),
}

NOT_EXPLAINED = re.compile(r"^(BEGIN|COMMIT|ROLLBACK|PRAGMA)\b")


def normalised(sql: str) -> str:
    text = " ".join(sql.replace(JOB_COLUMNS, "{JOB_COLUMNS}").split())
    return re.sub(r"\(\?(, \?)*\)", "(?, …)", text)


def request(message_id: str) -> FaxRequest:
    return FaxRequest(
        sender="alice@example.com",
        recipients=(Recipient("+14155551212"),),
        cover_text="",
        documents=(Document("scan.pdf", "application/pdf", b"%PDF-1.4 x"),),
        message_id=message_id,
        content_digest="d",
    )


async def drive(store: Store) -> dict[str, Callable[[], Awaitable[Any]]]:
    """One call of every method of the store, on jobs in every state that matters."""
    first = await store.enqueue(request("<1@x>"), backend="dry-run", lifetime=3600, now=BEFORE)
    second = await store.enqueue(request("<2@x>"), backend="dry-run", lifetime=3600, now=BEFORE)
    await store.transition(
        first.id, [S.QUEUED], S.SUBMITTING, actor=SUBMIT, now=BEFORE, attempts=1, submit_started_at=BEFORE
    )
    await store.transition(
        first.id,
        [S.SUBMITTING],
        S.SENT,
        actor=SUBMIT,
        now=BEFORE,
        backend_id="f1",
        submitted_at=BEFORE,
        finished_at=BEFORE,
    )
    await store.transition(
        second.id, [S.QUEUED], S.SUBMITTING, actor=SUBMIT, now=BEFORE, attempts=1, submit_started_at=BEFORE
    )
    since = NOW - timedelta(days=2)
    return {
        "enqueue": lambda: store.enqueue(
            request("<3@x>"), backend="dry-run", lifetime=3600, now=NOW, duplicate_since=since, quota=QUOTA
        ),
        "get": lambda: store.get(first.id),
        "transition": lambda: store.transition(
            "absent", [S.QUEUED], S.SUBMITTING, actor=SUBMIT, now=NOW, attempts=1, submit_started_at=NOW
        ),
        "due": lambda: store.due(NOW, 10),
        "next_due_at": store.next_due_at,
        "in_states": lambda: store.in_states([S.SUBMITTING]),
        "interrupted": lambda: store.interrupted(NOW),
        "tracked": lambda: store.tracked(NOW),
        "list_jobs": lambda: _both(store.list_jobs(), store.list_jobs([S.QUEUED, S.SENT])),
        "count_by_state": store.count_by_state,
        "documents": lambda: store.documents(first.id),
        "local_documents": lambda: store.local_documents(first.id),
        "events": lambda: store.events(first.id),
        "backend_ids_submitted_since": lambda: store.backend_ids_submitted_since(since),
        "awaiting_notification": lambda: store.awaiting_notification(NOW, 100),
        "mark_notified": lambda: store.mark_notified(first.id, NOW, "sent"),
        "postpone_notification": lambda: store.postpone_notification(first.id, NOW),
        "flush_notifications": lambda: store.flush_notifications(NOW),
        "count_numbers": lambda: _both(
            store.count_numbers(since=since), store.count_numbers(since=since, sender="a@x")
        ),
        "record_failure": lambda: _both(
            store.record_failure(second.id, actor=SUBMIT, now=NOW, detail="internal error", retry_at=NOW),
            store.record_failure(
                first.id, actor=Actor.NOTIFY, now=NOW, detail="internal error", retry_at=NOW
            ),
        ),
        "expired_documents": lambda: store.expired_documents(finished_before=NOW, max_failures=5),
        "delete_documents": lambda: store.delete_documents(first.id, now=NOW),
        "delete_jobs": lambda: store.delete_jobs(finished_before=NOW),
        "remove_orphans": store.remove_orphans,
        "check_writable": store.check_writable,
        "bridges": store.bridges,
        "record_rate_request": lambda: store.record_rate_request("heavy", NOW),
        "record_rate_pause": lambda: store.record_rate_pause("heavy", NOW),
        "rate_window": lambda: store.rate_window("heavy", BEFORE),
        "take_rate_slot": lambda: store.take_rate_slot("heavy", NOW, 10, 60.0),
        "finish_rate_slot": lambda: store.finish_rate_slot(1, NOW),
        "status_mail_backlog": store.status_mail_backlog,
        "close": _nothing,
    }


async def _both(one: Awaitable[Any], other: Awaitable[Any]) -> None:
    await one
    await other


async def _nothing() -> None:
    return None


@pytest.fixture
async def issued(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict[str, str]]:
    """The database file and every statement the store sent to SQLite while each method ran once."""
    statements: set[str] = set()
    execute, executemany = aiosqlite.Connection.execute, aiosqlite.Connection.executemany

    def recording_execute(self: aiosqlite.Connection, sql: str, parameters: Any = None) -> Any:
        statements.add(sql)
        return execute(self, sql, parameters)

    def recording_executemany(self: aiosqlite.Connection, sql: str, parameters: Any) -> Any:
        statements.add(sql)
        return executemany(self, sql, parameters)

    store = await SqliteStore.open(tmp_path / "db.sqlite3", tmp_path / "spool")
    try:
        calls = await drive(store)
        methods = {name for name in dir(Store) if not name.startswith("_")}
        assert set(calls) == methods, "every method of the store is called here"
        monkeypatch.setattr(aiosqlite.Connection, "execute", recording_execute)
        monkeypatch.setattr(aiosqlite.Connection, "executemany", recording_executemany)
        for call in calls.values():
            await call()
    finally:
        monkeypatch.undo()
        await store.close()
    return tmp_path / "db.sqlite3", {
        normalised(sql): sql for sql in statements if not NOT_EXPLAINED.match(sql)
    }


def plan_of(database: sqlite3.Connection, sql: str) -> tuple[str, ...]:
    rows = database.execute(f"EXPLAIN QUERY PLAN {sql}", [None] * sql.count("?")).fetchall()
    return tuple(row[3] for row in rows)


def partial_indexes(database: sqlite3.Connection) -> set[str]:
    rows = database.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
    return {name for name, sql in rows if " WHERE " in sql.upper()}


def test_every_statement_has_the_plan_in_the_table(issued: tuple[Path, dict[str, str]]) -> None:
    path, statements = issued
    with sqlite3.connect(path) as database:
        actual = {statement: plan_of(database, sql) for statement, sql in statements.items()}
    unknown = {s: p for s, p in actual.items() if s not in PLANS}
    assert not unknown, f"statements missing from PLANS (with their plans): {unknown}"
    wrong = {s: p for s, p in actual.items() if PLANS[s].plan != p}
    assert not wrong, f"plans differ from PLANS: {wrong}"
    stale = set(PLANS) - set(actual)
    assert not stale, f"PLANS lists statements the store no longer issues: {stale}"


def test_hot_statements_neither_sort_nor_scan_the_queue(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "db.sqlite3") as database:
        for script in schema.MIGRATIONS:
            database.executescript(script)
        allowed_scans = partial_indexes(database)
    assert {"jobs_due", "jobs_tracked", "jobs_awaiting_notification"} <= allowed_scans
    for statement, entry in PLANS.items():
        if entry.used_by not in HOT:
            continue
        for step in entry.plan:
            assert "TEMP B-TREE" not in step, (statement, step)
            if step.startswith("SCAN "):
                index = step.rpartition(" ")[2]
                assert index in allowed_scans, (statement, step)


def test_partial_index_conditions_name_the_states_of_the_models() -> None:
    def states(condition: str) -> set[str]:
        return set(re.findall(r"'(\w+)'", condition))

    assert states(schema.DUE_CONDITION) == {s.value for s in SUBMITTABLE_STATES}
    assert states(schema.TRACKED_CONDITION) == {s.value for s in TRACKED_STATES}
    assert states(schema.FINAL_CONDITION) == {s.value for s in FINAL_STATES}
