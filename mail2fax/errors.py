"""Every error mail2fax raises on purpose, as one tree.

    Mail2FaxError
    ├── ConfigError                 a setting is missing or contradicts another; the daemon will not start
    ├── StartupError                the daemon cannot start for another reason (a port is taken)
    ├── QueueOwnerError             the queue belongs to another user than the one running the command
    ├── Refusal                     a mail that can never be faxed; carries its SMTP reply
    │   ├── RecipientRefused        RCPT: bad number (553 5.1.3), not a fax domain or a policy (550 5.7.1)
    │   ├── SenderRefused           MAIL: sender not allowed (550 5.7.1), authentication required (530)
    │   ├── MalformedAddress        MAIL/RCPT: not an RFC 5321 mailbox (553 5.1.7 sender, 553 5.1.3 recipient)
    │   ├── TooLarge                DATA: documents over the size limit (552 5.3.4)
    │   ├── UnfaxableDocument       DATA: a part of a type RingCentral does not take (554 5.6.1)
    │   ├── UnrenderableBody        DATA: an HTML body that cannot be laid out within the limits (554 5.6.1)
    │   ├── NothingToFax            DATA: no document at all (554 5.6.0)
    │   ├── MalformedMail           DATA: MIME too broken or too deeply nested to read (554 5.6.0)
    │   └── InvalidOption           DATA: a fax option that cannot be honoured (550 5.5.4)
    ├── Deferral                    a mail that cannot be taken now but may be later; carries a 4xx reply
    ├── StoreError                  the queue on disk failed
    │   ├── StoreFull               the disk is full (452)
    │   └── StoreUnavailable        locked, unreadable or otherwise failing (451)
    ├── BackendError                the fax service did not do what was asked
    │   ├── TemporaryBackendError   try again later (timeouts, 5xx, 429, "try later" codes)
    │   │   ├── BackendAuthError    credentials rejected: hold every job until fixed
    │   │   └── UncertainSubmission the fax request may have arrived: settle it before sending again
    │   └── PermanentBackendError   the request can never succeed as it is
    ├── RelayError                  the SMTP relay did not take a status mail
    │   └── PermanentRelayError     the relay refused this recipient for good
    ├── DuplicateMail               the same mail from the same sender is already queued
    └── JobNotFound                 the operator named a job that does not exist

Adapters translate foreign exceptions (httpx, sqlite3, smtplib) into these with ``raise … from``;
nothing above an adapter catches a foreign exception.
"""

from __future__ import annotations


class Mail2FaxError(Exception):
    """Base of every error mail2fax raises on purpose."""


class ConfigError(Mail2FaxError):
    """A setting is missing, malformed or contradicts another. The message names the variable."""


class StartupError(Mail2FaxError):
    """The daemon cannot start, for a reason the settings do not show (a port already in use)."""


class QueueOwnerError(Mail2FaxError):
    """The queue's files belong to another user; writing to them would lock the daemon out."""


class Refusal(Mail2FaxError):
    """A mail refused for good, with the SMTP reply that tells the sender why."""

    code: int = 554
    enhanced: str = "5.6.0"

    def __init__(self, reason: str, *, code: int | None = None, enhanced: str | None = None):
        super().__init__(reason)
        self.reason = reason
        if code is not None:
            self.code = code
        if enhanced is not None:
            self.enhanced = enhanced

    @property
    def reply(self) -> str:
        return f"{self.code} {self.enhanced} {self.reason}"


class RecipientRefused(Refusal):
    code = 550
    enhanced = "5.7.1"


class SenderRefused(Refusal):
    code = 550
    enhanced = "5.7.1"


class MalformedAddress(Refusal):
    """An envelope address that breaks RFC 5321's grammar or mail2fax's stricter rules."""

    code = 553
    enhanced = "5.1.3"


class TooLarge(Refusal):
    code = 552
    enhanced = "5.3.4"


class UnfaxableDocument(Refusal):
    code = 554
    enhanced = "5.6.1"


class UnrenderableBody(Refusal):
    code = 554
    enhanced = "5.6.1"


class NothingToFax(Refusal):
    code = 554
    enhanced = "5.6.0"


class MalformedMail(Refusal):
    code = 554
    enhanced = "5.6.0"


class InvalidOption(Refusal):
    code = 550
    enhanced = "5.5.4"


class Deferral(Mail2FaxError):
    """A mail that cannot be taken now, with the 4xx reply that asks the client to retry."""

    def __init__(self, reason: str, *, code: int = 451, enhanced: str = "4.3.0"):
        super().__init__(reason)
        self.reason = reason
        self.code = code
        self.enhanced = enhanced

    @property
    def reply(self) -> str:
        return f"{self.code} {self.enhanced} {self.reason}"


class StoreError(Mail2FaxError):
    """The queue on disk failed."""


class StoreFull(StoreError):
    """The disk holding the queue is full."""


class StoreUnavailable(StoreError):
    """The queue is locked, unreadable or otherwise failing."""


class BackendError(Mail2FaxError):
    """The fax service did not do what was asked. ``code`` is the service's own error code."""

    def __init__(self, message: str, *, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.code = code

    def __str__(self) -> str:
        return f"{self.code}: {self.message}" if self.code else self.message


class TemporaryBackendError(BackendError):
    """Worth trying again. ``retry_after`` is the service's own wait in seconds, when it gave one."""

    def __init__(self, message: str, *, code: str | None = None, retry_after: float | None = None):
        super().__init__(message, code=code)
        self.retry_after = retry_after


class BackendAuthError(TemporaryBackendError):
    """The service rejected our credentials: every job waits until an operator fixes them."""


class UncertainSubmission(TemporaryBackendError):
    """The request left and no clear answer came back: the fax may exist at the service.

    Never resend on this error; look for the fax first (FaxBackend.recover).
    """


class PermanentBackendError(BackendError):
    """The service will never accept this request as it is."""


class RelayError(Mail2FaxError):
    """The SMTP relay did not take a status mail; try again later."""


class PermanentRelayError(RelayError):
    """The relay refused the status mail for good (for example an invalid recipient)."""


class DuplicateMail(Mail2FaxError):
    """The same mail (sender, Message-ID, recipients, documents, options) is already a job: ``job_id``."""

    def __init__(self, job_id: str):
        super().__init__(f"already queued as {job_id}")
        self.job_id = job_id


class JobNotFound(Mail2FaxError):
    """No job has the id an operator gave."""
