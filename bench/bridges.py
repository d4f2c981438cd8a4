"""PostgreSQL (``--only bridges``): intake per bridge against SQLite, two bridges against one, and
the statements each accepted mail costs the database. Failover is ``bench/failover.py``.

Every round starts its bridges afresh, on a fresh database of the run's own durable server
(``bench/pg.py``) or, for SQLite, in a fresh data directory; the systems of a comparison take
turns within each round (a, b then b, a), so none always runs first.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench import intake
from bench.mails import SmallMails
from bench.pg import INTAKE_STATEMENTS, BenchDatabase, Counts
from bench.procs import ROOT, Server, daemon_environment, start
from bench.stats import median, percentile, spread

SQLITE = "SQLite"
POSTGRES = "PostgreSQL"
ONE = "1 bridge"
TWO = "2 bridges"
BEFORE = " before"  # the same system run from the tree given with --before
VERSUS_SQLITE_SESSIONS = (1, 8)
SCALE_SESSIONS = (8, 16)
PER_SESSION = {1: 200, 8: 50, 16: 25}
PER_SESSION_QUICK = {1: 40, 8: 10, 16: 5}


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def order(round_number: int, systems: tuple[str, ...]) -> tuple[str, ...]:
    return systems if round_number % 2 == 0 else systems[::-1]


@dataclass
class BridgeRound:
    """One timed intake round; ``counts`` is what the database received (PostgreSQL only)."""

    result: intake.IntakeRound
    bridges: int
    processes: int | None  # intake processes per bridge; None: the default (one per core)
    load: float  # the machine's 1-minute load average as the round began
    counts: Counts | None = None
    others: dict[str, int] = field(default_factory=dict)


class Launcher:
    """Starts bridges as production runs them (``bench.daemon``), against the emulator."""

    def __init__(
        self,
        database: BenchDatabase,
        loop: str,
        data_root: Path,
        logs: Path,
        emulator_url: str,
        before: Path | None = None,
    ):
        self.before = before
        self.database = database
        self.loop = loop
        self.data_root = data_root
        self.logs = logs
        self.emulator_url = emulator_url

    async def bridge(
        self,
        name: str,
        url: str | None,
        processes: int | None,
        *,
        emulator_url: str | None = None,
        before: bool = False,
        **more: str,
    ) -> Server:
        workdir = Path(tempfile.mkdtemp(prefix="mail2fax-bench-", dir=self.data_root))
        emulator = emulator_url or self.emulator_url
        env = daemon_environment(workdir, emulator, MAIL2FAX_SHUTDOWN_TIMEOUT="2", **more)
        if url is not None:
            env["MAIL2FAX_DATABASE_URL"] = url
        if processes is not None:
            env["MAIL2FAX_SMTP__PROCESSES"] = str(processes)
        cwd = ROOT
        if before:
            assert self.before is not None
            # The older tree comes first on the path; the launcher is found in this one.
            env["PYTHONPATH"] = os.pathsep.join([str(self.before), str(ROOT)])
            cwd = workdir
        return await start(
            name, "bench.daemon", "--loop", self.loop, env=env, workdir=workdir, cwd=cwd, logs=self.logs
        )

    async def round(
        self, system: str, *, bridges: int, processes: int | None, sessions: int, per_session: int, tag: str
    ) -> BridgeRound:
        """``bridges`` bridges on one fresh database (SQLite: one bridge, its own file)."""
        load = os.getloadavg()[0]
        url = None if system == SQLITE else self.database.new_database()
        servers: list[Server] = []
        try:
            for _ in range(bridges):
                servers.append(await self.bridge(system, url, processes, before=system.endswith(BEFORE)))
            if url is not None:
                self.database.reset_counts()
            result = await intake.intake_round(
                servers[0],
                sessions,
                per_session,
                SmallMails(),
                tag,
                also=servers[1:],
                database_pid=self.database.pid if url is not None else None,
            )
            counts = None
            if url is not None:
                counts = self.database.counts(url, sessions * (intake.WARM_UP + per_session))
        finally:
            for server in servers:
                await server.stop()
            if url is not None:
                self.database.drop(url)
        return BridgeRound(result, bridges, processes, load, counts)


def _tell(round_: BridgeRound) -> None:
    result = round_.result
    text = (
        f"bridges {result.system} sessions={result.sessions}: {result.rate:.0f} mails/s "
        f"p99={1000 * percentile(result.latencies, 0.99):.1f} ms load={round_.load:.1f}"
    )
    if round_.counts is not None:
        text += f" statements/mail={(round_.counts.intake + round_.counts.other) / round_.counts.mails:.2f}"
    say(text)


async def versus_sqlite(launcher: Launcher, rounds: int, per_session: dict[int, int]) -> list[BridgeRound]:
    """One bridge with its default intake processes, on SQLite and on PostgreSQL."""
    found: list[BridgeRound] = []
    for sessions in VERSUS_SQLITE_SESSIONS:
        for number in range(rounds):
            for system in order(number, _with_before(launcher, (SQLITE, POSTGRES), POSTGRES)):
                found.append(
                    await launcher.round(
                        system,
                        bridges=1,
                        processes=None,
                        sessions=sessions,
                        per_session=per_session[sessions],
                        tag=f"v{number}s{sessions}{system[0]}",
                    )
                )
                _tell(found[-1])
    return found


async def two_bridges(launcher: Launcher, rounds: int, per_session: dict[int, int]) -> list[BridgeRound]:
    """One bridge against two on one PostgreSQL database, one intake process each (2 cores here)."""
    found: list[BridgeRound] = []
    for sessions in SCALE_SESSIONS:
        for number in range(rounds):
            for system in order(number, _with_before(launcher, (ONE, TWO), ONE, TWO)):
                launched = await launcher.round(
                    POSTGRES + BEFORE if system.endswith(BEFORE) else POSTGRES,
                    bridges=1 if system.startswith(ONE) else 2,
                    processes=1,
                    sessions=sessions,
                    per_session=per_session[sessions],
                    tag=f"b{number}s{sessions}{system[0]}",
                )
                launched.result.system = system
                found.append(launched)
                _tell(found[-1])
    return found


def _with_before(launcher: Launcher, systems: tuple[str, ...], *also: str) -> tuple[str, ...]:
    """``systems``, and ``also`` run from the --before tree when there is one."""
    if launcher.before is None:
        return systems
    return (*(name + BEFORE for name in also), *systems)


def _ratio(mine: list[float], anchor: list[float]) -> str:
    if not mine or not anchor:
        return ""
    text = f"{median(mine) / median(anchor):.2f}"
    pairs = [m / a for m, a in zip(mine, anchor, strict=False)]
    if len(pairs) > 1:
        text += f" ({min(pairs):.2f}-{max(pairs):.2f})"
    return text


def _busy(result: intake.IntakeRound) -> float:
    """Cores the round kept busy: the bridges', the database's and the load generator's CPU time."""
    return (result.cpu + result.database_cpu + result.client_cpu) / result.elapsed


def _table(found: list[BridgeRound], sessions_list: tuple[int, ...], anchor_name: str) -> list[str]:
    """One row per system and session count; the ratio is to ``anchor_name`` (of the same tree)."""
    systems = list(dict.fromkeys(r.result.system for r in found))
    lines = [
        "| sessions | system | mails/s | p50 ms | p99 ms | bridge CPU ms/mail | PostgreSQL CPU ms/mail "
        f"| load generator CPU ms/mail | cores busy | mails/s vs {anchor_name} |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for sessions in sessions_list:
        rates: dict[str, list[float]] = {}
        for system in systems:
            these = [r.result for r in found if r.result.system == system and r.result.sessions == sessions]
            if not these:
                continue
            rates[system] = [r.rate for r in these]
            database = [r.database_cpu / r.mails for r in these] if any(r.database_cpu for r in these) else []
            anchor = (
                anchor_name + BEFORE if system.endswith(BEFORE) and anchor_name != SQLITE else anchor_name
            )
            versus = _ratio(rates[system], rates.get(anchor, [])) if system != anchor else ""
            lines.append(
                f"| {sessions} | {system} | {spread(rates[system], 0)} "
                f"| {spread([percentile(r.latencies, 0.5) for r in these], 2, 1000)} "
                f"| {spread([percentile(r.latencies, 0.99) for r in these], 2, 1000)} "
                f"| {spread([r.cpu_per_mail for r in these], 2, 1000)} "
                f"| {spread(database, 2, 1000) if database else ''} "
                f"| {spread([r.client_cpu / r.mails for r in these], 2, 1000)} "
                f"| {spread([_busy(r) for r in these], 2)} | {versus} |"
            )
    return lines


def statements_table(found: list[BridgeRound], sessions_list: tuple[int, ...], system: str) -> list[str]:
    """Statements per accepted mail by kind, median over the rounds of ``system`` at each session count."""
    counted = {
        sessions: [
            r.counts
            for r in found
            if r.counts is not None and r.result.sessions == sessions and r.result.system == system
        ]
        for sessions in sessions_list
    }
    header = " | ".join(
        f"per mail, {sessions} session{'s' if sessions > 1 else ''}" for sessions in sessions_list
    )
    lines = [f"| statement | what it does | {header} |", "|---|---|" + "---:|" * len(sessions_list)]

    def cells(value: Callable[[Counts], float]) -> str:
        return " | ".join(
            f"{median([value(c) for c in counted[s]]):.2f}" if counted[s] else "n/a" for s in sessions_list
        )

    for name, _, what in INTAKE_STATEMENTS:
        lines.append(f"| `{name}` | {what} | {cells(lambda c, n=name: c.per_mail(n))} |")
    lines.append(f"| **intake, all** | | {cells(lambda c: c.intake / c.mails)} |")
    lines.append(
        "| mails per `COMMIT` | the stages' transactions included "
        f"| {cells(lambda c: c.per_mail('INSERT INTO jobs') / max(c.per_mail('COMMIT'), 1e-9))} |"
    )
    lines.append(
        f"| other statements | the stages beside intake (below) | {cells(lambda c: c.other / c.mails)} |"
    )
    return lines


def other_statements(found: list[BridgeRound], sessions: int, top: int = 8) -> list[str]:
    """The statements of the stages in this tree's rounds at ``sessions``, summed over rounds."""
    total: dict[str, int] = {}
    mails = 0
    for r in found:
        if r.counts is None or r.result.sessions != sessions or r.result.system != POSTGRES:
            continue
        mails += r.counts.mails
        for name, calls in r.counts.statements.items():
            if name.startswith("other"):
                total[name] = total.get(name, 0) + calls
    ranked = sorted(total.items(), key=lambda item: -item[1])[:top]
    return [f"- {calls} x `{name.removeprefix('other: ')}…`" for name, calls in ranked] + (
        [f"- ({mails} mails accepted in these rounds)"] if mails else []
    )


def report(versus: list[BridgeRound], scaled: list[BridgeRound]) -> list[str]:
    loads = [r.load for r in (*versus, *scaled)]
    lines = ["### PostgreSQL: intake per bridge against SQLite", ""]
    lines += _table(versus, VERSUS_SQLITE_SESSIONS, SQLITE)
    lines += ["", "### PostgreSQL: two bridges against one (one intake process each)", ""]
    lines += _table(scaled, SCALE_SESSIONS, ONE)
    lines += ["", "### PostgreSQL: statements per accepted mail", ""]
    lines += statements_table(versus, VERSUS_SQLITE_SESSIONS, POSTGRES)
    if any(r.result.system == POSTGRES + BEFORE for r in versus):
        lines += ["", "The same, before:", ""]
        lines += statements_table(versus, VERSUS_SQLITE_SESSIONS, POSTGRES + BEFORE)
    lines += ["", f"The stages' statements in the {VERSUS_SQLITE_SESSIONS[-1]}-session rounds:", ""]
    lines += other_statements(versus, VERSUS_SQLITE_SESSIONS[-1])
    if loads:
        lines += ["", f"Load average (1 min) as the rounds began: {min(loads):.1f}-{max(loads):.1f}."]
    return lines
