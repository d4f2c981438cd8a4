"""The fixtures of the stage tests: a real SQLite queue on a temporary directory, a fake backend,
a clock that stands still, alerts that are remembered."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mail2fax.queue.sqlite import SqliteStore
from tests.stages.harness import Clock, FakeBackend, RecordingAlerts


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    opened = await SqliteStore.open(tmp_path / "queue.sqlite3", tmp_path / "spool")
    yield opened
    await opened.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
def alerts() -> RecordingAlerts:
    return RecordingAlerts()
