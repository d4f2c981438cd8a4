"""The JSON envelope of a RingCentral fax request, built from a job."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from mail2fax.models import Job


def utc_stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def fax_request_json(job: Job, *, now: datetime | None = None) -> dict[str, Any]:
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
    if send_at is not None and send_at > (now or datetime.now(UTC)):
        body["sendTime"] = utc_stamp(send_at)
    return body
