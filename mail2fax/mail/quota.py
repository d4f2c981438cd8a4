"""Quotas: how many fax numbers one sender, and everyone together, may dial per hour and per day.

Each recipient of each fax is one number. A mail that would take a count over its limit is
refused whole: for now (``450 4.7.1`` for a sender's own limit, ``452 4.5.3`` for the gateway's)
when the limit leaves room later, for good (``552 5.5.3``) when the mail alone has more numbers
than the limit. The rule is checked twice with the same answer: early by the gate, before the
client uploads the mail, and finally by the store, in the transaction that queues it, where the
count and the insert are one step for every process and bridge sharing the queue.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from mail2fax.errors import Deferral, Refusal
from mail2fax.mail.safe_text import in_angles
from mail2fax.settings import QuotaSettings

# Refusals are logged under the gate's name wherever they are decided: the gate or the store.
log = logging.getLogger("mail2fax.gate")

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)

# Numbers dialled since a moment, by one sender or (None) by everyone.
NumberCount = Callable[[datetime, str | None], Awaitable[int]]


def quotas_active(limits: QuotaSettings | None) -> bool:
    """Whether any limit is set (with none, nothing is counted and nothing is locked)."""
    if limits is None:
        return False
    return any(
        limit is not None
        for limit in (
            limits.sender_per_hour,
            limits.sender_per_day,
            limits.global_per_hour,
            limits.global_per_day,
        )
    )


async def check_quotas(
    limits: QuotaSettings, sender: str, numbers: int, *, now: datetime, count: NumberCount
) -> None:
    """Pass if ``numbers`` more fit every limit, or raise the Deferral or Refusal naming the
    limit they do not fit; ``count`` reads the numbers already dialled."""
    checks: tuple[tuple[int | None, timedelta, str, str | None], ...] = (
        (limits.sender_per_hour, HOUR, "hour", sender),
        (limits.sender_per_day, DAY, "day", sender),
        (limits.global_per_hour, HOUR, "hour", None),
        (limits.global_per_day, DAY, "day", None),
    )
    for limit, span, unit, who in checks:
        if limit is None:
            continue
        if numbers > limit and limit > 0:
            log.warning(
                "quota: a mail has more numbers than the limit",
                extra={"sender": who, "numbers": numbers, "limit": limit, "per": unit},
            )
            whose = f"{in_angles(who)}'s" if who is not None else "the gateway's"
            raise Refusal(
                f"This mail goes to {_numbers(numbers)}, more than {whose} limit of "
                f"{_numbers(limit)} per {unit}: send it to fewer numbers at a time",
                code=552,
                enhanced="5.5.3",
            )
        used = await count(now - span, who)
        if used + numbers > limit:
            raise _over(limit, unit, who, used)


def _numbers(count: int) -> str:
    return f"{count} fax number" if count == 1 else f"{count} fax numbers"


def _over(limit: int, unit: str, who: str | None, used: int) -> Deferral:
    if who is None:
        log.warning("quota reached: gateway", extra={"limit": limit, "per": unit, "used": used})
        return Deferral(
            f"The fax gateway has reached its limit of {_numbers(limit)} per {unit}, please try again later",
            code=452,
            enhanced="4.5.3",
        )
    log.warning("quota reached: sender", extra={"sender": who, "limit": limit, "per": unit, "used": used})
    return Deferral(
        f"Too many faxes from {in_angles(who)}: the limit is {_numbers(limit)} per {unit}, "
        "please try again later",
        code=450,
        enhanced="4.7.1",
    )
