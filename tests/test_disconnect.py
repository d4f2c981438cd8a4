"""A client that hangs up while its mail is being stored: the job is whole or absent, never half."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

import pytest

import mail2fax.queue.spool
from tests.capture import CaptureRelay
from tests.conftest import eventually, running, settings_for
from tests.mailbuilder import mail
from tests.samples.other import pdf_bytes
from tests.smtp_client import deliver
from tests.test_shutdown import command, read_reply


async def test_hang_up_during_the_commit_keeps_the_whole_job(
    tmp_path: Path, relay: CaptureRelay, monkeypatch: pytest.MonkeyPatch
) -> None:
    pdf = pdf_bytes(pages=2)
    raw = bytes(mail(subject="hung up", attachments=[("a.pdf", pdf, "application/pdf")]))
    writing, release = threading.Event(), threading.Event()
    real_fsync = os.fsync

    def slow_disk(descriptor: int) -> None:
        writing.set()
        release.wait(10)
        real_fsync(descriptor)

    async with running(settings_for(tmp_path, relay)) as daemon:
        store = daemon.store
        assert store is not None
        monkeypatch.setattr(mail2fax.queue.spool.os, "fsync", slow_disk)
        reader, writer = await asyncio.open_connection("127.0.0.1", daemon.smtp_port)
        assert (await read_reply(reader)).startswith("220")
        for line in ("EHLO client.test", "MAIL FROM:<alice@example.com>", "RCPT TO:<14155551212@fax.local>"):
            assert (await command(reader, writer, line)).startswith("250")
        assert (await command(reader, writer, "DATA")).startswith("354")
        writer.write(raw.replace(b"\n", b"\r\n") + b"\r\n.\r\n")
        await writer.drain()
        await asyncio.to_thread(writing.wait, 10)
        writer.transport.abort()
        release.set()

        async def one_job() -> bool:
            return len(await store.list_jobs()) == 1

        await eventually(one_job)
        monkeypatch.undo()
        [job] = await store.list_jobs()
        [document] = await store.documents(job.id)
        assert Path(document.path).read_bytes() == pdf
        again = await deliver(daemon.smtp_port, raw, recipients=["14155551212@fax.local"])
        assert again.final.text == f"2.0.0 Already queued as {job.id} (duplicate not faxed again)"
        [status] = await relay.wait_for(1)
    assert status.recipients == ["alice@example.com"]
    assert (tmp_path / "outbox" / job.id / "01-a.pdf").read_bytes() == pdf
