"""The dry-run backend: writes the exact REST request that would be sent, and sends nothing.

``DATA_DIR/outbox/<job>/`` receives ``request.json`` (the JSON part), and for each document
``NN-<filename>`` (its bytes) with ``NN-<filename>.headers`` (its part headers). A ``complete``
marker is written last, so a crash midway is recognised and the job written again.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import Collection, Sequence
from pathlib import Path

from mail2fax.backends.base import (
    FaxStatus,
    Outcome,
    RecoveryResult,
    Settlement,
    Submission,
    TrackedFax,
)
from mail2fax.backends.request_json import fax_request_json
from mail2fax.clock import WallClock, utcnow
from mail2fax.errors import TemporaryBackendError
from mail2fax.models import Job, StoredDocument
from mail2fax.private import FILE_MODE, new_private_directory, private_directory, private_file, write_private

COMPLETE = "complete"


class DryRunBackend:
    name = "dry-run"

    def __init__(self, outbox: Path, *, wall: WallClock = utcnow):
        self._outbox = outbox
        self._wall = wall

    async def ready(self) -> None:
        return None

    async def submit(self, job: Job, documents: Sequence[StoredDocument]) -> Submission:
        try:
            await asyncio.to_thread(self._write, job, documents)
        except OSError as exc:
            raise TemporaryBackendError(f"cannot write the dry-run outbox: {exc}") from exc
        return self._receipt(job)

    def _receipt(self, job: Job) -> Submission:
        directory = self._outbox / job.id
        return Submission(
            backend_id=f"dry-run-{job.id}",
            backend_uri=directory.resolve().as_uri(),
            status=FaxStatus(Outcome.SENT, detail="dry run: written to the outbox, nothing transmitted"),
        )

    def _write(self, job: Job, documents: Sequence[StoredDocument]) -> None:
        directory = self._outbox / job.id
        shutil.rmtree(directory, ignore_errors=True)
        private_directory(self._outbox)
        new_private_directory(directory)
        body = json.dumps(fax_request_json(job, now=self._wall()), indent=2, ensure_ascii=False)
        write_private(directory / "request.json", (body + "\n").encode("utf-8"))
        for document in documents:
            stem = f"{document.position + 1:02d}-{document.filename}"
            shutil.copyfile(document.path, directory / stem)
            os.chmod(directory / stem, FILE_MODE)
            headers = (
                f"Content-Type: {document.content_type}\r\n"
                f'Content-Disposition: attachment; filename="{document.filename}"\r\n'
            )
            write_private(directory / f"{stem}.headers", headers.encode("ascii"))
        descriptor = private_file(directory / COMPLETE)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)

    async def statuses(self, faxes: Sequence[TrackedFax]) -> dict[str, FaxStatus]:
        return {fax.backend_id: FaxStatus(Outcome.SENT) for fax in faxes}

    async def recover(self, job: Job, known_ids: Collection[str]) -> RecoveryResult:
        if (self._outbox / job.id / COMPLETE).exists():
            return RecoveryResult(Settlement.FOUND, self._receipt(job), "the outbox holds the request")
        return RecoveryResult(Settlement.NOT_SENT, detail="the outbox has no complete request")

    async def cancel(self, backend_id: str) -> None:
        return None

    async def aclose(self) -> None:
        return None
