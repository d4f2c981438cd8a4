"""Intake: small mails over 1, 8 and 32 concurrent SMTP sessions, many mails per session."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

from bench.mails import SmallMails
from bench.procs import SINGLE, Running, tree_cpu_seconds
from bench.smtp_load import Session
from bench.stats import median, percentile, spread

WARM_UP = 3  # mails per session before the clock starts


@dataclass
class IntakeRound:
    system: str
    sessions: int
    mails: int
    elapsed: float
    latencies: list[float]
    cpu: float
    database_cpu: float = 0.0  # a database server's processes, when there is one
    client_cpu: float = 0.0  # the load generator (this process)

    @property
    def rate(self) -> float:
        return self.mails / self.elapsed

    @property
    def cpu_per_mail(self) -> float:
        return self.cpu / self.mails


async def intake_round(
    server: Running,
    sessions: int,
    per_session: int,
    mails: SmallMails,
    tag: str,
    *,
    also: Sequence[Running] = (),
    database_pid: int | None = None,
) -> IntakeRound:
    """Open the sessions, warm them up, then time ``per_session`` mails on each, all at once.

    With ``also`` (more servers, e.g. more bridges on one queue) the sessions take the servers in
    turn, and the CPU time is theirs together; ``database_pid`` is a database server's root
    process, whose tree's CPU time is counted apart.
    """
    servers = [server, *also]
    batches = [
        [mails.make(f"{tag}-{session}-{index}") for index in range(WARM_UP + per_session)]
        for session in range(sessions)
    ]
    connections = await asyncio.gather(
        *(Session.open(servers[session % len(servers)].port) for session in range(sessions))
    )
    latencies: list[float] = []
    try:
        await asyncio.gather(
            *(_send_all(c, batch[:WARM_UP], []) for c, batch in zip(connections, batches, strict=True))
        )
        await asyncio.sleep(0.5)  # the daemon's first submission (and the imports it needs) ends
        cpu_before = sum(tree_cpu_seconds(s.pid) for s in servers)
        database_before = tree_cpu_seconds(database_pid) if database_pid else 0.0
        client_before = time.process_time()
        began = time.perf_counter()
        await asyncio.gather(
            *(_send_all(c, batch[WARM_UP:], latencies) for c, batch in zip(connections, batches, strict=True))
        )
        elapsed = time.perf_counter() - began
        cpu = sum(tree_cpu_seconds(s.pid) for s in servers) - cpu_before
        database_cpu = tree_cpu_seconds(database_pid) - database_before if database_pid else 0.0
        client_cpu = time.process_time() - client_before
    finally:
        await asyncio.gather(*(connection.close() for connection in connections))
    return IntakeRound(
        server.name, sessions, sessions * per_session, elapsed, latencies, cpu, database_cpu, client_cpu
    )


async def _send_all(session: Session, batch: list[bytes], latencies: list[float]) -> None:
    for data in batch:
        latencies.append(await session.send(data))


def _ratio(mine: list[float], anchor: list[float] | None) -> str:
    """Median of mine over median of the anchor, and the spread of the round-by-round ratios."""
    if not anchor or not mine:
        return ""
    text = f"{median(mine) / median(anchor):.2f}"
    pairs = [m / a for m, a in zip(mine, anchor, strict=False)]
    if len(pairs) > 1:
        text += f" ({min(pairs):.2f}-{max(pairs):.2f})"
    return text


def report(rounds: list[IntakeRound], concurrency: tuple[int, ...]) -> list[str]:
    lines = [
        "### Intake: small mails (about 2 KB of text and a one-page PDF)",
        "",
        "Per system and number of sessions: median over rounds (min-max). Time-to-250 is measured by "
        "the client from the end of DATA to the reply. Server CPU counts the whole process tree.",
        "",
        "| sessions | system | mails/s | p50 ms | p99 ms | server CPU ms/mail | mails/s vs bare "
        "| mails/s vs Postfix |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for sessions in concurrency:
        rates: dict[str, list[float]] = {}
        for system in ("bare", "postfix", "before", SINGLE, "mail2fax"):
            these = [r for r in rounds if r.system == system and r.sessions == sessions]
            if not these:
                continue
            rates[system] = [r.rate for r in these]
            versus_bare = _ratio(rates[system], rates.get("bare")) if system != "bare" else ""
            versus_postfix = (
                _ratio(rates[system], rates.get("postfix")) if system not in ("bare", "postfix") else ""
            )
            lines.append(
                f"| {sessions} | {system} | {spread([r.rate for r in these], 0)} "
                f"| {spread([percentile(r.latencies, 0.5) for r in these], 2, 1000)} "
                f"| {spread([percentile(r.latencies, 0.99) for r in these], 2, 1000)} "
                f"| {spread([r.cpu_per_mail for r in these], 2, 1000)} | {versus_bare} | {versus_postfix} |"
            )
    return lines
