"""Shared fixtures: the daemon as it runs in production, a RingCentral emulator and a capture relay."""

from __future__ import annotations

import asyncio
import gc
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite
import pytest

from mail2fax.app import Daemon
from mail2fax.settings import Settings
from tests.capture import CaptureRelay
from tests.contract import Contract
from tests.emulator import RingCentralEmulator
from tests.pg_server import PostgresServer


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings come from each test, never from the developer's shell."""
    for name in list(os.environ):
        if name.startswith("MAIL2FAX_") or name == "NOTIFY_SOCKET":
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """One real PostgreSQL server for the whole run, on a unix socket of its own."""
    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(pg_server: PostgresServer) -> Iterator[str]:
    """The URL of a fresh database on the test server, dropped afterwards."""
    url = pg_server.new_database()
    try:
        yield url
    finally:
        pg_server.drop_database(url)


@pytest.fixture
async def relay() -> AsyncIterator[CaptureRelay]:
    async with CaptureRelay() as capture:
        yield capture


@pytest.fixture
async def rc() -> AsyncIterator[RingCentralEmulator]:
    async with RingCentralEmulator() as emulator:
        # The daemon under test reads statuses every 50 ms, not every 30 s: give it Light room.
        emulator.set_limit("Light", 10_000, 60)
        # Every request mail2fax sends and every answer the emulator gives follows the schema.
        emulator.contract = Contract()
        yield emulator
        violations = emulator.check_contract()
        assert violations == [], "\n".join(violations[:20])


def settings_for(data_dir: Path, relay: CaptureRelay, **overrides: Any) -> Settings:
    """Settings for a daemon under test: port 0, fast cycles, this relay, this data directory."""
    values: dict[str, Any] = {
        "backend": "dry-run",
        "data_dir": data_dir,
        # One intake process: tests that watch intake in this process see every mail.
        "smtp": {"host": "127.0.0.1", "port": 0, "hostname": "mail2fax.test", "processes": 1},
        "relay": {"host": "127.0.0.1", "port": relay.port},
        "notify": {"from": "mail2fax@gateway.test", "interval": 0.05},
        "track": {"interval": 0.05},
        "submit": {"interval": 0.2},
        "retry": {"min_backoff": 0.05, "max_backoff": 0.2},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(values.get(key), dict):
            values[key] = {**values[key], **value}
        else:
            values[key] = value
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def ringcentral_overrides(rc: RingCentralEmulator, **ringcentral: Any) -> dict[str, Any]:
    return {
        "backend": "ringcentral",
        "ringcentral": {
            "server_url": rc.base_url,
            "client_id": "test-client",
            "client_secret": "test-secret",
            "jwt": "test-jwt",
            "timeout": 5.0,
            "light_limit": 10_000,
            **ringcentral,
        },
    }


@asynccontextmanager
async def running(settings: Settings, **daemon_options: Any) -> AsyncIterator[Daemon]:
    """Run the daemon exactly as ``mail2fax serve`` does, in this event loop, until the block ends."""
    daemon = Daemon(settings, **daemon_options)
    stop = asyncio.Event()
    task = asyncio.create_task(daemon.run(stop))
    ready = asyncio.create_task(daemon.ready.wait())
    await asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED, timeout=15)
    if task.done():
        ready.cancel()
        task.result()
    assert daemon.ready.is_set(), "the daemon did not start"
    try:
        yield daemon
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)


async def wait_until(condition: Callable[[], bool], *, timeout: float = 15.0, what: str = "") -> None:
    """Wait for a condition that another task of this loop makes true."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)
    assert condition(), what


async def eventually(check: Callable[[], Awaitable[bool]], *, timeout: float = 15.0) -> None:
    """Wait for an asynchronous condition, such as a job's state in the store, to become true."""
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.01)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Stop the worker thread of every SQLite connection a failed test left open.

    aiosqlite's worker threads are not daemon threads: one connection kept alive by a failing
    test's traceback would keep the test process from ever exiting, and CI from finishing.
    """
    for leaked in [obj for obj in gc.get_objects() if isinstance(obj, aiosqlite.Connection)]:
        if leaked._running:  # the connection's own flag: close() or stop() clears it
            leaked.stop()
