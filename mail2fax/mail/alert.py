"""The mail that tells the operator a job was parked: built only from fixed text and made-safe values.

It goes out when something already went wrong with a job, so nothing in it may fail again: every
value that came from the job or from an exception is cut to one line of printable ASCII.
"""

from __future__ import annotations

import email.utils
from datetime import datetime
from email.message import EmailMessage

from mail2fax.mail.mailbox import Mailbox
from mail2fax.mail.safe_text import for_reply

LINE_LIMIT = 300

ADVICE = {
    "submit": [
        "The job is held: it will not be sent until a person acts.",
        "Once the cause is fixed:  mail2fax queue release {job}",
        "To give up on it:         mail2fax queue cancel {job}   (the sender is told)",
    ],
    "track": [
        "Its outcome could not be read, so the job is now 'unknown': the fax may have gone out.",
        "The sender is told the outcome is unknown. Check the account's sent faxes before",
        "sending it again with:    mail2fax queue retry --force {job}",
    ],
    "notify": [
        "Its sender got no status mail. Tell them its outcome yourself:",
        "                          mail2fax queue show {job}",
    ],
    "retention": [
        "Its documents stay on disk. Once the cause is fixed, remove the job with",
        "                          mail2fax queue purge --older-than …",
    ],
}


def one_line(text: str, limit: int = LINE_LIMIT) -> str:
    return for_reply(text, limit)


def compose_alert(
    *, job_id: str, state: str, stage: str, reason: str, from_address: str, to: Mailbox, now: datetime
) -> EmailMessage:
    job = one_line(job_id, 40)
    message = EmailMessage()
    message["From"] = from_address
    message["To"] = str(to)
    message["Subject"] = f"mail2fax: job {job} needs a person"
    message["Date"] = email.utils.format_datetime(now)
    message["Auto-Submitted"] = "auto-generated"
    lines = [
        f"mail2fax stopped working on job {job}: it kept failing in the {one_line(stage, 20)} stage.",
        "",
        f"Job:     {job}",
        f"State:   {one_line(state, 20)}",
        f"Reason:  {one_line(reason)}",
        "",
        *(line.format(job=job) for line in ADVICE.get(stage, [])),
        "",
        "The log has the traceback of each error (grep for the job id).",
    ]
    message.set_content("\n".join(lines) + "\n")
    return message
