"""The notify stage: one status mail per final job, to its sender, through the relay.

Each job's status mail is made and sent inside its own error boundary (``stages/boundary.py``):
a status mail that cannot be made (a defect, or a stored value no mail can carry) is tried
again later, and given up after repeated errors, with the operator told instead.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from mail2fax.errors import PermanentRelayError, RelayError
from mail2fax.mail.mailbox import Mailbox
from mail2fax.mail.status_mail import compose, status_recipient
from mail2fax.mailer import Mailer
from mail2fax.models import Actor, Job, JobState
from mail2fax.outage import Outage
from mail2fax.queue.base import Store
from mail2fax.settings import NotifySettings, RetrySettings
from mail2fax.stages.boundary import FAILED, Alerts, JobBoundary
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
        alerts: Alerts,
    ):
        self._store = store
        self._mailer = mailer
        self._settings = settings
        self._retry = retry
        self._wakeup = wakeup
        self._clock = clock
        self._relay = Outage(log, ended="the relay takes status mails again")
        self._boundary = JobBoundary(
            Actor.NOTIFY,
            store,
            clock=clock,
            limit=retry.internal_errors,
            min_backoff=retry.min_backoff,
            max_backoff=retry.max_backoff,
            alerts=alerts,
        )
        self._stopping = asyncio.Event()

    async def run(self, stopping: asyncio.Event) -> None:
        self._stopping = stopping
        await repeat("notify", self.run_once, lambda: self._wakeup.wait(self._settings.interval), stopping)

    async def run_once(self) -> int:
        """Send the status mails that are due; returns how many were sent."""
        sent = 0
        for job in await self._store.awaiting_notification(self._clock(), limit=100):
            if self._stopping.is_set():
                break
            outcome = await self._boundary.run(job, functools.partial(self._notify, job), park=self._give_up)
            if outcome is FAILED:
                continue
            if outcome is None:
                break
            sent += outcome
        return sent

    async def _notify(self, job: Job) -> int | None:
        """Mail one sender and record it: 1 sent, 0 not sent for good, None when the relay is down."""
        if not wants_status_mail(job):
            await self._store.mark_notified(job.id, self._clock(), "no status mail: automatic sender")
            return 0
        recipient = status_recipient(job.sender)
        if recipient is None:
            log.warning(
                "no status mail: the sender is not a valid mail address",
                extra={"job": job.id, "sender": job.sender},
            )
            await self._store.mark_notified(
                job.id, self._clock(), "no status mail: the sender is not a valid mail address"
            )
            return 0
        try:
            await self._deliver(job, recipient)
        except PermanentRelayError as exc:
            log.error("status mail refused by the relay", extra={"job": job.id, "error": str(exc)})
            await self._store.mark_notified(job.id, self._clock(), f"status mail refused: {exc}")
            return 0
        except RelayError as exc:
            await self._postpone(job, exc)
            return None
        self._relay.working()
        await self._store.mark_notified(job.id, self._clock(), f"status mail sent to {recipient}")
        return 1

    async def _deliver(self, job: Job, recipient: Mailbox) -> None:
        now = self._clock()
        sender = self._settings.from_
        await self._mailer.send(compose(job, from_address=sender, now=now, to=recipient), recipient=recipient)
        operator = status_recipient(self._settings.operator or "")
        if job.state is JobState.UNKNOWN and operator is not None:
            await self._mailer.send(
                compose(job, from_address=sender, now=now, to=operator), recipient=operator
            )

    async def _give_up(self, job: Job, reason: str) -> bool:
        """Park a status mail that keeps failing: settled without a mail; the operator is told."""
        await self._store.mark_notified(job.id, self._clock(), f"status mail given up: {reason}")
        return True

    async def _postpone(self, job: Job, exc: RelayError) -> None:
        self._relay.failing(exc, "the relay does not take status mails; they wait in the queue")
        delay = min(self._retry.max_backoff, max(self._retry.min_backoff, self._settings.interval))
        await self._store.postpone_notification(job.id, self._clock() + timedelta(seconds=delay))
