"""Bridges share leases written in their own clocks: each checks its clock against the database's.

A lease runs to a time one bridge wrote and another bridge reads. A bridge whose clock is ahead
would take live leases from the others (and send their faxes again); one whose clock is behind
would hold a dead bridge's jobs too long. So a bridge refuses to start when its clock is off by
more than a quarter of the lease, and says so, once, if its clock drifts that far later.
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg

from mail2fax.clock import WallClock
from mail2fax.errors import ConfigError
from mail2fax.outage import Outage

log = logging.getLogger("mail2fax.store")


def allowed_skew(lease: float) -> float:
    """The largest difference between a bridge's clock and the database's it accepts, in seconds."""
    return lease / 4


async def clock_skew(conn: psycopg.AsyncConnection[tuple[Any, ...]], wall: WallClock) -> float:
    """Seconds this host's clock is ahead of the database server's (negative when behind)."""
    before = wall().timestamp()
    cursor = await conn.execute("SELECT extract(epoch FROM clock_timestamp())::float8")
    row = await cursor.fetchone()
    after = wall().timestamp()
    assert row is not None
    return (before + after) / 2 - float(row[0])


def skew_problem(skew: float, lease: float) -> str | None:
    """What is wrong with a skew of ``skew`` seconds for leases of ``lease`` seconds, or None."""
    limit = allowed_skew(lease)
    if abs(skew) <= limit:
        return None
    direction = "ahead of" if skew > 0 else "behind"
    return (
        f"this host's clock is {abs(skew):.0f} s {direction} the PostgreSQL server's; bridges share "
        f"leases that need clocks within {limit:.0f} s of it (a quarter of MAIL2FAX_LEASE): "
        "set this host's time right (NTP)"
    )


async def refuse_a_wrong_clock(
    conn: psycopg.AsyncConnection[tuple[Any, ...]], wall: WallClock, lease: float
) -> None:
    """ConfigError, naming the difference, when this host's clock is too far from the database's."""
    problem = skew_problem(await clock_skew(conn, wall), lease)
    if problem is not None:
        raise ConfigError(problem)


class ClockWatch:
    """Checks, while the bridge runs, that its clock stays close to the database's."""

    def __init__(self, wall: WallClock, lease: float):
        self._wall = wall
        self._lease = lease
        self._drift = Outage(log, ended="this host's clock agrees with the PostgreSQL server's again")

    async def check(self, conn: psycopg.AsyncConnection[tuple[Any, ...]]) -> None:
        problem = skew_problem(await clock_skew(conn, self._wall), self._lease)
        if problem is None:
            self._drift.working()
        else:
            self._drift.failing(
                problem, f"{problem}; other bridges may take this bridge's jobs", level=logging.ERROR
            )
