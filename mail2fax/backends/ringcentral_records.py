"""Reading RingCentral's message-store records in every shape RingCentral documents.

A record's ``to[].phoneNumber`` is "usually plain number like 18661234567. But sometimes …
formatted, for example (866)123-4567" (the published API reference), so numbers are compared as
parsed numbers in the job's region, never as strings. ``coverPageText``, ``creationTime``,
``type``, ``direction`` and recipient names may be missing from a record: a missing field is
"cannot tell", never "different".
"""

from __future__ import annotations

import enum
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import phonenumbers

from mail2fax.backends.base import FaxStatus, Outcome, RecoveryResult, Settlement, Submission
from mail2fax.models import Job, RecipientResult

_PENDING = {"Queued"}
_SENT = {"Sent", "Delivered"}
_FAILED = {"SendingFailed", "DeliveryFailed"}
_SPACE = re.compile(r"\s+")
DEFAULT_REGION = "US"


def parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    elif re.search(r"[+-]\d{4}$", text):
        text = f"{text[:-2]}:{text[-2:]}"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def regions_of(numbers: Iterable[str]) -> tuple[str, ...]:
    """The regions to read national numbers in: the countries of the job's numbers."""
    regions: list[str] = []
    for number in numbers:
        try:
            parsed = phonenumbers.parse(number, None)
        except phonenumbers.NumberParseException:
            continue
        region = phonenumbers.region_code_for_country_code(parsed.country_code or 0)
        if region and region != phonenumbers.UNKNOWN_REGION and region not in regions:
            regions.append(region)
    return tuple(regions) or (DEFAULT_REGION,)


def readings(text: object, regions: Sequence[str]) -> set[str]:
    """Every E.164 number a record's ``phoneNumber`` may stand for: as written in each of
    ``regions``, and, when it has no ``+``, its digits taken as an international number."""
    if not isinstance(text, str):
        return set()
    digits = "".join(ch for ch in text if ch.isdigit())
    if not digits:
        return set()
    attempts = [(text, regions[0])] if text.strip().startswith("+") else [(text, r) for r in regions]
    if not text.strip().startswith("+"):
        attempts.append(("+" + digits, regions[0]))
    found: set[str] = set()
    for attempt, region in attempts:
        try:
            parsed = phonenumbers.parse(attempt, region)
        except phonenumbers.NumberParseException:
            continue
        found.add(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))
    return found


def canonical(text: str, numbers: Collection[str], regions: Sequence[str]) -> str:
    """``text`` as the one of ``numbers`` it stands for, or unchanged when it matches none."""
    matched = readings(text, regions) & set(numbers)
    return next(iter(matched)) if len(matched) == 1 else text


def recipient_results(record: Mapping[str, Any], numbers: Sequence[str] = ()) -> tuple[RecipientResult, ...]:
    """Each recipient's result; a number that is one of ``numbers`` is written as that number."""
    to = record.get("to")
    if not isinstance(to, list):
        return ()
    regions = regions_of(numbers)
    return tuple(
        RecipientResult(
            number=canonical(str(entry.get("phoneNumber", "")), numbers, regions),
            status=str(entry.get("messageStatus", "")),
            error_code=str(entry["faxErrorCode"]) if entry.get("faxErrorCode") else None,
        )
        for entry in to
        if isinstance(entry, dict)
    )


def fax_status(record: Mapping[str, Any], numbers: Sequence[str] = ()) -> FaxStatus:
    """A message-store record (or a create-fax answer) as a FaxStatus."""
    status = str(record.get("messageStatus") or "")
    pages = record.get("faxPageCount")
    page_count = pages if isinstance(pages, int) and not isinstance(pages, bool) else None
    results = recipient_results(record, numbers)
    if status in _SENT:
        return FaxStatus(Outcome.SENT, page_count=page_count, results=results)
    if status in _FAILED:
        reasons = ", ".join(f"{r.number}: {r.error_code}" for r in results if r.error_code)
        return FaxStatus(Outcome.FAILED, page_count=page_count, results=results, detail=reasons or status)
    detail = None if status in _PENDING else f"RingCentral reports status {status or 'none'!r}"
    return FaxStatus(Outcome.PENDING, results=results, detail=detail)


def record_id(record: Mapping[str, Any]) -> str | None:
    value = record.get("id")
    if value is None or isinstance(value, bool):
        return None
    text = str(value).strip()
    return text or None


def submission(record: Mapping[str, Any], numbers: Sequence[str] = ()) -> Submission:
    uri = record.get("uri")
    return Submission(
        backend_id=record_id(record),
        backend_uri=str(uri) if uri else None,
        status=fax_status(record, numbers),
    )


class Likeness(enum.Enum):
    """How a message-store record compares with the fax a job may have sent."""

    OTHER = "other"  # provably another fax: other numbers, another job's, or too old
    CANDIDATE = "candidate"  # the same numbers, and the same cover text or none to compare
    DOUBT = "doubt"  # cannot be told apart: shares a number, or its numbers cannot be read


def cover_text(text: object) -> str:
    return _SPACE.sub(" ", str(text or "")).strip()


def likeness(record: Mapping[str, Any], job: Job, since: datetime, known_ids: Collection[str]) -> Likeness:
    """Whether a message-store record may be the fax ``job`` began to send at ``since``."""
    identity = record_id(record)
    if identity is None or identity in known_ids:
        return Likeness.OTHER
    if record.get("type", "Fax") != "Fax" or record.get("direction", "Outbound") != "Outbound":
        return Likeness.OTHER
    created = parse_time(record.get("creationTime"))
    if created is not None and created < since:
        return Likeness.OTHER
    wanted = {recipient.number for recipient in job.recipients}
    regions = regions_of(wanted)
    to = record.get("to")
    entries = [entry for entry in to if isinstance(entry, dict)] if isinstance(to, list) else []
    matched = [readings(entry.get("phoneNumber"), regions) & wanted for entry in entries]
    if not entries or any(not readings(entry.get("phoneNumber"), regions) for entry in entries):
        return Likeness.DOUBT
    if not any(matched):
        return Likeness.OTHER
    same_numbers = all(matched) and set().union(*matched) == wanted
    recorded_cover = record.get("coverPageText")
    same_cover = not recorded_cover or cover_text(recorded_cover) == cover_text(job.cover_text)
    return Likeness.CANDIDATE if same_numbers and same_cover else Likeness.DOUBT


def settle(
    records: Iterable[Mapping[str, Any]],
    job: Job,
    known_ids: Collection[str],
    *,
    since: datetime,
    waited: float,
    grace: float,
) -> RecoveryResult:
    """What the message store says about a job interrupted mid-request.

    Exactly one candidate is adopted; several make the job ambiguous. With none, the job is
    provably not sent only once ``grace`` seconds have passed and no record since the attempt
    began could be its fax; while a record is in doubt the job is ambiguous after the grace.
    """
    numbers = [recipient.number for recipient in job.recipients]
    candidates: dict[str, Mapping[str, Any]] = {}
    doubtful: set[str] = set()
    for record in records:
        verdict = likeness(record, job, since, known_ids)
        identity = record_id(record)
        if identity is None or verdict is Likeness.OTHER:
            continue
        if verdict is Likeness.CANDIDATE:
            candidates[identity] = record
        else:
            doubtful.add(identity)
    if len(candidates) == 1:
        (record,) = candidates.values()
        found = submission(record, numbers)
        return RecoveryResult(Settlement.FOUND, found, f"found fax_id={found.backend_id}")
    if candidates:
        ids = ", ".join(sorted(candidates))
        return RecoveryResult(Settlement.AMBIGUOUS, None, f"several faxes could be this job: {ids}")
    if waited < grace:
        return RecoveryResult(
            Settlement.TOO_EARLY, None, f"no matching fax yet; the listing may lag up to {grace:.0f}s"
        )
    if doubtful:
        ids = ", ".join(sorted(doubtful))
        return RecoveryResult(
            Settlement.AMBIGUOUS,
            None,
            f"faxes to these numbers that cannot be told apart from this job's: {ids}",
        )
    return RecoveryResult(
        Settlement.NOT_SENT, None, f"no fax to these numbers in the message store after {waited:.0f}s"
    )
