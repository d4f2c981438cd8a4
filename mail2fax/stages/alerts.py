"""Telling a person about a parked job: one ERROR line, a metric, and a mail to the operator.

The mail goes to ``MAIL2FAX_NOTIFY__OPERATOR`` when it is set. It is sent once, at the moment the
job is parked; if the relay is down then, the ERROR line and ``mail2fax_jobs_parked_total``
remain, and ``mail2fax queue list --state held`` (or ``unknown``) shows the job.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from mail2fax.errors import RelayError
from mail2fax.mail.alert import compose_alert
from mail2fax.mail.status_mail import status_recipient
from mail2fax.mailer import Mailer
from mail2fax.models import Actor, Job

log = logging.getLogger("mail2fax.alerts")


class OperatorAlerts:
    def __init__(
        self,
        mailer: Mailer | None,
        *,
        from_address: str,
        operator: str | None,
        clock: Callable[[], datetime],
        count_error: Callable[[str], None] | None = None,
        count_parked: Callable[[str], None] | None = None,
    ) -> None:
        self._mailer = mailer
        self._from = from_address
        self._operator = operator
        self._clock = clock
        self._count_error = count_error
        self._count_parked = count_parked

    def internal_error(self, stage: Actor) -> None:
        if self._count_error is not None:
            self._count_error(stage.value)

    async def parked(self, job: Job, stage: Actor, reason: str) -> None:
        log.error(
            "job parked after repeated unexpected errors: a person must look at it",
            extra={"job": job.id, "stage": stage.value, "reason": reason},
        )
        if self._count_parked is not None:
            self._count_parked(stage.value)
        operator = status_recipient(self._operator or "")
        if self._mailer is None or operator is None:
            return
        try:
            message = compose_alert(
                job_id=job.id,
                state=job.state.value,
                stage=stage.value,
                reason=reason,
                from_address=self._from,
                to=operator,
                now=self._clock(),
            )
            await self._mailer.send(message, recipient=operator)
        except RelayError as exc:
            log.warning(
                "the operator could not be mailed about a parked job",
                extra={"job": job.id, "error": str(exc)},
            )
        except Exception:  # a failed alert must not become a second failure of the job
            log.exception("the operator's alert could not be made", extra={"job": job.id})
