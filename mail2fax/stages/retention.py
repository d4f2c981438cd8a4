"""The retention stage: deletes the documents of final jobs whose senders were told, after a while.

The job's record and history stay until an operator purges them (``mail2fax queue purge``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from mail2fax.queue.base import Store
from mail2fax.settings import RetentionSettings
from mail2fax.stages.cycle import repeat

log = logging.getLogger("mail2fax")


class RetentionStage:
    def __init__(self, store: Store, *, settings: RetentionSettings, clock: Callable[[], datetime]):
        self._store = store
        self._keep = timedelta(seconds=settings.documents)
        self._interval = min(max(settings.documents / 10, 1.0), 600.0)
        self._clock = clock
        self._stopping = asyncio.Event()

    async def run(self, stopping: asyncio.Event) -> None:
        self._stopping = stopping
        await repeat("retention", self.run_once, self._wait_next, stopping)

    async def _wait_next(self) -> None:
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout=self._interval)
        except TimeoutError:
            return

    async def run_once(self) -> int:
        """Delete the documents that are due; returns how many jobs lost theirs."""
        purged = await self._store.purge_documents(finished_before=self._clock() - self._keep)
        if purged:
            log.info("deleted the documents of %d finished jobs", len(purged))
        return len(purged)
