"""Files and directories for the owner alone (0600 and 0700), whatever the process's umask.

The queue holds faxes of prescriptions and claims: nobody but the daemon's user may read them.
"""

from __future__ import annotations

import os
from pathlib import Path

DIRECTORY_MODE = 0o700
FILE_MODE = 0o600


def private_directory(path: Path) -> None:
    """Create ``path`` and missing parents as 0700; an existing directory is narrowed to 0700 if ours."""
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=DIRECTORY_MODE)
        except FileExistsError:
            continue
        os.chmod(directory, DIRECTORY_MODE)
    narrow(path, DIRECTORY_MODE)


def new_private_directory(path: Path) -> None:
    """Create ``path`` as 0700; FileExistsError when it exists."""
    path.mkdir(mode=DIRECTORY_MODE)
    os.chmod(path, DIRECTORY_MODE)


def private_file(path: Path, *, exclusive: bool = True) -> int:
    """Open ``path`` for writing as a new 0600 file and return the descriptor."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    descriptor = os.open(path, flags | getattr(os, "O_CLOEXEC", 0), FILE_MODE)
    try:
        os.fchmod(descriptor, FILE_MODE)
    except BaseException:
        os.close(descriptor)
        raise
    return descriptor


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` as a 0600 file, replacing what was there."""
    with os.fdopen(private_file(path, exclusive=False), "wb") as handle:
        handle.write(data)


def narrow(path: Path, mode: int) -> None:
    """Take the group's and others' permissions off an existing path that this user owns."""
    try:
        status = path.stat()
    except FileNotFoundError:
        return
    if status.st_uid == os.geteuid() and status.st_mode & 0o077:
        os.chmod(path, status.st_mode & mode & 0o7777)
