"""Quotas across bridges, as ``mail2fax serve`` runs them: mails that two bridges take at the same
moment never pass a limit together, and each mail over it gets the reply naming the limit."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest

from mail2fax.app import Daemon
from tests.capture import CaptureRelay
from tests.conftest import running, settings_for
from tests.mailbuilder import mail
from tests.raw_smtp import RawSMTP, Reply, dot_stuffed
from tests.samples.other import pdf_bytes

pytestmark = pytest.mark.timeout(90)

SENDERS = ("alice@example.com", "bob@example.com")
MAILS = 16
QUOTA = {"sender_per_hour": 3, "global_per_hour": 5}
OVER_SENDER = (
    "4.7.1 Too many faxes from <{sender}>: the limit is 3 fax numbers per hour, please try again later"
)
OVER_GATEWAY = "4.5.3 The fax gateway has reached its limit of 5 fax numbers per hour, please try again later"


async def opened_to_data(port: int, sender: str) -> RawSMTP:
    """A session that has been told ``354``: nothing is queued yet, so every mail has room."""
    client = await RawSMTP.connect(port)
    await client.ehlo()
    assert (await client.command(f"MAIL FROM:<{sender}>")).code == 250
    assert (await client.command("RCPT TO:<14155551212@fax.local>")).code == 250
    assert (await client.command("DATA")).code == 354
    return client


async def upload(client: RawSMTP, serial: int, sender: str) -> Reply:
    message = mail(
        sender=sender,
        subject=f"Quota token-{serial:03d}",
        attachments=[("doc.pdf", pdf_bytes(text=f"token {serial}"), "application/pdf")],
    )
    raw = bytes(message).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    await client.send(dot_stuffed(raw) + b".\r\n")
    try:
        return await client.reply()
    finally:
        await client.close()


async def test_mails_taken_by_two_bridges_at_once_never_pass_a_quota(
    tmp_path: Path, relay: CaptureRelay, pg_url: str
) -> None:
    bridges = [
        settings_for(tmp_path / name, relay, database_url=pg_url, quota=QUOTA) for name in ("one", "two")
    ]
    async with running(bridges[0]) as one, running(bridges[1]) as two:
        await check_mails_at_once(one, [one.smtp_port or 0, two.smtp_port or 0])


async def test_mails_taken_by_two_intake_processes_at_once_never_pass_a_quota(
    tmp_path: Path, relay: CaptureRelay
) -> None:
    settings = settings_for(tmp_path, relay, quota=QUOTA, smtp={"processes": 2})
    async with running(settings) as daemon:
        await check_mails_at_once(daemon, [daemon.smtp_port or 0])


async def check_mails_at_once(daemon: Daemon, ports: list[int]) -> None:
    """Sixteen sessions from two senders, spread over the ports, each told ``354`` before any
    uploads its mail: five mails fit the gateway's limit, at most three each sender's."""
    senders = [SENDERS[serial % 2] for serial in range(MAILS)]
    clients = await asyncio.gather(
        *(opened_to_data(ports[(serial // 2) % len(ports)], sender) for serial, sender in enumerate(senders))
    )
    replies = await asyncio.gather(
        *(
            upload(client, serial, sender)
            for serial, (client, sender) in enumerate(zip(clients, senders, strict=True))
        )
    )
    assert daemon.store is not None
    jobs = await daemon.store.list_jobs()
    accepted = Counter(sender for sender, reply in zip(senders, replies, strict=True) if reply.code == 250)
    assert sum(accepted.values()) == 5, replies
    assert max(accepted.values()) <= 3, accepted
    assert Counter(job.sender for job in jobs) == accepted
    for sender, reply in zip(senders, replies, strict=True):
        if reply.code != 250:
            assert (reply.code, reply.text) in {(450, OVER_SENDER.format(sender=sender)), (452, OVER_GATEWAY)}
