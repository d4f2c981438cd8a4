"""The queue's place on disk: owned by the daemon's user, readable by nobody else.

Before the store opens, the data directory, the database (and so SQLite's WAL and shared-memory
files, which take the database's mode) and the spool are created 0700/0600, and older ones are
narrowed to that. A queue owned by another user is refused, as Postfix's tools refuse: a file
written into it by root would lock the daemon out of its own queue.
"""

from __future__ import annotations

import contextlib
import os
import pwd
from pathlib import Path

from mail2fax.errors import QueueOwnerError
from mail2fax.private import DIRECTORY_MODE, FILE_MODE, narrow, private_directory, private_file

SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def check_owner(database: Path, spool_dir: Path) -> None:
    """Refuse a queue whose database or spool belongs to another user than the one running."""
    me = os.geteuid()
    for path in (database, spool_dir):
        try:
            owner = path.stat().st_uid
        except FileNotFoundError:
            continue
        if owner == me:
            continue
        name = user_name(owner)
        raise QueueOwnerError(
            f"the queue in {database.parent} belongs to {name} (uid {owner}), not to {user_name(me)} "
            f"(uid {me}), who runs this: run it as {name} (e.g. `sudo -u {name} mail2fax …`, or "
            "`docker exec mail2fax mail2fax …` in Docker), so the daemon can still read what it writes"
        )


def prepare(database: Path, spool_dir: Path) -> None:
    """Check the owner, then create or narrow the directories and the database file."""
    check_owner(database, spool_dir)
    private_directory(database.parent)
    if not database.exists():
        with contextlib.suppress(FileExistsError):
            os.close(private_file(database))
    for path in (database, *(database.with_name(database.name + suffix) for suffix in SQLITE_COMPANIONS)):
        narrow(path, FILE_MODE)
    private_directory(spool_dir)
    narrow(spool_dir, DIRECTORY_MODE)
