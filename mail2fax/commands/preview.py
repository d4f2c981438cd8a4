"""``mail2fax render MAIL.eml``: exactly what the gateway would fax for a mail, without faxing it.

The mail goes through the same parsing, rendering and page counting as intake; the documents
are written, in fax order, to a directory where a person can open them.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from mail2fax.app import render_limits
from mail2fax.commands import CommandError, Report
from mail2fax.commands.render import size, table
from mail2fax.errors import Refusal
from mail2fax.mail.message import parse_mail
from mail2fax.models import Document
from mail2fax.rendering.body import fax_documents
from mail2fax.rendering.pool import Renderer
from mail2fax.settings import Settings


async def render_mail(settings: Settings, mail_path: Path, output: Path | None) -> Report:
    try:
        raw = await asyncio.to_thread(mail_path.read_bytes)
    except OSError as exc:
        raise CommandError(f"cannot read {mail_path}: {exc.strerror or exc}") from None
    renderer = Renderer(render_limits(settings))
    try:
        parsed = parse_mail(raw, body_mode=settings.body, max_document_bytes=settings.max_document_bytes)
        documents, pages = await fax_documents(
            parsed, renderer, max_document_bytes=settings.max_document_bytes
        )
    except Refusal as exc:
        raise CommandError(f"{mail_path} would be refused: {exc.reply}") from None
    finally:
        await renderer.close()
    directory = output or Path(f"{mail_path.stem}.fax")
    written = await asyncio.to_thread(_write, directory, documents)
    rows = [
        [str(n), d.filename, d.content_type, "?" if d.pages is None else str(d.pages), size(len(d.data))]
        for n, d in enumerate(documents, start=1)
    ]
    lines = [
        f"{mail_path}: {len(documents)} document{'s' if len(documents) != 1 else ''}, {pages.words()}",
        *("  " + line for line in table(["#", "FILE", "TYPE", "PAGES", "SIZE"], rows).split("\n")),
    ]
    if parsed.left_out:
        lines.append("Left out:")
        lines.extend(f"  {item.label}: {item.reason}" for item in parsed.left_out)
    lines.append(f"Written to {directory}/: " + ", ".join(path.name for path in written))
    data = {
        "mail": str(mail_path),
        "pages": pages.total,
        "counted_pages": pages.counted,
        "documents": [
            {"file": str(path), "filename": d.filename, "content_type": d.content_type, "pages": d.pages}
            | {"size": len(d.data)}
            for d, path in zip(documents, written, strict=True)
        ],
        "left_out": [{"label": item.label, "reason": item.reason} for item in parsed.left_out],
    }
    return Report("\n".join(lines), data)


def _write(directory: Path, documents: tuple[Document, ...]) -> list[Path]:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        paths = []
        for position, document in enumerate(documents, start=1):
            path = directory / f"{position:02d}-{document.filename}"
            path.write_bytes(document.data)
            paths.append(path)
    except OSError as exc:
        raise CommandError(f"cannot write to {directory}: {exc.strerror or exc}") from None
    return paths
