"""The status mail a sender gets once their fax is final, in plain words.

It is built only from parts that are safe in a mail: the recipient is a mailbox that passed
RFC 5321's grammar (:mod:`mail2fax.mail.mailbox`), every other outside value (the original
subject, display names, RingCentral's error text, the Message-ID it answers) is made one line
(:func:`~mail2fax.mail.safe_text.one_line`) or left out.
"""

from __future__ import annotations

import email.utils
import re
from datetime import datetime
from email.message import EmailMessage

from mail2fax.errors import MalformedAddress
from mail2fax.mail.mailbox import Mailbox, Role, parse_mailbox
from mail2fax.mail.safe_text import one_line
from mail2fax.models import Job, JobState, RecipientResult

SUBJECT_LIMIT = 200
# RFC 5322's msg-id, in the plain form nearly every mail program writes: <left@right>.
_MESSAGE_ID = re.compile(r"<[!-;=?-~]{1,200}@[!-;=?-~]{1,200}>")

FAX_ERROR_WORDS = {
    "AllLinesInUse": "all lines were in use",
    "NoFaxSendPermission": "this account may not send faxes",
    "NoInternationalPermission": "this account may not send international faxes",
    "NoFaxMachine": "no fax machine answered (a person or voicemail picked up)",
    "NoAnswer": "nobody answered",
    "LineBusy": "the line was busy",
    "CallerHungUp": "the receiving side hung up",
    "NotEnoughCredits": "the account has not enough credit",
    "SentPartially": "only part of the fax went through",
    "InternationalCallingDisabled": "international calling is disabled for this account",
    "DestinationCountryDisabled": "faxing to this country is disabled",
    "UnknownCountryCode": "the country code is unknown",
    "NotAccepted": "the receiving machine did not accept the fax",
    "InvalidNumber": "the number is not valid",
    "CallDeclined": "the call was declined",
    "TooManyCallsPerLine": "too many calls on the line",
    "CallFailed": "the call failed",
    "RenderingFailed": "RingCentral could not render the documents",
    "TooManyPages": "the fax has too many pages (RingCentral's limit is 200)",
    "NoCallTime": "no call time was left",
    "WrongNumber": "the number is wrong",
    "ProhibitedNumber": "the number is prohibited",
    "InternalError": "RingCentral had an internal error",
    "FaxSendingProhibited": "fax sending is prohibited for this account",
    "ThePhoneIsBlacklisted": "the number is blocked",
    "AccountSuspended": "the RingCentral account is suspended",
    "ProhibitedDestination": "the destination is prohibited",
    "InternationalDisabled": "international faxing is disabled",
    "ConvertError": "the documents could not be converted",
}


def _when(value: datetime | None) -> str:
    return email.utils.format_datetime(value) if value else "-"


def _recipient_line(number: str, name: str | None, result: RecipientResult | None, job: Job) -> str:
    shown_name = one_line(name, 100)
    label = f"{shown_name} <{number}>" if shown_name else number
    state = job.state
    if job.backend == "dry-run" and state is JobState.SENT:
        return f"  {label}: not sent (dry run)"
    if result is None:
        outcome = {
            JobState.SENT: "sent",
            JobState.ACCEPTED: "accepted by RingCentral",
            JobState.FAILED: "not sent",
            JobState.UNKNOWN: "unknown",
            JobState.CANCELLED: "cancelled",
        }.get(state, state.value)
        return f"  {label}: {outcome}"
    status = one_line(result.status, 100)
    if result.error_code:
        code = one_line(result.error_code, 100)
        words = FAX_ERROR_WORDS.get(result.error_code, code)
        return f"  {label}: {status}: {words} ({code})"
    return f"  {label}: {status}"


def _numbers(job: Job) -> str:
    numbers = [r.number for r in job.recipients]
    if len(numbers) > 3:
        return ", ".join(numbers[:3]) + f" and {len(numbers) - 3} more"
    return ", ".join(numbers)


def _error(job: Job) -> str:
    return one_line(job.last_error, SUBJECT_LIMIT) or "unknown reason"


def subject_for(job: Job) -> str:
    to = _numbers(job)
    pages = f" ({job.page_count} page{'s' if job.page_count != 1 else ''})" if job.page_count else ""
    if job.backend == "dry-run" and job.state is JobState.SENT:
        return f"Fax to {to} not sent: dry run only"
    if job.state is JobState.SENT:
        return f"Fax to {to} sent{pages}"
    if job.state is JobState.ACCEPTED:
        return f"Fax to {to} accepted by RingCentral"
    if job.state is JobState.FAILED:
        return one_line(f"Fax to {to} failed: {_error(job)}", SUBJECT_LIMIT)
    if job.state is JobState.CANCELLED:
        return f"Fax to {to} cancelled"
    return f"Fax to {to}: outcome unknown"


def _summary(job: Job) -> list[str]:
    if job.backend == "dry-run":
        return [
            "This was a DRY RUN: mail2fax runs with MAIL2FAX_BACKEND=dry-run, so nothing was sent to",
            "RingCentral and no fax was transmitted. The request that would have been sent is in",
            f"the outbox directory of the server, under {job.id}/.",
        ]
    if job.state is JobState.SENT:
        return ["RingCentral reports that your fax was sent."]
    if job.state is JobState.ACCEPTED:
        return [
            "RingCentral accepted your fax for sending. This bridge cannot see the final result:",
            "RingCentral mails it to the RingCentral account's own email address.",
        ]
    if job.state is JobState.FAILED:
        return [f"Your fax was NOT sent: {_error(job)}."]
    if job.state is JobState.CANCELLED:
        return ["Your fax was cancelled by an operator and was not sent."]
    return [
        "The outcome of your fax is UNKNOWN. It was not sent again automatically, so that nobody",
        f"receives it twice. {one_line(job.last_error, SUBJECT_LIMIT)}".rstrip(),
        "Please check with the recipient or your administrator before sending it again.",
    ]


def _pages(job: Job) -> str:
    if job.page_count is not None:
        return str(job.page_count)
    if job.document_pages is not None:
        return f"{job.document_pages} (counted when your mail arrived; a cover page adds one)"
    return "-"


def status_recipient(address: str) -> Mailbox | None:
    """The mailbox a status mail may go to, or None when ``address`` is not exactly one mailbox."""
    try:
        return parse_mailbox(address, Role.SENDER)
    except MalformedAddress:
        return None


def replied_id(message_id: str | None) -> str | None:
    """The Message-ID a status mail answers (In-Reply-To), or None when it is not a plain msg-id."""
    text = (message_id or "").strip()
    # A mail reader would decode an encoded word even here, in an unstructured header.
    return text if _MESSAGE_ID.fullmatch(text) and "=?" not in text else None


def compose(job: Job, *, from_address: str, now: datetime, to: Mailbox) -> EmailMessage:
    """The status mail for a final job, addressed to ``to`` (the job's sender, or the operator)."""
    message = EmailMessage()
    message["From"] = from_address
    message["To"] = str(to)
    message["Subject"] = subject_for(job)
    message["Date"] = email.utils.format_datetime(now)
    domain = from_address.rpartition("@")[2] or "mail2fax.invalid"
    message["Message-ID"] = email.utils.make_msgid(idstring=f"status.{job.id}", domain=domain)
    message["Auto-Submitted"] = "auto-replied"
    message["X-Mail2Fax-Job"] = job.id
    answered = replied_id(job.message_id)
    if answered is not None:
        message["In-Reply-To"] = answered
        message["References"] = answered
    results = {r.number: r for r in job.results}
    lines = [*_summary(job), "", "Recipients:"]
    lines += [_recipient_line(r.number, r.name, results.get(r.number), job) for r in job.recipients]
    lines += [
        "",
        f"Pages:              {_pages(job)}",
        f"Original subject:   {one_line(job.subject, SUBJECT_LIMIT) or '(none)'}",
        f"Received:           {_when(job.created_at)}",
        f"Handed to the service: {_when(job.submitted_at)}",
        f"Final:              {_when(job.finished_at)}",
        f"Attempts:           {job.attempts}",
        f"RingCentral message id: {one_line(job.backend_id, 100) or '-'}",
        f"mail2fax job:       {job.id}",
    ]
    message.set_content("\n".join(lines) + "\n")
    return message
