"""Opening the connection pool of the PostgreSQL queue, with one line that says why it failed."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import AsyncConnectionPool

from mail2fax.errors import StoreUnavailable

Pool = AsyncConnectionPool[psycopg.AsyncConnection[tuple[Any, ...]]]

# Seconds the one connection that asks for the reason of a failed start may take.
REASON_TIMEOUT = 5.0


def describe(url: str) -> str:
    """Where a database URL points, without its password."""
    try:
        parts = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "the configured database"
    return f"database {parts.get('dbname', '?')} on {parts.get('host') or 'the local socket'}"


def one_line(exc: BaseException) -> str:
    """libpq's message (which never holds the password) on one printable line."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return "".join(c if c.isprintable() else "?" for c in text)


async def _reason(url: str) -> psycopg.Error | None:
    """Why one connection outside the pool fails (the pool only logs its attempts), or None."""
    try:
        async with asyncio.timeout(REASON_TIMEOUT):
            connection = await psycopg.AsyncConnection.connect(url)
    except psycopg.Error as exc:
        return exc
    except TimeoutError:
        return None
    await connection.close()
    return None


async def open_pool(url: str, connect_timeout: float) -> Pool:
    """An open pool on ``url``, or :class:`StoreUnavailable` naming the database and the reason."""
    pool: Pool = AsyncConnectionPool(
        url, min_size=1, max_size=8, kwargs={"autocommit": True}, open=False, name="mail2fax"
    )
    try:
        await pool.open(wait=True, timeout=connect_timeout)
    except Exception as exc:
        await pool.close()
        reason = one_line(await _reason(url) or exc)
        raise StoreUnavailable(f"cannot open the PostgreSQL queue ({describe(url)}): {reason}") from exc
    return pool
