"""Document bytes in PostgreSQL, as rows of at most one MiB, so any bridge can send any job.

Writing slices the bytes intake already holds (no copy beyond one chunk on the wire); reading
streams the chunks one row at a time into a file of this process's cache, which the backends
then read as they read the SQLite spool. A 50 MB scan so costs one chunk of memory to read.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg

from mail2fax.models import Document, StoredDocument
from mail2fax.private import private_directory, private_file

CHUNK = 1024 * 1024
CACHE_PREFIX = "cache-"


async def write_documents(
    conn: psycopg.AsyncConnection[Any], job_id: str, documents: Sequence[Document]
) -> None:
    """Add the job's documents and their chunks, inside the caller's transaction."""
    async with conn.cursor() as cursor:
        await cursor.executemany(
            "INSERT INTO documents (job_id, position, filename, content_type, size, pages) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            [
                (job_id, position, d.filename, d.content_type, len(d.data), d.pages)
                for position, d in enumerate(documents)
            ],
        )
        chunks = [
            (job_id, position, seq, memoryview(document.data)[offset : offset + CHUNK])
            for position, document in enumerate(documents)
            for seq, offset in enumerate(range(0, max(len(document.data), 1), CHUNK))
        ]
        await cursor.executemany(
            "INSERT INTO document_chunks (job_id, position, seq, data) VALUES (%s, %s, %s, %s)", chunks
        )


class DocumentCache:
    """This process's copies of the documents it sends, in a directory of its own under ``root``."""

    def __init__(self, root: Path):
        self.root = root
        self.directory = root / f"{CACHE_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"

    def path(self, job_id: str, position: int) -> Path:
        if not job_id.isalnum():
            raise ValueError(f"not a job id: {job_id!r}")
        return self.directory / job_id / f"{position:03d}"

    async def fetch(
        self, conn: psycopg.AsyncConnection[Any], job_id: str, stored: Sequence[StoredDocument]
    ) -> None:
        """Stream each document not yet here into its cache file (written aside, then renamed)."""
        for document in stored:
            target = Path(document.path)
            if await asyncio.to_thread(_has_size, target, document.size):
                continue
            await asyncio.to_thread(private_directory, target.parent)
            partial = target.with_suffix(".part")
            descriptor = await asyncio.to_thread(private_file, partial, exclusive=False)
            handle = os.fdopen(descriptor, "wb")
            try:
                async with conn.cursor() as cursor:
                    async for (data,) in cursor.stream(
                        "SELECT data FROM document_chunks WHERE job_id = %s AND position = %s ORDER BY seq",
                        (job_id, document.position),
                    ):
                        await asyncio.to_thread(handle.write, data)
            finally:
                await asyncio.to_thread(handle.close)
            await asyncio.to_thread(os.replace, partial, target)

    async def forget(self, job_id: str) -> None:
        if job_id.isalnum():
            await asyncio.to_thread(shutil.rmtree, self.directory / job_id, True)

    async def close(self) -> None:
        await asyncio.to_thread(shutil.rmtree, self.directory, True)

    async def remove_abandoned(self) -> int:
        """Remove the cache directories of processes on this host that no longer run."""
        return await asyncio.to_thread(self._remove_abandoned)

    def _remove_abandoned(self) -> int:
        if not self.root.is_dir():
            return 0
        removed = 0
        for entry in self.root.iterdir():
            owner = entry.name.removeprefix(CACHE_PREFIX).partition("-")[0]
            if entry == self.directory or not entry.name.startswith(CACHE_PREFIX) or not owner.isdigit():
                continue
            if not _running(int(owner)):
                shutil.rmtree(entry, ignore_errors=True)
                removed += 1
        return removed


def _has_size(path: Path, size: int) -> bool:
    try:
        return path.stat().st_size == size
    except FileNotFoundError:
        return False


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
