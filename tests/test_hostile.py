"""Malformed and hostile mails against the running daemon: a correct fax or a clear 5xx, every time.

Never a dropped connection, a ``500``, a ``451`` from an internal error or a stuck session; the
daemon keeps serving, and nothing is written outside DATA_DIR.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from pathlib import Path

import pytest

from mail2fax.app import Daemon
from mail2fax.smtp.protocol import LINE_TOO_LONG
from tests.capture import CaptureRelay
from tests.conftest import running, settings_for, wait_until
from tests.hostile import FROM, PDF, TO, Case, corpus
from tests.mailbuilder import mail
from tests.raw_smtp import RawSMTP
from tests.samples.other import pdf_bytes
from tests.smtp_client import queued_job

pytestmark = pytest.mark.timeout(60)

CASES = corpus()
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._()+,-]*\.pdf")


def files_under(root: Path) -> set[Path]:
    found: set[Path] = set()
    for directory, _dirs, names in os.walk(root):
        found.update(Path(directory, name) for name in names)
    return found


async def send_case(client: RawSMTP, case: Case) -> tuple[int, str]:
    assert (await client.command(f"MAIL FROM:<{FROM}>")).code == 250
    assert (await client.command(f"RCPT TO:<{TO}>")).code == 250
    reply = await client.data(case.raw, crlf=False)
    return reply.code, reply.text


def check_reply(case: Case, code: int, text: str) -> None:
    assert code not in (500, 451), f"{case.name}: {code} {text}"
    if case.expect == "fax":
        assert code == 250, f"{case.name}: {code} {text}"
        assert re.fullmatch(
            r"2\.0\.0 (Queued as \w+ \(\d+ pages?\)|Already queued as \w+ \(duplicate not faxed again\))",
            text,
        ), text
    else:
        assert code == case.code, f"{case.name}: {code} {text}"
        assert re.fullmatch(r"5\.\d\.\d .{10,}", text), f"{case.name}: not a clear refusal: {text!r}"
        for fragment in case.says:
            assert fragment in text, f"{case.name}: {fragment!r} not in {text!r}"


async def check_documents(daemon: Daemon, case: Case, job_id: str, data_dir: Path) -> None:
    assert daemon.store is not None
    documents = await daemon.store.documents(job_id)
    assert len(documents) == len(case.documents), documents
    for document, expected in zip(documents, case.documents, strict=True):
        assert document.content_type == "application/pdf"
        assert SAFE_NAME.fullmatch(document.filename), document.filename
        assert expected in ("*", document.filename), (document.filename, expected)
        stored = Path(document.path).resolve()
        assert stored.is_relative_to(data_dir.resolve())
        assert stored.read_bytes() == PDF


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_hostile_mail_gets_a_fax_or_a_clear_refusal(
    tmp_path: Path, relay: CaptureRelay, case: Case, caplog: pytest.LogCaptureFixture
) -> None:
    data_dir = tmp_path / "deep" / "down" / "data"
    before = files_under(tmp_path)
    async with running(settings_for(data_dir, relay)) as daemon:
        client = await RawSMTP.connect(daemon.smtp_port)
        await client.ehlo()
        code, text = await send_case(client, case)
        check_reply(case, code, text)
        # The session is still there and answers.
        assert (await client.command("NOOP")).code == 250
        assert (await client.command("QUIT")).code == 221
        await client.close()
        if case.expect == "fax":
            job_id = queued_job(text)
            await check_documents(daemon, case, job_id, data_dir)
            # The dry-run backend writes the request with the documents' names: still inside.
            await wait_until(lambda: (data_dir / "outbox" / job_id / "complete").exists())
        else:
            assert daemon.store is not None
            assert await daemon.store.list_jobs() == []
    written = files_under(tmp_path) - before
    assert all(path.resolve().is_relative_to(data_dir.resolve()) for path in written), written
    assert not any(
        part in ("..", "etc", "tmp") for path in written for part in path.relative_to(data_dir).parts
    )
    assert not Path("/etc/passwd.pdf").exists()
    assert not (Path.cwd() / ".." / ".." / "etc" / "passwd.pdf").exists()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_the_whole_corpus_in_one_session_then_in_parallel_and_the_daemon_keeps_serving(
    tmp_path: Path, relay: CaptureRelay, caplog: pytest.LogCaptureFixture
) -> None:
    async with running(settings_for(tmp_path / "data", relay)) as daemon:
        client = await RawSMTP.connect(daemon.smtp_port)
        await client.command("HELO [192.168.1.21]")
        for case in CASES:
            check_reply(case, *await send_case(client, case))
            assert (await client.command("RSET")).code == 250
        await client.command("QUIT")
        await client.close()

        async def one(case: Case) -> None:
            session = await RawSMTP.connect(daemon.smtp_port)
            await session.ehlo()
            check_reply(case, *await send_case(session, case))
            await session.command("QUIT")
            await session.close()

        # The same mails again, all at once: the faxes among them are duplicates now.
        await asyncio.gather(*(one(case) for case in CASES))
        ordinary = bytes(mail(sender=FROM, to=TO, attachments=[("ok.pdf", pdf_bytes(), "application/pdf")]))
        client = await RawSMTP.connect(daemon.smtp_port)
        await client.ehlo()
        assert (await client.command(f"MAIL FROM:<{FROM}>")).code == 250
        assert (await client.command(f"RCPT TO:<{TO}>")).code == 250
        assert (await client.data(ordinary)).code == 250
        await client.close()
        assert daemon.store is not None
        faxes = sum(1 for case in CASES if case.expect == "fax")
        assert len(await daemon.store.list_jobs()) == faxes + 1
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_a_line_over_a_mebibyte_is_refused_clearly_and_the_session_goes_on(
    tmp_path: Path, relay: CaptureRelay
) -> None:
    raw = f"From: {FROM}\r\nTo: {TO}\r\nSubject: long\r\n\r\n".encode() + b"A" * (1024 * 1024 + 10) + b"\r\n"
    async with running(settings_for(tmp_path, relay)) as daemon:
        client = await RawSMTP.connect(daemon.smtp_port)
        await client.ehlo()
        assert (await client.command(f"MAIL FROM:<{FROM}>")).code == 250
        assert (await client.command(f"RCPT TO:<{TO}>")).code == 250
        reply = await client.data(raw)
        assert str(reply) == LINE_TOO_LONG
        assert (await client.command("NOOP")).code == 250
        assert daemon.store is not None
        assert await daemon.store.list_jobs() == []
        await client.close()


async def test_a_mail_over_the_size_limit_is_refused_with_552(tmp_path: Path, relay: CaptureRelay) -> None:
    settings = settings_for(tmp_path, relay, max_document_bytes=64 * 1024)
    too_big = bytes(
        mail(
            sender=FROM, to=TO, attachments=[("big.pdf", pdf_bytes() + b"\0" * 2_000_000, "application/pdf")]
        )
    )
    async with running(settings) as daemon:
        client = await RawSMTP.connect(daemon.smtp_port)
        await client.ehlo()
        assert (await client.command(f"MAIL FROM:<{FROM}>")).code == 250
        assert (await client.command(f"RCPT TO:<{TO}>")).code == 250
        reply = await client.data(too_big)
        assert reply.code == 552
        assert (await client.command("NOOP")).code == 250
        await client.close()
