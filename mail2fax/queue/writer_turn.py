"""Whose turn it is to write the SQLite database, among the processes of one daemon.

SQLite lets one writer in at a time and makes the others poll with growing sleeps (1, 2, 5, 10 ms
and more), so with several intake processes a waiting commit often sleeps well past the moment
the database became free. An exclusive ``flock`` on a file beside the database is waited for in
the kernel instead: the next writer wakes as soon as the previous one commits.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from pathlib import Path


class WriterTurn:
    def __init__(self, path: Path):
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)

    async def acquire(self) -> None:
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pass
        else:
            return
        waiting = asyncio.ensure_future(asyncio.to_thread(fcntl.flock, self._fd, fcntl.LOCK_EX))
        try:
            await asyncio.shield(waiting)
        except asyncio.CancelledError:
            # The thread goes on waiting: give the turn back as soon as it has it.
            waiting.add_done_callback(self._release_when_taken)
            raise

    def _release_when_taken(self, waiting: asyncio.Future[None]) -> None:
        if not waiting.cancelled() and waiting.exception() is None:
            self.release()

    def release(self) -> None:
        with contextlib.suppress(OSError):
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._fd)
