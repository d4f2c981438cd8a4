"""Three bridges on one PostgreSQL queue, killed with SIGKILL: nothing lost, nothing sent twice.

Three ``mail2fax serve`` processes share one database and the RingCentral emulator, which keeps
RingCentral's Heavy limit of 10 requests (in a window shortened for the test, as the bridges are
told). Clients spread 300 mails over the bridges, each retrying (like any MTA) on another bridge
until it gets ``250``. Meanwhile bridges are killed at random moments, half of the time the one
holding a fax whose answer RingCentral is holding back (mid-upload), and started again. Leases
and the listing grace are short so that failover happens within the test. The seed makes a
failure replayable: MAIL2FAX_CRASH_SEED=<n> pytest tests/test_crash_bridges.py.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import time
from collections import Counter
from pathlib import Path

import aiosmtplib
import psycopg
import pytest

from tests.capture import CaptureRelay
from tests.conftest import wait_until
from tests.daemon_process import DaemonProcess
from tests.emulator import RingCentralEmulator
from tests.mailbuilder import mail
from tests.samples.other import pdf_bytes
from tests.smtp_client import deliver
from tests.test_crash import ringcentral_environment

MAILS = 300
BRIDGES = 3
KILLS = 6
SENDERS = 6
WINDOW = "1"  # seconds: RingCentral's Heavy limit of 10 per window, the window shortened
SEED = int(os.environ.get("MAIL2FAX_CRASH_SEED", "11"))
TOKEN = re.compile(r"token-(\d{3})")


def bridge_environment(
    data_dir: Path, relay: CaptureRelay, rc: RingCentralEmulator, url: str
) -> dict[str, str]:
    env = ringcentral_environment(data_dir, relay, rc)
    env.update(
        MAIL2FAX_DATABASE_URL=url,
        MAIL2FAX_LEASE="2",
        MAIL2FAX_RINGCENTRAL__HEAVY_LIMIT="10",
        MAIL2FAX_RINGCENTRAL__AUTH_LIMIT="5",
        MAIL2FAX_RINGCENTRAL__LIMIT_WINDOW=WINDOW,
    )
    return env


class Bridge:
    def __init__(self, env: dict[str, str], cwd: Path):
        self.env = env
        self.cwd = cwd
        self.daemon: DaemonProcess | None = None
        self.logs: list[str] = []

    @property
    def up(self) -> bool:
        return self.daemon is not None and self.daemon.port != 0

    @property
    def pid(self) -> int | None:
        if self.daemon is None or self.daemon.process is None:
            return None
        return self.daemon.process.pid

    async def start(self) -> None:
        self.daemon = DaemonProcess(self.env, self.cwd)
        await self.daemon.start(at_most=30)

    async def kill(self) -> None:
        assert self.daemon is not None
        daemon, self.daemon = self.daemon, None
        await daemon.kill()
        self.logs.extend(daemon.lines)

    async def stop(self) -> None:
        if self.daemon is not None:
            if self.daemon.process and self.daemon.process.returncode is None:
                await self.daemon.terminate()
            self.logs.extend(self.daemon.lines)


async def send_until_accepted(bridges: list[Bridge], token: int, accepted: list[int]) -> None:
    message = mail(
        subject=f"Bridges crash token-{token:03d}",
        attachments=[("doc.pdf", pdf_bytes(text=f"token {token}"), "application/pdf")],
    )
    message.replace_header("Message-ID", f"<bridges-{token:03d}@example.com>")
    raw = bytes(message)
    for attempt in range(10_000):
        bridge = bridges[(token + attempt) % len(bridges)]
        if bridge.daemon is None or not bridge.up:
            await asyncio.sleep(0.02)
            continue
        try:
            transaction = await deliver(
                bridge.daemon.port, raw, recipients=["14155551212@fax.local"], timeout=10
            )
        except (aiosmtplib.SMTPException, OSError):
            continue
        if transaction.accepted:
            accepted.append(token)
            return
        assert transaction.final.code // 100 == 4, transaction.final
    raise AssertionError(f"token {token} was never accepted")


async def sender(bridges: list[Bridge], tokens: list[int], accepted: list[int]) -> None:
    while tokens:
        await send_until_accepted(bridges, tokens.pop(0), accepted)


async def lease_holder(url: str, bridges: list[Bridge]) -> Bridge | None:
    """The bridge whose process holds the lease of a job in ``submitting``, if any."""
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cursor = await conn.execute("SELECT lease_owner FROM jobs WHERE state = 'submitting'")
        owners = [row[0] for row in await cursor.fetchall() if row[0]]
    pids = {int(owner.split(":")[1]) for owner in owners}
    return next((bridge for bridge in bridges if bridge.pid in pids), None)


async def killer(
    bridges: list[Bridge], rc: RingCentralEmulator, url: str, accepted: list[int], rng: random.Random
) -> None:
    thresholds = sorted(rng.sample(range(20, MAILS - 20), KILLS))
    for number, threshold in enumerate(thresholds):
        await wait_until(lambda t=threshold: len(accepted) >= t, timeout=180)
        victim = rng.choice(bridges)
        if number % 2 == 0:
            # Hold RingCentral's answer to the next fax it creates; kill the bridge sending it.
            created = len(rc.faxes)
            rc.inject(group="Heavy", action="slow", delay=3.0, process=True)
            await wait_until(lambda c=created: len(rc.faxes) > c, timeout=60)
            victim = await lease_holder(url, bridges) or victim
        if victim.daemon is None:
            continue
        await victim.kill()
        await asyncio.sleep(rng.uniform(0.0, 1.5))
        await victim.start()


@pytest.mark.timeout(420)
async def test_three_bridges_killed_at_random_lose_nothing_and_double_nothing(
    tmp_path: Path, relay: CaptureRelay, rc: RingCentralEmulator, pg_url: str
) -> None:
    rng = random.Random(SEED)
    rc.auto_outcome = lambda fax: ("Sent", 1, None)
    rc.set_limit("Heavy", 10, float(WINDOW))
    rc.set_limit("Auth", 5, float(WINDOW))
    bridges = [
        Bridge(bridge_environment(tmp_path / f"bridge{n}", relay, rc, pg_url), tmp_path)
        for n in range(BRIDGES)
    ]
    await asyncio.gather(*(bridge.start() for bridge in bridges))
    accepted: list[int] = []
    tokens = list(range(MAILS))
    try:
        await asyncio.gather(
            *(sender(bridges, tokens, accepted) for _ in range(SENDERS)),
            killer(bridges, rc, pg_url, accepted, rng),
        )
        await wait_until(lambda: told_tokens(relay) >= set(range(MAILS)), timeout=240)
    finally:
        await asyncio.gather(*(bridge.stop() for bridge in bridges))

    assert sorted(accepted) == list(range(MAILS))
    faxed = Counter(int(TOKEN.search(fax.json["coverPageText"])[1]) for fax in rc.faxes)
    told = Counter(token for token, _ in statuses(relay))
    unknown = {token for token, subject in statuses(relay) if "outcome unknown" in subject}
    assert [t for t, c in faxed.items() if c > 1] == []
    assert set(faxed) | unknown == set(range(MAILS))
    assert set(told) == set(range(MAILS))
    # A status mail is repeated only when a bridge died while mailing it.
    assert sum(told.values()) - MAILS <= KILLS, told.most_common(3)
    assert rc.count_429("Heavy") == 0
    logs = "\n".join(line for bridge in bridges for line in bridge.logs)
    assert "Traceback" not in logs


def statuses(relay: CaptureRelay) -> list[tuple[int, str]]:
    found = []
    for captured in relay.mails:
        match = TOKEN.search(captured.body)
        if match:
            found.append((int(match[1]), captured.subject))
    return found


def told_tokens(relay: CaptureRelay) -> set[int]:
    return {token for token, _ in statuses(relay)}


async def lease_of(url: str) -> tuple[str, str | None, float | None]:
    """The one job's state, lease owner and lease expiry."""
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cursor = await conn.execute("SELECT state, lease_owner, lease_expires_at FROM jobs")
        rows = await cursor.fetchall()
    assert len(rows) == 1, rows
    state, owner, expires = rows[0]
    return state, owner, expires


@pytest.mark.timeout(120)
async def test_a_dead_bridges_fax_is_settled_by_another_after_its_lease_without_a_second_fax(
    tmp_path: Path, relay: CaptureRelay, rc: RingCentralEmulator, pg_url: str
) -> None:
    rc.auto_outcome = lambda fax: ("Sent", 1, None)
    # RingCentral creates the fax and holds the answer: the bridge dies with the job in submitting.
    rc.inject(group="Heavy", action="slow", delay=60.0, process=True)
    bridges = [Bridge(bridge_environment(tmp_path / f"b{n}", relay, rc, pg_url), tmp_path) for n in range(2)]
    await asyncio.gather(*(bridge.start() for bridge in bridges))
    try:
        first = bridges[0].daemon
        assert first is not None
        message = mail(attachments=[("doc.pdf", pdf_bytes(text="failover"), "application/pdf")])
        transaction = await deliver(first.port, bytes(message), recipients=["14155551212@fax.local"])
        assert transaction.accepted, transaction.final
        await wait_until(lambda: len(rc.faxes) == 1, timeout=30)
        holder = await lease_holder(pg_url, bridges)
        assert holder is not None
        # While the holder lives it renews its lease, and the other bridge leaves the job alone.
        _, owner, expires = await lease_of(pg_url)
        async with asyncio.timeout(20):
            while (renewed := await lease_of(pg_url))[2] == expires:
                await asyncio.sleep(0.05)
        assert renewed[:2] == ("submitting", owner)
        _, _, deadline = await lease_of(pg_url)
        await holder.kill()
        async with asyncio.timeout(30):
            while (now := await lease_of(pg_url))[0] == "submitting":
                await asyncio.sleep(0.05)
            settled_at = time.time()
        assert now[0] in ("submitted", "sent")
        assert deadline is not None
        assert settled_at >= deadline
        [status] = await relay.wait_for(1, timeout=30)
        assert status.subject.startswith("Fax to +14155551212 sent")
        print(f"failover: settled {settled_at - deadline:.2f}s after the lease ran out")
    finally:
        await asyncio.gather(*(bridge.stop() for bridge in bridges))
    assert len(rc.faxes) == 1
