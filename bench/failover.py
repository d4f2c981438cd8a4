"""Failover: SIGKILL the bridge holding a job in ``submitting``; how long until another settles it.

Two bridges share a fresh database and the RingCentral emulator (in this process, so the
benchmark can hold back its answers). One mail goes in; when RingCentral has the fax request and a
bridge holds the job in ``submitting`` under its lease, that bridge gets SIGKILL. The clock runs
from the kill until the other bridge moves the job out of ``submitting`` (its lease expired, the
submit stage claimed it and looked the fax up before anything was resent), then on until the fax
is at RingCentral. Two cases:

* *answer held*: RingCentral created the fax and holds its answer: the survivor finds the fax
  in the message store and adopts it, once the lease has expired;
* *request lost*: RingCentral never took the request (it hangs): the survivor finds no fax and
  waits for the listing grace, counted from the start of the attempt, before it sends again.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import psycopg

from bench.bridges import Launcher, say
from bench.mails import SmallMails
from bench.procs import Server
from bench.smtp_load import Session
from bench.stats import spread
from mail2fax.settings import RingCentralSettings, Settings, SubmitSettings
from tests.emulator import RingCentralEmulator

HELD = "answer held"
LOST = "request lost"
DEFAULT_LEASE = float(Settings.model_fields["lease"].default)
DEFAULT_GRACE = float(RingCentralSettings.model_fields["listing_grace"].default)
SUBMIT_INTERVAL = float(SubmitSettings.model_fields["interval"].default)
POLL = 0.1


@dataclass
class FailoverRound:
    case: str
    lease: float
    grace: float
    settled: float  # seconds from the kill until the job left ``submitting``
    at_ringcentral: float  # seconds from the kill until the job was submitted (again, if lost)
    path: str  # the job's states from the kill on, as its history has them
    faxes: int  # faxes RingCentral holds for this mail: 1 is right
    load: float

    @property
    def bound(self) -> float:
        return self.lease + self.grace


async def _job(url: str) -> tuple[str, str, str | None] | None:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cursor = await conn.execute("SELECT id, state, lease_owner FROM jobs ORDER BY created_at LIMIT 1")
        row = await cursor.fetchone()
    return (str(row[0]), str(row[1]), row[2]) if row else None


async def _path_after_kill(url: str) -> str:
    """The states the job went through after the first ``submitting`` (the one the kill cut)."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cursor = await conn.execute("SELECT state FROM events ORDER BY id")
        states = [str(row[0]) for row in await cursor.fetchall()]
    after = states[states.index("submitting") + 1 :] if "submitting" in states else states
    return " → ".join(after)


async def _until(check: Callable[[], Awaitable[bool]], at_most: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + at_most
    while not await check():
        if loop.time() > deadline:
            raise TimeoutError(f"waited {at_most:.0f} s")
        await asyncio.sleep(POLL)


async def failover_round(launcher: Launcher, case: str, lease: float | None, tag: str) -> FailoverRound:
    load = os.getloadavg()[0]
    url = launcher.database.new_database()
    async with RingCentralEmulator() as rc:
        more = {} if lease is None else {"MAIL2FAX_LEASE": f"{lease:g}"}
        bridges: list[Server] = []
        try:
            for _ in range(2):
                bridges.append(await launcher.bridge("failover", url, 1, emulator_url=rc.base_url, **more))
            if case == HELD:
                rc.inject(group="Heavy", action="slow", delay=3600.0, process=True)
            else:
                rc.inject(group="Heavy", action="hang")
            session = await Session.open(bridges[0].port)
            try:
                await session.send(SmallMails().make(tag))
            finally:
                await session.close()

            async def holder() -> bool:
                # RingCentral has the request (HELD: and created the fax); a bridge holds the lease.
                job = await _job(url)
                arrived = len(rc.faxes) > 0 if case == HELD else len(rc.requests_in("Heavy")) > 0
                return arrived and job is not None and job[1] == "submitting" and job[2] is not None

            await _until(holder, 120)
            job = await _job(url)
            assert job is not None
            assert job[2] is not None
            owner_pid = int(job[2].split(":")[1])
            victim = next(bridge for bridge in bridges if bridge.pid == owner_pid)
            victim.process.kill()
            killed = time.monotonic()
            await victim.process.wait()

            async def left_submitting() -> bool:
                found = await _job(url)
                return found is not None and found[1] != "submitting"

            bound = (lease or DEFAULT_LEASE) + DEFAULT_GRACE
            await _until(left_submitting, bound + 4 * SUBMIT_INTERVAL)
            settled = time.monotonic() - killed

            async def submitted() -> bool:
                found = await _job(url)
                return found is not None and found[1] not in ("queued", "deferred", "submitting")

            await _until(submitted, bound + 4 * SUBMIT_INTERVAL)
            at_ringcentral = time.monotonic() - killed
            faxes = len(rc.faxes)  # this round's emulator saw only this mail
            path = await _path_after_kill(url)
        finally:
            for bridge in bridges:
                await bridge.stop()
            launcher.database.drop(url)
    return FailoverRound(
        case, lease or DEFAULT_LEASE, DEFAULT_GRACE, settled, at_ringcentral, path, faxes, load
    )


async def run(launcher: Launcher, rounds: int, short_lease: float) -> list[FailoverRound]:
    """``rounds`` of each case with the default lease, then the held answer with a short lease."""
    found: list[FailoverRound] = []
    plan = [(HELD, None)] * rounds + [(LOST, None)] + [(HELD, short_lease)] * rounds
    for number, (case, lease) in enumerate(plan):
        result = await failover_round(launcher, case, lease, f"failover-{number}")
        found.append(result)
        say(
            f"failover {case} lease={result.lease:g}s: settled {result.settled:.1f} s after the kill "
            f"({result.path}), at RingCentral {result.at_ringcentral:.1f} s, faxes={result.faxes} "
            f"load={result.load:.1f}"
        )
    return found


def report(found: list[FailoverRound]) -> list[str]:
    lines = [
        "### PostgreSQL: failover, from SIGKILL of the bridge holding a job in `submitting`",
        "",
        f"Defaults: lease `MAIL2FAX_LEASE` {DEFAULT_LEASE:g} s, RingCentral's listing grace "
        f"`MAIL2FAX_RINGCENTRAL__LISTING_GRACE` {DEFAULT_GRACE:g} s, submit interval "
        f"`MAIL2FAX_SUBMIT__INTERVAL` {SUBMIT_INTERVAL:g} s.",
        "",
        "| case | lease s | rounds | settled by the other bridge, s | fax at RingCentral, s "
        "| bound (lease + grace), s | then | faxes per mail |",
        "|---|---:|---:|---:|---:|---:|---|---:|",
    ]
    groups: dict[tuple[str, float], list[FailoverRound]] = {}
    for result in found:
        groups.setdefault((result.case, result.lease), []).append(result)
    for (case, lease), these in groups.items():
        lines.append(
            f"| {case} | {lease:g} | {len(these)} | {spread([r.settled for r in these], 1)} "
            f"| {spread([r.at_ringcentral for r in these], 1)} | {these[0].bound:g} "
            f"| {'; '.join(sorted({r.path for r in these}))} | {', '.join(str(r.faxes) for r in these)} |"
        )
    return lines
