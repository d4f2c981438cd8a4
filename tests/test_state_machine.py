"""The table of job moves, enforced by the store on a real SQLite file.

Every (from, to, who, forced) combination is tried against the store: the moves in
``models.TRANSITIONS`` happen and are recorded with who made them, every other one raises
IllegalTransition and leaves the job and its history untouched.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections import deque
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mail2fax.models import (
    FINAL_STATES,
    MOVES,
    TRANSITIONS,
    Actor,
    Document,
    FaxRequest,
    IllegalTransition,
    Job,
    JobState,
    Move,
    Recipient,
)
from mail2fax.queue.base import Store
from mail2fax.queue.postgres import PostgresStore
from mail2fax.queue.schema import MIGRATIONS
from mail2fax.queue.sqlite import SqliteStore

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
STAGES = (Actor.INTAKE, Actor.SUBMIT, Actor.TRACK, Actor.NOTIFY, Actor.RETENTION)


def path_to(state: JobState) -> list[Move]:
    """The shortest chain of legal moves that takes a new (queued) job to ``state``."""
    routes: dict[JobState, list[Move]] = {JobState.QUEUED: []}
    waiting = deque([JobState.QUEUED])
    while waiting:
        here = waiting.popleft()
        for move in TRANSITIONS:
            if move.source is here and move.target not in routes:
                routes[move.target] = [*routes[here], move]
                waiting.append(move.target)
    return routes[state]


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """Each store backend in turn: both enforce the same table."""
    if request.param == "sqlite":
        opened: Store = await SqliteStore.open(tmp_path / "db.sqlite3", tmp_path / "spool")
    else:
        opened = await PostgresStore.open(request.getfixturevalue("pg_url"), tmp_path / "cache")
    yield opened
    await opened.close()


async def job_in(store: Store, state: JobState) -> Job:
    request = FaxRequest(
        sender="alice@example.com",
        recipients=(Recipient("+14155551212"),),
        cover_text="",
        documents=(Document("a.txt", "text/plain", b"a"),),
    )
    job = await store.enqueue(request, backend="dry-run", lifetime=3600, now=NOW)
    for move in path_to(state):
        moved = await store.transition(
            job.id, [move.source], move.target, actor=move.actor, now=NOW, forced=move.forced
        )
        assert moved is not None
        job = moved
    assert job.state is state
    return job


def test_every_state_is_reachable_and_every_unfinished_job_can_end() -> None:
    assert {state for state in JobState if path_to(state) or state is JobState.QUEUED} == set(JobState)
    for state in set(JobState) - FINAL_STATES:
        reachable = {move.target for move in TRANSITIONS if move.source is state}
        assert reachable - {state}, f"{state} is a dead end"


def test_only_an_operator_leaves_a_final_state_and_unknown_only_when_forced() -> None:
    leaving_final = [move for move in TRANSITIONS if move.source in FINAL_STATES]
    assert {move.actor for move in leaving_final} == {Actor.OPERATOR}
    assert {move.target for move in leaving_final} == {JobState.QUEUED}
    assert {move.source for move in leaving_final} == {JobState.FAILED, JobState.CANCELLED, JobState.UNKNOWN}
    assert [move.source for move in leaving_final if move.forced] == [JobState.UNKNOWN]
    assert not [move for move in TRANSITIONS if move.source in (JobState.SENT, JobState.ACCEPTED)]


def test_notify_and_retention_never_move_a_job() -> None:
    assert not [move for move in TRANSITIONS if move.actor in (Actor.NOTIFY, Actor.RETENTION, Actor.INTAKE)]


def test_the_table_has_no_duplicate_rows() -> None:
    keys = [(move.source, move.target, move.actor) for move in TRANSITIONS]
    assert len(keys) == len(set(keys))


@pytest.mark.parametrize("source", list(JobState), ids=str)
async def test_the_store_makes_exactly_the_moves_in_the_table(store: Store, source: JobState) -> None:
    standing = await job_in(store, source)
    history = await store.events(standing.id)
    for target, actor, forced in itertools.product(JobState, Actor, (False, True)):
        move = MOVES.get((source, target), {}).get(actor)
        if move is None or (move.forced and not forced):
            with pytest.raises(IllegalTransition):
                await store.transition(standing.id, [source], target, actor=actor, now=NOW, forced=forced)
            continue
        fresh = await job_in(store, source)
        moved = await store.transition(
            fresh.id, [source], target, actor=actor, now=NOW, detail="walked", forced=forced
        )
        assert moved is not None
        assert moved.state is target
        last = (await store.events(fresh.id))[-1]
        assert (last.state, last.actor, last.detail) == (target, actor, "walked")
    after = await store.get(standing.id)
    assert after is not None
    assert after.state is source
    assert await store.events(standing.id) == history


async def test_a_refused_move_among_allowed_ones_refuses_them_all(store: Store) -> None:
    job = await job_in(store, JobState.DEFERRED)
    with pytest.raises(IllegalTransition, match="operator may not move a job from sent to cancelled"):
        await store.transition(
            job.id, [JobState.DEFERRED, JobState.SENT], JobState.CANCELLED, actor=Actor.OPERATOR, now=NOW
        )
    with pytest.raises(IllegalTransition, match="from unknown to queued only when forced"):
        await store.transition(
            job.id, [JobState.FAILED, JobState.UNKNOWN], JobState.QUEUED, actor=Actor.OPERATOR, now=NOW
        )
    unchanged = await store.get(job.id)
    assert unchanged is not None
    assert unchanged.state is JobState.DEFERRED


async def test_history_written_before_actors_were_recorded_is_attributed(tmp_path: Path) -> None:
    """A queue from the first schema version: operator lines and intake's first line get their actor."""
    database = tmp_path / "old.sqlite3"
    with sqlite3.connect(database) as raw:
        raw.executescript(MIGRATIONS[0] + "; PRAGMA user_version = 1;")
        raw.execute(
            "INSERT INTO jobs (id, sender, recipients, cover_text, options, state, created_at, updated_at, "
            "expires_at) VALUES ('abc123', 'a@example.com', '[]', '', '{}', 'queued', 0, 0, 0)"
        )
        raw.executemany(
            "INSERT INTO events (job_id, at, state, detail) VALUES ('abc123', 0, ?, ?)",
            [("queued", "from a@example.com"), ("submitting", None), ("queued", "operator bob: retry")],
        )
    store = await SqliteStore.open(database, tmp_path / "spool")
    try:
        events = await store.events("abc123")
    finally:
        await store.close()
    assert [event.actor for event in events] == [Actor.INTAKE, None, Actor.OPERATOR]
