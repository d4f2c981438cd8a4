"""The types at the SMTP edge: the envelope of one fax mail and the hooks the intake stage offers."""

from __future__ import annotations

from typing import Protocol

from aiosmtpd.smtp import SMTP, Envelope, Session

from mail2fax.models import Recipient


class FaxEnvelope(Envelope):
    """aiosmtpd's envelope, plus the fax numbers the recipients stand for (one per number)."""

    def __init__(self) -> None:
        super().__init__()
        self.fax_recipients: list[Recipient] = []


class IntakeHooks(Protocol):
    """What the SMTP session calls: aiosmtpd's ``handle_*`` hooks and a check before ``354``.

    The addresses the hooks get have passed :func:`mail2fax.mail.mailbox.parse_path`.
    """

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: FaxEnvelope, address: str, mail_options: list[str]
    ) -> str: ...

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: FaxEnvelope, address: str, rcpt_options: list[str]
    ) -> str: ...

    async def before_data(self, session: Session, envelope: FaxEnvelope) -> str | None:
        """A refusal of the whole mail before its content is sent, or ``None`` to go on."""

    async def handle_DATA(self, server: SMTP, session: Session, envelope: FaxEnvelope) -> str: ...

    async def handle_exception(self, error: Exception) -> str: ...
