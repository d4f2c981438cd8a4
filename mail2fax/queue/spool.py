"""Document bytes on disk, one 0700 directory per job of 0600 files, fsynced before the job commits."""

from __future__ import annotations

import errno
import os
import secrets
import shutil
from collections.abc import Collection, Sequence
from pathlib import Path

from mail2fax.errors import StoreFull, StoreUnavailable
from mail2fax.models import Document
from mail2fax.private import new_private_directory, private_directory, private_file


class Spool:
    def __init__(self, root: Path):
        self.root = root

    def _job_dir(self, job_id: str) -> Path:
        if not job_id.isalnum():
            raise ValueError(f"not a job id: {job_id!r}")
        return self.root / job_id

    def write(self, job_id: str, documents: Sequence[Document]) -> list[Path]:
        """Write each document durably and return the paths, in order."""
        directory = self._job_dir(job_id)
        if not self.root.is_dir():
            private_directory(self.root)
        new_private_directory(directory)
        try:
            paths = []
            for position, document in enumerate(documents):
                path = directory / f"{position:03d}"
                with os.fdopen(private_file(path), "wb") as handle:
                    handle.write(document.data)
                    handle.flush()
                    os.fsync(handle.fileno())
                paths.append(path)
            _fsync_directory(directory)
            _fsync_directory(self.root)
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)
            raise
        return paths

    def probe(self) -> None:
        """Write, sync and remove a small file, as a mail's documents would be written."""
        path = self.root / f".probe-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            try:
                with path.open("xb") as handle:
                    handle.write(b"mail2fax")
                    handle.flush()
                    os.fsync(handle.fileno())
            finally:
                path.unlink(missing_ok=True)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise StoreFull(f"the disk holding the spool {self.root} is full") from exc
            raise StoreUnavailable(f"the spool {self.root} cannot be written: {exc.strerror or exc}") from exc

    def remove(self, job_id: str) -> None:
        shutil.rmtree(self._job_dir(job_id), ignore_errors=True)

    def remove_except(self, keep: Collection[str]) -> int:
        if not self.root.is_dir():
            return 0
        removed = 0
        for entry in self.root.iterdir():
            if entry.is_dir() and entry.name not in keep:
                shutil.rmtree(entry, ignore_errors=True)
                removed += 1
        return removed


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
