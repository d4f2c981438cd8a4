"""Sends status mails through the configured SMTP relay."""

from __future__ import annotations

from email.message import EmailMessage

import aiosmtplib

from mail2fax.errors import PermanentRelayError, RelayError
from mail2fax.mail.mailbox import Mailbox
from mail2fax.settings import RelaySettings


class Mailer:
    def __init__(self, settings: RelaySettings):
        self._settings = settings

    async def send(self, message: EmailMessage, *, recipient: Mailbox, envelope_from: str = "") -> None:
        """Deliver one message to ``recipient``, the only envelope recipient (headers are not read).

        Raise RelayError (temporary) or PermanentRelayError.
        """
        relay = self._settings
        try:
            await aiosmtplib.send(
                message,
                sender=envelope_from,
                recipients=[str(recipient)],
                hostname=relay.host,
                port=relay.port,
                username=relay.user,
                password=relay.password.get_secret_value() if relay.password else None,
                use_tls=relay.tls == "implicit",
                start_tls=relay.tls == "starttls",
                timeout=relay.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [refusal.code for refusal in exc.recipients]
            if codes and all(500 <= code < 600 for code in codes):
                raise PermanentRelayError(f"the relay refused the recipient: {exc}") from exc
            raise RelayError(f"the relay refused the recipient for now: {exc}") from exc
        except aiosmtplib.SMTPResponseException as exc:
            if 500 <= exc.code < 600 and not isinstance(exc, aiosmtplib.SMTPAuthenticationError):
                raise PermanentRelayError(f"the relay refused the mail: {exc.code} {exc.message}") from exc
            raise RelayError(f"the relay answered {exc.code} {exc.message}") from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise RelayError(f"the relay at {relay.host}:{relay.port} is unreachable: {exc}") from exc
