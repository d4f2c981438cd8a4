"""Jobs as people read them (aligned tables, UTC times) and as scripts read them (plain data)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from mail2fax.logs import escape
from mail2fax.models import Actor, Bridge, Job, JobEvent, Origin, Recipient, StoredDocument


def when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024 or unit == "MiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def shorten(text: str | None, width: int) -> str:
    if not text:
        return "-"
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns, two spaces apart; the last column is not padded."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    lines = []
    for row in (headers, *rows):
        cells = [cell.ljust(w) for cell, w in zip(row[:-1], widths, strict=False)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)


def recipient_text(recipient: Recipient) -> str:
    return f"{recipient.name} <{recipient.number}>" if recipient.name else recipient.number


def job_summary(job: Job) -> dict[str, Any]:
    """A job's facts as JSON-ready data (``queue list`` and the start of ``queue show``)."""
    return {
        "id": job.id,
        "state": job.state.value,
        "sender": job.sender,
        "client": job.origin.client,
        "helo": job.origin.helo,
        "auth_user": job.origin.user,
        "recipients": [{"number": r.number, "name": r.name} for r in job.recipients],
        "subject": job.subject,
        "cover_text": job.cover_text,
        "attempts": job.attempts,
        "created_at": iso(job.created_at),
        "updated_at": iso(job.updated_at),
        "next_attempt_at": iso(job.next_attempt_at),
        "expires_at": iso(job.expires_at),
        "backend": job.backend,
        "backend_id": job.backend_id,
        "submitted_at": iso(job.submitted_at),
        "finished_at": iso(job.finished_at),
        "page_count": job.page_count,
        "document_pages": job.document_pages,
        "last_error": job.last_error,
        "results": [
            {"number": r.number, "status": r.status, "error_code": r.error_code} for r in job.results
        ],
        "send_at": iso(job.options.send_at),
        "resolution": job.options.resolution.value,
        "notified_at": iso(job.notified_at),
        "documents_purged_at": iso(job.documents_purged_at),
    }


def job_detail(job: Job, documents: Sequence[StoredDocument], events: Sequence[JobEvent]) -> dict[str, Any]:
    return {
        **job_summary(job),
        "documents": [
            {
                "position": d.position,
                "filename": d.filename,
                "content_type": d.content_type,
                "size": d.size,
                "pages": d.pages,
            }
            for d in documents
        ],
        "events": [
            {
                "at": iso(e.at),
                "state": e.state.value,
                "by": e.actor.value if e.actor else None,
                "detail": e.detail,
            }
            for e in events
        ],
    }


def bridges_table(bridges: Sequence[Bridge], alive: Sequence[bool], now: datetime) -> str:
    if not bridges:
        return "no bridge has written its heartbeat yet"
    rows = [
        [
            shorten(escape(bridge.host), 40),
            str(bridge.pid),
            bridge.started_at.strftime("%Y-%m-%d %H:%M:%S"),
            f"{max(0.0, (now - bridge.seen_at).total_seconds()):.0f}s ago",
            "alive" if up else "gone",
        ]
        for bridge, up in zip(bridges, alive, strict=True)
    ]
    return table(["HOST", "PID", "STARTED (UTC)", "LAST SEEN", "STATE"], rows)


def jobs_table(jobs: Sequence[Job]) -> str:
    if not jobs:
        return "no jobs"
    rows = [
        [
            job.id,
            job.state.value,
            job.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            str(job.attempts),
            shorten(",".join(r.number for r in job.recipients), 34),
            "-" if job.page_count is None else str(job.page_count),
            shorten(job.sender or "<>", 30),
            shorten(job.last_error, 50),
        ]
        for job in jobs
    ]
    headers = ["ID", "STATE", "CREATED (UTC)", "TRIES", "TO", "PAGES", "SENDER", "LAST ERROR"]
    return table(headers, rows)


GIVEN_UP = "status mail given up: "  # the notify stage's history line for a parked status mail


def _status_mail(job: Job, events: Sequence[JobEvent]) -> str:
    if job.notified_at is not None:
        settled = [e.detail for e in events if e.actor is Actor.NOTIFY and e.detail]
        if settled and settled[-1].startswith(GIVEN_UP):
            return f"given up {when(job.notified_at)}: {shorten(settled[-1].removeprefix(GIVEN_UP), 60)}"
        return f"done {when(job.notified_at)}"
    if not job.notify:
        return "not wanted"
    return "after the final status" if not job.state.is_final else "pending"


def origin_text(origin: Origin) -> str:
    """``192.0.2.10 (HELO scanner.example.com), user scanner``: the audit trail, safe for a terminal."""
    if origin.client is None and origin.helo is None and origin.user is None:
        return "-"  # queued before the audit trail was kept
    text = escape(origin.client or "unknown client")
    if origin.helo:
        text += f" (HELO {escape(origin.helo)})"
    text += f", user {escape(origin.user)}" if origin.user else ", not logged in"
    return text


def job_text(job: Job, documents: Sequence[StoredDocument], events: Sequence[JobEvent]) -> str:
    """Everything an operator needs to find out why a fax did or did not go out."""
    results = {r.number: r for r in job.results}
    recipient_lines = []
    for recipient in job.recipients:
        line = recipient_text(recipient)
        result = results.get(recipient.number)
        if result is not None:
            line += f": {result.status}" + (f" ({result.error_code})" if result.error_code else "")
        recipient_lines.append(line)
    fields = [
        ("State", job.state.value),
        ("Sender", job.sender or "<>"),
        ("Handed over by", origin_text(job.origin)),
        ("Recipients", "\n".join(recipient_lines) or "-"),
        ("Subject", job.subject or "-"),
        ("Cover text", shorten(job.cover_text, 70)),
        ("Backend", job.backend or "-"),
        ("RingCentral id" if job.backend == "ringcentral" else "Backend id", job.backend_id or "-"),
        ("Attempts", str(job.attempts)),
        ("Received", when(job.created_at)),
        ("Send at", when(job.options.send_at)) if job.options.send_at else None,
        ("Next attempt", when(job.next_attempt_at)) if not job.state.is_final else None,
        ("Gives up at", when(job.expires_at)) if not job.state.is_final else None,
        ("Submitted", when(job.submitted_at)),
        ("Finished", when(job.finished_at)),
        ("Pages", "-" if job.page_count is None else str(job.page_count)),
        ("Last error", job.last_error or "-"),
        ("Status mail", _status_mail(job, events)),
    ]
    shown = [field for field in fields if field is not None]
    width = max(len(name) for name, _ in shown) + 2
    lines = [f"Job {job.id}"]
    for name, value in shown:
        first, *rest = value.split("\n")
        lines.append(f"  {name + ':':<{width}}{first}")
        lines.extend(f"  {'':<{width}}{more}" for more in rest)
    lines.append("Documents:")
    if job.documents_purged_at is not None:
        lines.append(f"  deleted {when(job.documents_purged_at)} (MAIL2FAX_RETENTION__DOCUMENTS)")
    for document in documents:
        pages = (
            "" if document.pages is None else f"  {document.pages} page{'s' if document.pages != 1 else ''}"
        )
        kind = f"{document.content_type}  {size(document.size)}{pages}"
        lines.append(f"  {document.position + 1}. {document.filename}  {kind}")
    if not documents and job.documents_purged_at is None:
        lines.append("  none")
    lines.append("History:")
    history = [[when(e.at), e.state.value, e.actor.value if e.actor else "-", e.detail or ""] for e in events]
    lines.extend("  " + line for line in table(["TIME", "STATE", "BY", "DETAIL"], history).split("\n"))
    return "\n".join(lines)
