"""Who may send faxes to which numbers, and how many: the intake stage's gate, built from the settings.

At MAIL FROM, in this order:

1. The session must have logged in (SMTP AUTH) or come from ``MAIL2FAX_TRUSTED_NETWORKS``;
   otherwise ``530 5.7.0 Authentication required``. Out of the box only loopback is trusted.
2. When ``MAIL2FAX_ALLOWED_SENDERS`` is set, the envelope sender must be on it (an address, or
   ``*@domain``); and with ``MAIL2FAX_AUTH__OWN_ADDRESSES_ONLY`` a logged-in user may only use its
   own user name as sender. Otherwise ``550 5.7.1``.
3. The quotas, early: there must be room for one more number.

At RCPT TO the first check is repeated and the number policy applies (``550 5.7.1`` naming the
rule). At the DATA command, before the client sends the mail, the quotas are checked for all its
numbers: ``450 4.7.1`` for a sender's own limit, ``452 4.5.3`` for the gateway's, ``552 5.5.3``
for a mail with more numbers than a limit. Quotas count the numbers dialled by the jobs in the
store, so a restart does not reset them; the store checks them once more, with the same replies,
in the transaction that queues the mail (``queue.quota_reserve``), so mails taken at the same
moment, by any process or bridge, cannot pass a limit together.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime

from aiosmtpd.smtp import Session

from mail2fax.errors import ConfigError, Deferral, SenderRefused, StoreError
from mail2fax.mail.number_policy import NumberPolicy
from mail2fax.mail.quota import check_quotas, quotas_active
from mail2fax.mail.safe_text import for_reply, in_angles
from mail2fax.models import Recipient
from mail2fax.queue.base import Store
from mail2fax.settings import QuotaSettings, Settings
from mail2fax.smtp.peers import TrustedNetworks, authenticated_user, describe

log = logging.getLogger("mail2fax.gate")


class Gate:
    """Who may send what: the checks run at MAIL and RCPT. The open gate lets everyone through."""

    async def check_sender(self, session: Session, sender: str) -> None:
        return None

    async def check_recipient(self, session: Session, sender: str, recipient: Recipient) -> None:
        return None

    async def check_quota(self, sender: str, numbers: int) -> None:
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
    """Per-sender and global limits on numbers dialled per hour and per day (``mail.quota``),
    checked early against the numbers counted in the store.

    The store checks them again in the transaction that queues the mail, and that check decides;
    this one spares a client over its limit the upload of a mail that would be refused.
    """

    def __init__(self, limits: QuotaSettings, store: Store, clock: Callable[[], datetime]):
        self._limits = limits
        self._store = store
        self._clock = clock

    @property
    def active(self) -> bool:
        return quotas_active(self._limits)

    async def check(self, sender: str, numbers: int) -> None:
        """Pass if ``numbers`` more fit every limit, or raise saying which limit they do not fit."""
        if not self.active:
            return
        await check_quotas(self._limits, sender, numbers, now=self._clock(), count=self._count)

    async def _count(self, since: datetime, sender: str | None) -> int:
        try:
            return await self._store.count_numbers(since=since, sender=sender)
        except StoreError as exc:
            log.error("quota: cannot count the numbers dialled", extra={"error": str(exc)})
            raise Deferral("Fax gateway queue is unavailable, please try again later") from exc


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

    def _admit(self, session: Session, command: str, sender: str) -> str | None:
        """The logged-in user (or ``None`` for a trusted client); refuses anyone else."""
        user = authenticated_user(session)
        if user is None and not self._trusted.trusts(session):
            log.info(
                "refused %s from %s %s: not logged in, not trusted",
                command,
                in_angles(sender),
                describe(session),
            )
            raise SenderRefused("Authentication required", code=530, enhanced="5.7.0")
        return user

    async def check_sender(self, session: Session, sender: str) -> None:
        user = self._admit(session, "MAIL", sender)
        if self._allowed_senders is not None and sender not in self._allowed_senders:
            log.info(
                "refused MAIL from %s %s: not in MAIL2FAX_ALLOWED_SENDERS",
                in_angles(sender),
                describe(session),
            )
            raise SenderRefused(f"Sender {in_angles(sender)} is not allowed to send faxes")
        if user is not None and self._own_addresses_only and sender.strip().lower() != user.lower():
            log.info(
                "refused MAIL from %s %s: not the user's own address", in_angles(sender), describe(session)
            )
            name = for_reply(user)
            if "@" not in user:
                raise SenderRefused(
                    f"Sender {in_angles(sender)} is not allowed: user {name} has no address of its own; "
                    "log in with your mail address as user name"
                )
            raise SenderRefused(
                f"Sender {in_angles(sender)} is not allowed: user {name} may only send as <{name}>"
            )
        await self._quotas.check(sender, 1)

    async def check_recipient(self, session: Session, sender: str, recipient: Recipient) -> None:
        self._admit(session, "RCPT", sender)
        self._numbers.check(recipient.number)

    async def check_quota(self, sender: str, numbers: int) -> None:
        await self._quotas.check(sender, numbers)


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
