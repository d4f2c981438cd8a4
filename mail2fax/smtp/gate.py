"""Who may send faxes to which numbers, and how many: the intake stage's gate, built from the settings.

At MAIL FROM, in this order:

1. The session must have logged in (SMTP AUTH) or come from ``MAIL2FAX_TRUSTED_NETWORKS``;
   otherwise ``530 5.7.0 Authentication required``. Out of the box only loopback is trusted.
2. When ``MAIL2FAX_ALLOWED_SENDERS`` is set, the envelope sender must be on it (an address, or
   ``*@domain``); and with ``MAIL2FAX_AUTH__OWN_ADDRESSES_ONLY`` a logged-in user may only use its
   own user name as sender. Otherwise ``550 5.7.1``.
3. The quotas, early, so a client over its limit does not upload the scan first.

At RCPT TO the first check is repeated and the number policy applies (``550 5.7.1`` naming the
rule). At DATA the quotas are checked again: ``450 4.7.1`` for a sender's own limit,
``452 4.5.3`` for the gateway's. Quotas count the jobs in the store, so a restart does not reset
them; one mail is one fax, however many numbers it goes to.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from mail2fax.errors import ConfigError, Deferral, SenderRefused, StoreError
from mail2fax.mail.number_policy import NumberPolicy
from mail2fax.models import Recipient
from mail2fax.queue.base import Store
from mail2fax.settings import QuotaSettings, Settings
from mail2fax.smtp.peers import TrustedNetworks, authenticated_user, describe

log = logging.getLogger("mail2fax.gate")

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def printable(text: str) -> str:
    """Text fit to echo in an SMTP reply or a log line: printable ASCII, at most 100 characters."""
    return "".join(c if " " < c < "\x7f" else "?" for c in text[:100])


def shown(address: str) -> str:
    """An envelope address in angle brackets, however aiosmtpd handed it over."""
    bare = address[1:-1] if address.startswith("<") and address.endswith(">") else address
    return f"<{printable(bare)}>"


class Gate:
    """Who may send what: the checks run at MAIL and RCPT. The open gate lets everyone through."""

    async def check_sender(self, session: Any, sender: str) -> None:
        return None

    async def check_recipient(self, session: Any, sender: str, recipient: Recipient) -> None:
        return None

    async def check_quota(self, sender: str, recipients: int) -> None:
        return None


class SenderList:
    """``MAIL2FAX_ALLOWED_SENDERS``: addresses and ``*@domain`` entries, compared without case."""

    def __init__(self, entries: Iterable[str]):
        addresses: set[str] = set()
        domains: set[str] = set()
        for entry in entries:
            text = entry.strip().lower()
            local, at, domain = text.rpartition("@")
            if not at or not local or not domain or any(c.isspace() for c in text):
                raise ConfigError(f"MAIL2FAX_ALLOWED_SENDERS: {entry!r} is not an address or *@domain")
            if local == "*":
                domains.add(domain.rstrip("."))
            else:
                addresses.add(text)
        self._addresses = frozenset(addresses)
        self._domains = frozenset(domains)

    def __contains__(self, sender: object) -> bool:
        if not isinstance(sender, str) or not sender:
            return False
        address = sender.strip().lower()
        return address in self._addresses or address.rpartition("@")[2].rstrip(".") in self._domains


class Quotas:
    """Per-sender and global limits per hour and per day, counted in the store."""

    def __init__(self, limits: QuotaSettings, store: Store, clock: Callable[[], datetime]):
        self._limits = limits
        self._store = store
        self._clock = clock

    @property
    def active(self) -> bool:
        limits = self._limits
        return any(
            limit is not None
            for limit in (
                limits.sender_per_hour,
                limits.sender_per_day,
                limits.global_per_hour,
                limits.global_per_day,
            )
        )

    async def check(self, sender: str) -> None:
        """Pass, or raise ``Deferral`` saying which limit was reached."""
        if not self.active:
            return
        limits, now = self._limits, self._clock()
        checks: tuple[tuple[int | None, timedelta, str, str | None], ...] = (
            (limits.sender_per_hour, HOUR, "hour", sender),
            (limits.sender_per_day, DAY, "day", sender),
            (limits.global_per_hour, HOUR, "hour", None),
            (limits.global_per_day, DAY, "day", None),
        )
        for limit, span, unit, who in checks:
            if limit is None:
                continue
            try:
                count = await self._store.count_jobs(since=now - span, sender=who)
            except StoreError as exc:
                log.error("quota: cannot count jobs: %s", exc)
                raise Deferral("Fax gateway queue is unavailable, please try again later") from exc
            if count < limit:
                continue
            if who is None:
                log.warning("quota reached: gateway limit=%d per %s", limit, unit)
                raise Deferral(
                    f"The fax gateway has reached its limit of {limit} faxes per {unit}, "
                    "please try again later",
                    code=452,
                    enhanced="4.5.3",
                )
            log.warning("quota reached: sender=%s limit=%d per %s", shown(who), limit, unit)
            raise Deferral(
                f"Too many faxes from {shown(who)}: the limit is {limit} per {unit}, please try again later",
                code=450,
                enhanced="4.7.1",
            )


class PolicyGate(Gate):
    """The gate the daemon runs with: every rule of the settings, enforced at MAIL, RCPT and DATA."""

    def __init__(
        self,
        *,
        trusted: TrustedNetworks,
        numbers: NumberPolicy,
        quotas: Quotas,
        allowed_senders: SenderList | None = None,
        own_addresses_only: bool = False,
    ):
        self._trusted = trusted
        self._numbers = numbers
        self._quotas = quotas
        self._allowed_senders = allowed_senders
        self._own_addresses_only = own_addresses_only

    def _admit(self, session: Any, command: str, sender: str) -> str | None:
        """The logged-in user (or ``None`` for a trusted client); refuses anyone else."""
        user = authenticated_user(session)
        if user is None and not self._trusted.trusts(session):
            log.info(
                "refused %s from %s %s: not logged in, not trusted", command, shown(sender), describe(session)
            )
            raise SenderRefused("Authentication required", code=530, enhanced="5.7.0")
        return user

    async def check_sender(self, session: Any, sender: str) -> None:
        user = self._admit(session, "MAIL", sender)
        if self._allowed_senders is not None and sender not in self._allowed_senders:
            log.info(
                "refused MAIL from %s %s: not in MAIL2FAX_ALLOWED_SENDERS", shown(sender), describe(session)
            )
            raise SenderRefused(f"Sender {shown(sender)} is not allowed to send faxes")
        if user is not None and self._own_addresses_only and sender.strip().lower() != user.lower():
            log.info("refused MAIL from %s %s: not the user's own address", shown(sender), describe(session))
            name = printable(user)
            if "@" not in user:
                raise SenderRefused(
                    f"Sender {shown(sender)} is not allowed: user {name} has no address of its own; "
                    "log in with your mail address as user name"
                )
            raise SenderRefused(
                f"Sender {shown(sender)} is not allowed: user {name} may only send as <{name}>"
            )
        await self._quotas.check(sender)

    async def check_recipient(self, session: Any, sender: str, recipient: Recipient) -> None:
        self._admit(session, "RCPT", sender)
        self._numbers.check(recipient.number)

    async def check_quota(self, sender: str, recipients: int) -> None:
        await self._quotas.check(sender)


def build_gate(settings: Settings, store: Store, clock: Callable[[], datetime]) -> Gate:
    """The gate for these settings; a malformed rule stops the daemon with a ``ConfigError``."""
    numbers = NumberPolicy.from_settings(settings)
    return PolicyGate(
        trusted=TrustedNetworks(settings.trusted_networks),
        numbers=numbers,
        quotas=Quotas(settings.quota, store, clock),
        allowed_senders=SenderList(settings.allowed_senders) if settings.allowed_senders else None,
        own_addresses_only=settings.auth.own_addresses_only,
    )
