"""``mail2fax send``: put a fax in the queue without SMTP, checked as a mail would be.

The files are sniffed and renamed like attachments, the numbers read like recipient addresses
and held to the same number policy and quotas, and the job is committed to the daemon's queue.
The operator is trusted like a client on a trusted network (no SMTP AUTH). The running
daemon's submit stage finds the job within ``MAIL2FAX_SUBMIT__INTERVAL``.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from mail2fax.clock import WallClock, utcnow
from mail2fax.commands import CommandError, Report
from mail2fax.commands.context import open_store
from mail2fax.commands.render import job_summary, recipient_text, size
from mail2fax.errors import InvalidOption, MalformedAddress, TooLarge
from mail2fax.mail.addressing import parse_recipient
from mail2fax.mail.digest import content_digest
from mail2fax.mail.mailbox import Role, parse_mailbox
from mail2fax.mail.message import COVER_TEXT_LIMIT
from mail2fax.mail.number_policy import NumberPolicy
from mail2fax.mail.options import parse_options
from mail2fax.mail.sniffing import safe_filename, sniff
from mail2fax.models import Actor, Document, FaxOptions, FaxRequest, Origin, Recipient
from mail2fax.settings import Settings

STDIN = "-"


def read_recipients(numbers: Sequence[str], settings: Settings) -> tuple[Recipient, ...]:
    """Numbers as given on the command line (``+14155551212``, ``415-555-1212`` or ``N@domain``)."""
    recipients: dict[str, Recipient] = {}
    domain = settings.fax_domains[0]
    for given in numbers:
        address = given if "@" in given else f"{given}@{domain}"
        recipient = parse_recipient(
            address, fax_domains=settings.fax_domains, default_region=settings.default_region
        )
        recipients.setdefault(recipient.number, recipient)
    return tuple(recipients.values())


def read_documents(paths: Sequence[Path], max_bytes: int) -> tuple[Document, ...]:
    """Each file's bytes, sniffed against the allow-list and given a safe name; all or nothing.

    A file named ``-`` is read from standard input (for ``docker exec -i`` and ``systemd-run
    --pipe``, where the daemon's user cannot open the operator's files).
    """
    total = 0
    documents: list[Document] = []
    if sum(1 for path in paths if str(path) == STDIN) > 1:
        raise CommandError("standard input (-) can be only one of the files")
    for position, path in enumerate(paths, start=1):
        from_stdin = str(path) == STDIN
        try:
            data = sys.stdin.buffer.read(max_bytes + 1) if from_stdin else path.read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror or exc}") from exc
        total += len(data)
        if total > max_bytes:
            raise TooLarge(
                f"the documents are over the limit of {size(max_bytes)} (MAIL2FAX_MAX_DOCUMENT_BYTES)"
            )
        found = sniff(data, label="standard input" if from_stdin else path.name)
        name = safe_filename(None if from_stdin else path.name, found.extension, position)
        documents.append(Document(filename=name, content_type=found.content_type, data=data))
    return tuple(documents)


def fax_options(
    settings: Settings, *, resolution: str | None, send_at: str | None, now: datetime
) -> FaxOptions:
    """The options as the X-Fax-* headers of a mail would set them, with the same defaults."""
    headers = {}
    if resolution:
        headers["X-Fax-Resolution"] = resolution
    if send_at:
        headers["X-Fax-Send-At"] = send_at
    options, _ = parse_options(
        headers,
        "",
        default_resolution=settings.fax_resolution,
        default_cover=settings.cover,
        now=now,
    )
    return options


def system_user() -> str:
    """Who runs this command, as the audit trail records it."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # a user id without a name, as in some containers
        return f"uid {os.getuid()}"


async def send_fax(
    settings: Settings,
    *,
    numbers: Sequence[str],
    files: Sequence[Path],
    cover_text: str = "",
    sender: str = "",
    resolution: str | None = None,
    send_at: str | None = None,
    clock: WallClock = utcnow,
) -> Report:
    if not files:
        raise CommandError("nothing to fax: name at least one file")
    if len(cover_text) > COVER_TEXT_LIMIT:
        raise InvalidOption(
            f"--cover: the cover page text is longer than RingCentral's {COVER_TEXT_LIMIT} characters"
        )
    if sender:
        try:
            parse_mailbox(sender, Role.SENDER)
        except MalformedAddress as exc:
            raise InvalidOption(f"--from: {sender!r} is not a mail address") from exc
    options = fax_options(settings, resolution=resolution, send_at=send_at, now=clock())
    recipients = read_recipients(numbers, settings)
    policy = NumberPolicy.from_settings(settings)
    for recipient in recipients:
        policy.check(recipient.number)
    documents = await asyncio.to_thread(read_documents, files, settings.max_document_bytes)
    request = FaxRequest(
        sender=sender,
        recipients=recipients,
        cover_text=cover_text,
        documents=documents,
        options=options,
        subject=cover_text,
        content_digest=content_digest(documents),
        notify=bool(sender),
        origin=Origin(client="local", user=system_user()),
    )
    async with open_store(settings) as store:
        job = await store.enqueue(
            request,
            backend=settings.backend,
            lifetime=settings.retry.lifetime,
            now=clock(),
            actor=Actor.OPERATOR,
            quota=settings.quota,
        )
    to = ", ".join(recipient_text(r) for r in recipients)
    names = ", ".join(d.filename for d in documents)
    when = f", to go out at {options.send_at:%Y-%m-%d %H:%M} UTC" if options.send_at else ""
    text = f"{job.id}\nqueued: fax to {to}: {names}{when}"
    return Report(text, job_summary(job))
