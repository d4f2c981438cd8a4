"""The intake stage: the aiosmtpd handler that turns an SMTP transaction into a durable job.

It is a thin adapter: parsing is pure code run off the event loop, storage is the store's job,
and every outcome becomes one SMTP reply. ``250`` is said only after the job is committed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from aiosmtpd.smtp import SMTP, Session

from mail2fax.errors import Deferral, DuplicateMail, Refusal, StoreError, StoreFull
from mail2fax.mail.addressing import parse_recipient
from mail2fax.mail.digest import content_digest
from mail2fax.mail.message import ParsedMail, cut_cover_text, parse_mail
from mail2fax.mail.options import check_cover_for_backend, parse_options
from mail2fax.mail.pages import PageCount
from mail2fax.models import Document, FaxRequest, Origin, Recipient, Resolution
from mail2fax.queue.base import Store
from mail2fax.rendering.body import fax_documents
from mail2fax.rendering.pool import Renderer
from mail2fax.settings import QuotaSettings
from mail2fax.smtp.envelope import FaxEnvelope
from mail2fax.smtp.gate import Gate
from mail2fax.smtp.peers import session_origin
from mail2fax.stages.doorbell import Doorbell

log = logging.getLogger("mail2fax.intake")

INTERNAL_ERROR = "451 4.3.0 Temporary problem at the fax gateway, please try again later"
# Mails this large are parsed one at a time: parsing runs in a thread, but holds the GIL for most
# of its work, and the event loop (every other SMTP session) waits its turn behind each such thread.
BIG_MAIL = 1024 * 1024


@dataclass(frozen=True, slots=True)
class IntakeRules:
    fax_domains: tuple[str, ...]
    default_region: str
    body: Literal["auto", "always", "never"]
    max_document_bytes: int
    default_resolution: Resolution
    default_cover: str | None
    lifetime: float
    duplicate_window: float
    backend: str
    max_recipients: int = 100
    quota: QuotaSettings | None = None  # reserved by the store as it queues each mail


@dataclass(frozen=True, slots=True)
class Parsed:
    mail: ParsedMail
    digest: str


def _parse(raw: bytes, rules: IntakeRules) -> Parsed:
    mail = parse_mail(raw, body_mode=rules.body, max_document_bytes=rules.max_document_bytes)
    html = mail.html_body
    digest = content_digest(
        mail.documents,
        html=None if html is None else html.html,
        resources=None if html is None else {cid: resource.data for cid, resource in html.resources.items()},
    )
    return Parsed(mail, digest)


class IntakeHandler:
    def __init__(
        self,
        store: Store,
        rules: IntakeRules,
        *,
        gate: Gate | None = None,
        submit_bell: Doorbell,
        clock: Callable[[], datetime],
        renderer: Renderer,
        observe: Callable[[str, float], None] | None = None,
    ):
        self._store = store
        self._renderer = renderer
        self._rules = rules
        self._gate = gate or Gate()
        self._submit_bell = submit_bell
        self._clock = clock
        self._observe = observe
        self._in_hand: set[asyncio.Task[str]] = set()
        self._big_parse = asyncio.Semaphore(1)

    def _count(self, outcome: str, started: float) -> None:
        if self._observe is not None:
            self._observe(outcome, time.perf_counter() - started)

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: FaxEnvelope, address: str, mail_options: list[str]
    ) -> str:
        started = time.perf_counter()
        try:
            await self._gate.check_sender(session, address)
        except (Refusal, Deferral) as exc:
            self._count(_outcome("MAIL", exc), started)
            return exc.reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: FaxEnvelope, address: str, rcpt_options: list[str]
    ) -> str:
        started = time.perf_counter()
        if len(envelope.rcpt_tos) >= self._rules.max_recipients:
            self._count("RCPT:deferred:TooManyRecipients", started)
            return (
                f"452 4.5.3 Too many recipients: at most {self._rules.max_recipients} numbers a mail; "
                "send the rest in another mail"
            )
        try:
            recipient = parse_recipient(
                address, fax_domains=self._rules.fax_domains, default_region=self._rules.default_region
            )
            await self._gate.check_recipient(session, envelope.mail_from or "", recipient)
        except (Refusal, Deferral) as exc:
            log.info(
                "refused RCPT",
                extra={"recipient": address, "sender": envelope.mail_from, "reply": exc.reply},
            )
            self._count(_outcome("RCPT", exc), started)
            return exc.reply
        if recipient.number not in {known.number for known in envelope.fax_recipients}:
            envelope.fax_recipients.append(recipient)
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def before_data(self, session: Session, envelope: FaxEnvelope) -> str | None:
        """The quotas for all of the mail's numbers, before the client uploads it (early: the
        store checks them again, and finally, in the transaction that queues the mail)."""
        started = time.perf_counter()
        try:
            await self._gate.check_quota(envelope.mail_from or "", len(envelope.fax_recipients))
        except (Refusal, Deferral) as exc:
            self._count(_outcome("DATA", exc), started)
            return exc.reply
        return None

    async def handle_DATA(self, server: SMTP, session: Session, envelope: FaxEnvelope) -> str:
        started = time.perf_counter()
        sender: str = envelope.mail_from or ""
        recipients = list(envelope.fax_recipients)
        raw: bytes = envelope.original_content or b""
        envelope.original_content = envelope.content = None
        try:
            if len(raw) < BIG_MAIL:
                parsed = await asyncio.to_thread(_parse, raw, self._rules)
            else:
                async with self._big_parse:
                    parsed = await asyncio.to_thread(_parse, raw, self._rules)
            del raw
            documents, pages = await fax_documents(
                parsed.mail, self._renderer, max_document_bytes=self._rules.max_document_bytes
            )
            accepting = self._accept(sender, recipients, parsed, documents, pages, session_origin(session))
            reply = await self._finish_even_if_the_client_leaves(accepting)
        except Refusal as exc:
            log.info(
                "refused mail",
                extra={"sender": sender, "numbers": _numbers(recipients), "reply": exc.reply},
            )
            self._count(_outcome("DATA", exc), started)
            return exc.reply
        except Deferral as exc:
            self._count(_outcome("DATA", exc), started)
            return exc.reply
        except StoreFull as exc:
            log.error("mail not queued", extra={"sender": sender, "error": str(exc)})
            self._count(_outcome("DATA", exc), started)
            return "452 4.3.1 Fax gateway storage is full, please try again later"
        except StoreError as exc:
            log.error("mail not queued", extra={"sender": sender, "error": str(exc)})
            self._count(_outcome("DATA", exc), started)
            return "451 4.3.0 Fax gateway queue is unavailable, please try again later"
        self._count("DATA:accepted", started)
        return reply

    async def _finish_even_if_the_client_leaves(self, accepting: Coroutine[Any, Any, str]) -> str:
        """Run the store write to its end even when aiosmtpd cancels us because the client hung up.

        A cancelled write could commit the job and then delete its documents, or leave a
        half-written one; shielded, the job is whole or absent, and a client that retries meets
        the duplicate check.
        """
        task = asyncio.create_task(accepting)
        self._in_hand.add(task)
        task.add_done_callback(self._settled)
        return await asyncio.shield(task)

    def _settled(self, task: asyncio.Task[str]) -> None:
        self._in_hand.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.debug("intake: a store write ended with %r", task.exception())

    async def wait_idle(self) -> None:
        """Wait for store writes that outlived their SMTP session (at shutdown)."""
        if self._in_hand:
            await asyncio.gather(*self._in_hand, return_exceptions=True)

    async def _accept(
        self,
        sender: str,
        recipients: Sequence[Recipient],
        parsed: Parsed,
        documents: tuple[Document, ...],
        pages: PageCount,
        origin: Origin,
    ) -> str:
        mail = parsed.mail
        now = self._clock()
        options, cover_subject = parse_options(
            mail.fax_headers,
            mail.subject,
            default_resolution=self._rules.default_resolution,
            default_cover=self._rules.default_cover,
            now=now,
        )
        check_cover_for_backend(options.cover, self._rules.backend)
        names = self._names_by_number(mail)
        named = tuple(Recipient(r.number, r.name or names.get(r.number)) for r in recipients)
        request = FaxRequest(
            sender=sender,
            recipients=named,
            cover_text=cut_cover_text(cover_subject),
            documents=documents,
            options=options,
            message_id=mail.message_id,
            subject=mail.subject,
            content_digest=parsed.digest,
            notify=not mail.auto_submitted,
            origin=origin,
        )
        window = self._rules.duplicate_window
        try:
            job = await self._store.enqueue(
                request,
                backend=self._rules.backend,
                lifetime=self._rules.lifetime,
                now=now,
                duplicate_since=now - timedelta(seconds=window) if window > 0 else None,
                quota=self._rules.quota,
            )
        except DuplicateMail as duplicate:
            log.info(
                "duplicate received again: not faxed twice",
                extra={"job": duplicate.job_id, "message_id": mail.message_id, "sender": sender},
            )
            return f"250 2.0.0 Already queued as {duplicate.job_id} (duplicate not faxed again)"
        self._submit_bell.ring()
        for left_out in mail.left_out:
            log.info(
                "left out of the fax",
                extra={"job": job.id, "part": left_out.label, "reason": left_out.reason},
            )
        return f"250 2.0.0 Queued as {job.id} ({pages.words()})"

    def _names_by_number(self, mail: ParsedMail) -> dict[str, str]:
        """Display names that the To and Cc headers give to fax addresses, by E.164 number."""
        names: dict[str, str] = {}
        for address, name in mail.recipient_names.items():
            try:
                number = parse_recipient(
                    address, fax_domains=self._rules.fax_domains, default_region=self._rules.default_region
                ).number
            except Refusal:
                continue
            names.setdefault(number, name)
        return names

    async def handle_exception(self, error: Exception) -> str:
        log.error(
            "unexpected error in an SMTP session",
            extra={"error": f"{type(error).__name__}: {error}"},
            exc_info=error,
        )
        return INTERNAL_ERROR


def _outcome(command: str, exc: Exception) -> str:
    """What ``observe`` is told: ``COMMAND:refused|deferred:ExceptionName``."""
    kind = "refused" if isinstance(exc, Refusal) else "deferred"
    return f"{command}:{kind}:{type(exc).__name__}"


def _numbers(recipients: Sequence[Recipient]) -> str:
    return ",".join(r.number for r in recipients) or "-"
