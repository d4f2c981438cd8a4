"""The JSON envelope of a RingCentral fax request, built from a job."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mail2fax.backends.ringcentral_wire import utc_text
from mail2fax.models import Job


def fax_request_json(job: Job, *, now: datetime) -> dict[str, Any]:
    """The request's JSON part; a send time that ``now`` has reached is left out (send at once)."""
    to: list[dict[str, str]] = []
    for recipient in job.recipients:
        entry = {"phoneNumber": recipient.number}
        if recipient.name:
            entry["name"] = recipient.name
        to.append(entry)
    body: dict[str, Any] = {"to": to, "faxResolution": job.options.resolution.value}
    if job.cover_text:
        body["coverPageText"] = job.cover_text
    cover = job.options.cover
    if cover.kind == "none":
        body["coverIndex"] = 0
    elif cover.kind == "index" and cover.index is not None:
        body["coverIndex"] = cover.index
    send_at = job.options.send_at
    if send_at is not None and send_at > now:
        body["sendTime"] = utc_text(send_at)
    return body
