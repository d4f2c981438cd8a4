"""A bridge whose clock disagrees with the database's would take live leases or hold dead ones:
it refuses to start, and says once when its clock drifts that far while it runs."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mail2fax.clock import WallClock
from mail2fax.errors import ConfigError
from mail2fax.queue.pg_clock import ClockWatch, allowed_skew, skew_problem
from mail2fax.queue.postgres import PostgresStore


def off_by(seconds: float) -> WallClock:
    return lambda: datetime.now(UTC) + timedelta(seconds=seconds)


@pytest.mark.parametrize(("seconds", "words"), [(120, "120 s ahead of"), (-90, "90 s behind")])
async def test_a_bridge_with_a_wrong_clock_refuses_to_start(
    pg_url: str, tmp_path: Path, seconds: float, words: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        await PostgresStore.open(pg_url, tmp_path, lease=60, wall=off_by(seconds))
    message = str(refused.value)
    assert words in message
    assert "within 15 s" in message
    assert "\n" not in message
    assert "postgresql://" not in message


async def test_a_bridge_within_the_allowed_skew_starts(pg_url: str, tmp_path: Path) -> None:
    store = await PostgresStore.open(pg_url, tmp_path, lease=60, wall=off_by(10))
    await store.close()


@given(skew=st.floats(-1e6, 1e6), lease=st.floats(1, 3600))
def test_the_allowed_skew_is_a_quarter_of_the_lease(skew: float, lease: float) -> None:
    assert (skew_problem(skew, lease) is None) == (abs(skew) <= allowed_skew(lease) == lease / 4)


async def test_a_drift_while_running_is_logged_once_when_it_starts_and_once_when_it_ends(
    pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    offset = [0.0]
    watch = ClockWatch(lambda: datetime.now(UTC) + timedelta(seconds=offset[0]), lease=60)
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
        with caplog.at_level(logging.WARNING, logger="mail2fax.store"):
            await watch.check(conn)
            offset[0] = 300.0
            await watch.check(conn)
            await watch.check(conn)
            offset[0] = 0.0
            await watch.check(conn)
    messages = [(record.levelno, record.getMessage()) for record in caplog.records]
    assert len(messages) == 2
    assert messages[0][0] == logging.ERROR
    assert "300 s ahead of the PostgreSQL server's" in messages[0][1]
    assert "agrees with the PostgreSQL server's again" in messages[1][1]
