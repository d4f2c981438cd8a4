"""The notify stage: one status mail per final job, to its sender, through the relay."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from mail2fax.errors import PermanentRelayError, RelayError
from mail2fax.mail.status_mail import compose
from mail2fax.mailer import Mailer
from mail2fax.models import Job, JobState
from mail2fax.queue.base import Store
from mail2fax.settings import NotifySettings, RetrySettings
from mail2fax.stages.cycle import repeat
from mail2fax.stages.doorbell import Doorbell

log = logging.getLogger("mail2fax.notify")

NO_REPLY_SENDERS = ("", "<>", "mailer-daemon", "postmaster")


def wants_status_mail(job: Job) -> bool:
    if not job.notify:
        return False
    local_part = job.sender.rpartition("@")[0].lower() if "@" in job.sender else job.sender.lower()
    return local_part not in NO_REPLY_SENDERS


class NotifyStage:
    def __init__(
        self,
        store: Store,
        mailer: Mailer,
        *,
        settings: NotifySettings,
        retry: RetrySettings,
        wakeup: Doorbell,
        clock: Callable[[], datetime],
    ):
        self._store = store
        self._mailer = mailer
        self._settings = settings
        self._retry = retry
        self._wakeup = wakeup
        self._clock = clock
        self._relay_down: str | None = None
        self._stopping = asyncio.Event()
        self.busy = False

    async def run(self, stopping: asyncio.Event) -> None:
        self._stopping = stopping
        await repeat("notify", self.run_once, lambda: self._wakeup.wait(self._settings.interval), stopping)

    async def run_once(self) -> int:
        """Send the status mails that are due; returns how many were sent."""
        sent = 0
        for job in await self._store.awaiting_notification(self._clock(), limit=100):
            if self._stopping.is_set():
                break
            if not wants_status_mail(job):
                await self._store.mark_notified(job.id, self._clock(), "no status mail: automatic sender")
                continue
            self.busy = True
            try:
                outcome = await self._notify(job)
            finally:
                self.busy = False
            if outcome is None:
                break
            sent += outcome
        return sent

    async def _notify(self, job: Job) -> int | None:
        """Mail one sender and record it: 1 sent, 0 refused for good, None when the relay is down."""
        try:
            await self._deliver(job)
        except PermanentRelayError as exc:
            log.error("job=%s status mail refused by the relay: %s", job.id, exc)
            await self._store.mark_notified(job.id, self._clock(), f"status mail refused: {exc}")
            return 0
        except RelayError as exc:
            await self._postpone(job, exc)
            return None
        if self._relay_down is not None:
            log.warning("the relay takes status mails again")
            self._relay_down = None
        await self._store.mark_notified(job.id, self._clock(), f"status mail sent to {job.sender}")
        return 1

    async def _deliver(self, job: Job) -> None:
        now = self._clock()
        await self._mailer.send(compose(job, from_address=self._settings.from_, now=now))
        if job.state is JobState.UNKNOWN and self._settings.operator:
            await self._mailer.send(
                compose(job, from_address=self._settings.from_, now=now, to=self._settings.operator)
            )

    async def _postpone(self, job: Job, exc: RelayError) -> None:
        if self._relay_down is None:
            log.warning("the relay does not take status mails (%s); they wait in the queue", exc)
        self._relay_down = str(exc)
        delay = min(self._retry.max_backoff, max(self._retry.min_backoff, self._settings.interval))
        await self._store.postpone_notification(job.id, self._clock() + timedelta(seconds=delay))
