"""The queue belongs to the daemon's user: private files whatever the umask, and no other user's writes."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from mail2fax.models import JobState
from mail2fax.queue.registry import open_store
from tests.capture import CaptureRelay
from tests.cli_runner import run_cli
from tests.conftest import running, settings_for
from tests.test_cli_queue import mail_a_fax, until_state


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The loosest umask there is: whatever mail2fax creates must still be private."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def modes(root: Path) -> dict[str, int]:
    found = {".": stat.S_IMODE(root.stat().st_mode)}
    for path in root.rglob("*"):
        found[str(path.relative_to(root))] = stat.S_IMODE(path.lstat().st_mode)
    return found


@pytest.mark.usefixtures("open_umask")
async def test_everything_under_the_data_directory_is_the_owners_alone(
    tmp_path: Path, relay: CaptureRelay
) -> None:
    data = tmp_path / "new" / "data"
    settings = settings_for(data, relay)
    async with running(settings) as daemon:
        job_id = await mail_a_fax(daemon.smtp_port or 0)
        await until_state(daemon.store, job_id, JobState.SENT)
        await relay.wait_for(1)
        seen = modes(data)  # while the database is open: the WAL and shared-memory files exist

    assert {"mail2fax.sqlite3-wal", "mail2fax.sqlite3-shm", f"spool/{job_id}/000", "outbox"} <= set(seen)
    assert any(name.startswith(f"outbox/{job_id}/") for name in seen)
    loose = {name: oct(mode) for name, mode in seen.items() if mode not in (0o700, 0o600)}
    assert loose == {}
    directories = {name for name in seen if (data / name).is_dir()}
    assert all(seen[name] == 0o700 for name in directories)
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o700  # a parent it had to create


async def test_an_older_loose_queue_is_narrowed_when_opened(tmp_path: Path, relay: CaptureRelay) -> None:
    settings = settings_for(tmp_path / "data", relay)
    store = await open_store(settings)
    await store.close()
    for path in (settings.data_dir, settings.spool_dir):
        path.chmod(0o755)
    settings.database_path.chmod(0o644)

    store = await open_store(settings)
    await store.close()

    assert stat.S_IMODE(settings.data_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(settings.spool_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(settings.database_path.stat().st_mode) == 0o600


def someone_elses_queue(tmp_path: Path, relay: CaptureRelay) -> tuple[Path, str]:
    """A data directory whose queue files belong to another user, and that user's name.

    As root: a real queue handed to ``nobody``. As anyone else: /var, whose spool directory
    (/var/spool) belongs to root, as a root-made spool in a real queue would.
    """
    if os.geteuid() == 0:
        settings = settings_for(tmp_path / "data", relay)
        settings.data_dir.mkdir()
        settings.database_path.touch()
        settings.spool_dir.mkdir()
        for path in (settings.database_path, settings.spool_dir):
            os.chown(path, 65534, 65534)
        return settings.data_dir, "nobody (uid 65534)"
    assert Path("/var/spool").stat().st_uid == 0
    return Path("/var"), "root (uid 0)"


@pytest.mark.parametrize(
    "command", [["queue", "list"], ["queue", "hold", "--all"], ["send", "--to", "4155551212", "-"]]
)
async def test_commands_refuse_a_queue_owned_by_another_user(
    tmp_path: Path, relay: CaptureRelay, command: list[str]
) -> None:
    data, owner = someone_elses_queue(tmp_path, relay)
    before = modes(data) if data != Path("/var") else {}
    result = await run_cli(settings_for(data, relay), *command, stdin=b"%PDF-1.4\n")
    assert result.code == 1
    assert result.error.startswith(f"mail2fax: the queue in {data} belongs to {owner}, not to ")
    name = owner.split()[0]
    assert f"run it as {name} (e.g. `sudo -u {name} mail2fax …`" in result.error
    if before:
        assert modes(data) == before  # nothing was created in it
