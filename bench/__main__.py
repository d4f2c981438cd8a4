"""``python -m bench``: run the benchmarks and print a Markdown report (see docs/benchmarks.md)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench import (
    api,
    bridges,
    depth,
    failover,
    intake,
    longlines,
    machine,
    postfix,
    round_trips,
    scans,
    stats,
)
from bench.mails import MiB, SmallMails, pdf_of_size
from bench.pg import BenchDatabase
from bench.procs import ROOT, Systems, start

INTAKE_SESSIONS = (1, 8, 32)
QUEUE_DEPTHS = (0, 10_000, 100_000)
DEPTH_SESSIONS = 8
SCAN_CONCURRENCY = (1, 4)


def _order(round_number: int, systems: tuple[str, ...]) -> tuple[str, ...]:
    """a, b then b, a (a, b, c then c, b, a): no system always runs first."""
    return systems if round_number % 2 == 0 else systems[::-1]


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


async def _intake(
    systems: Systems, rounds: int, per_session: dict[int, int], only_sessions: list[int] | None
) -> list[intake.IntakeRound]:
    mails = SmallMails()
    results: list[intake.IntakeRound] = []
    for sessions in only_sessions or INTAKE_SESSIONS:
        for number in range(rounds):
            for system in _order(number, systems.intake_names):
                server = await systems.start(system)
                try:
                    result = await intake.intake_round(
                        server, sessions, per_session[sessions], mails, f"r{number}s{sessions}"
                    )
                finally:
                    await server.stop()
                results.append(result)
                _say(
                    f"intake sessions={sessions} round={number} {system}: {result.rate:.0f} mails/s "
                    f"p99={1000 * sorted(result.latencies)[int(0.99 * (len(result.latencies) - 1))]:.1f} ms"
                )
    return results


async def _smtp_source(systems: Systems, rounds: int, mails: int) -> list[float]:
    """Postfix's intake measured with its own C client, as the reference point the intake rounds use."""
    rates: list[float] = []
    for number in range(rounds):
        server = await systems.start("postfix")
        try:
            rates.append(await postfix.smtp_source_rate(server.port, sessions=8, mails=mails))
        finally:
            await server.stop()
        _say(f"smtp-source sessions=8 round={number} postfix: {rates[-1]:.0f} mails/s")
    return rates


async def _depth(systems: Systems, rounds: int, per_session: int) -> list[depth.DepthRound]:
    """Intake at 8 sessions with 0, 10k and 100k jobs queued; depths interleaved within each round."""
    mails = SmallMails()
    results: list[depth.DepthRound] = []
    for number in range(rounds):
        for queued in _order(number, QUEUE_DEPTHS):
            for system in _order(number, systems.daemons):
                server = await systems.start(system, queued=queued)
                try:
                    result = await intake.intake_round(
                        server, DEPTH_SESSIONS, per_session, mails, f"r{number}d{queued}"
                    )
                finally:
                    await server.stop()
                results.append(depth.DepthRound(queued, number, result))
                _say(f"depth queued={queued} round={number} {system}: {result.rate:.0f} mails/s")
    return results


async def _lines(systems: Systems, rounds: int) -> list[longlines.LinesRound]:
    """200 never-ending 1 MiB command lines against each system, one intake process each."""
    results: list[longlines.LinesRound] = []
    for number in range(rounds):
        for system in _order(number, systems.names):
            server = await systems.start(system, processes=1)
            try:
                result = await longlines.lines_round(server)
            finally:
                await server.stop()
            results.append(result)
            _say(
                f"lines round={number} {system}: {result.admitted} admitted, "
                f"grew {result.growth / MiB:.0f} MiB to {result.peak_rss / MiB:.0f} MiB"
            )
    return results


async def _scans(systems: Systems, rounds: int, pdf_size: int, repeat: int) -> list[scans.ScanRound]:
    pdf = pdf_of_size(pdf_size)
    small = SmallMails()
    results: list[scans.ScanRound] = []
    for concurrent in SCAN_CONCURRENCY:
        for number in range(rounds):
            for system in _order(number, systems.names):
                server = await systems.start(system)
                try:
                    tag = f"r{number}c{concurrent}"
                    result = await scans.scans_round(server, concurrent, pdf, small, tag, repeat)
                finally:
                    await server.stop()
                results.append(result)
                _say(
                    f"scans concurrent={concurrent} round={number} {system}: "
                    f"peak {result.peak_rss / MiB:.0f} MiB "
                    f"big {max(result.big):.2f} s, probe max {1000 * max(result.probe, default=0):.0f} ms"
                )
    return results


async def _bridges(args: argparse.Namespace, rounds: int, logs: Path) -> tuple[list[str], dict[str, Any]]:
    """PostgreSQL: its own durable server, the emulator as for intake, then each chosen part."""
    try:
        database = BenchDatabase(args.data_root).start()
    except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
        _say(f"PostgreSQL's server did not start ({exc}): the bridges part is left out")
        return [f"PostgreSQL part left out: its server did not start ({exc}).", ""], {}
    emulator = await start("emulator", "bench.emulator_server", logs=logs, nice=19)
    lines = ["### PostgreSQL: the server", ""]
    lines += [f"- {name}: {value}" for name, value in database.settings()]
    lines += [f"- data directory under {args.data_root}, unix socket only", ""]
    record: dict[str, Any] = {"server": dict(database.settings())}
    try:
        launcher = bridges.Launcher(
            database, args.loop, args.data_root, logs, emulator.address, before=args.before
        )
        per_session = bridges.PER_SESSION_QUICK if args.quick else bridges.PER_SESSION
        versus: list[bridges.BridgeRound] = []
        scaled: list[bridges.BridgeRound] = []
        if "versus" in args.bridges:
            versus = await bridges.versus_sqlite(launcher, rounds, per_session)
        if "two" in args.bridges:
            scaled = await bridges.two_bridges(launcher, rounds, per_session)
        lines += [*bridges.report(versus, scaled), ""]
        if "versus" in args.bridges:
            trees = {"mail2fax": await round_trips.from_tree(database, None)}
            if args.before is not None:
                trees = {"before": await round_trips.from_tree(database, args.before), **trees}
            lines += ["### PostgreSQL: round trips per accepted mail", ""]
            lines += [*round_trips.report(trees), ""]
            record["round_trips"] = trees
        record["intake"] = [asdict(r) for r in (*versus, *scaled)]
        if "failover" in args.bridges:
            failed = await failover.run(launcher, 1 if args.quick else rounds, args.short_lease)
            lines += [*failover.report(failed), ""]
            record["failover"] = [asdict(r) for r in failed]
    finally:
        await emulator.stop()
        database.stop()
    return lines, record


async def main(args: argparse.Namespace) -> int:
    data_root: Path = args.data_root
    os.makedirs(data_root, exist_ok=True)
    logs = Path(tempfile.mkdtemp(prefix="bench-logs-", dir=data_root))
    rounds = 1 if args.quick else args.rounds
    per_session = {1: 40, 8: 10, 32: 4} if args.quick else {1: 200, 8: 50, 32: 15}
    if args.mails:
        per_session = dict.fromkeys(per_session, args.mails)
    lines = ["## Results", ""]
    lines += [f"- {name}: {value}" for name, value in machine.describe(ROOT, args.loop, data_root)]
    lines += [f"- command: `python -m bench {' '.join(sys.argv[1:])}`".replace("  ", " "), ""]
    record: dict[str, Any] = {"machine": dict(machine.describe(ROOT, args.loop, data_root))}
    began = time.monotonic()
    if {"intake", "scans", "depth", "lines"} & set(args.only):
        # The emulator stands in for RingCentral's servers, which are not on this machine: it runs
        # at the lowest priority so that its parsing of uploads takes no CPU from the servers.
        emulator = await start("emulator", "bench.emulator_server", logs=logs, nice=19)
        with_postfix = postfix.available() and not args.no_postfix
        if not with_postfix:
            _say("postfix or smtp-source not found: Postfix is not compared (apt-get install postfix)")
        systems = Systems(
            args.loop,
            data_root,
            logs,
            emulator.address,
            args.before,
            postfix=with_postfix,
            single=args.single,
        )
        try:
            if "intake" in args.only:
                intake_rounds = await _intake(systems, rounds, per_session, args.sessions)
                lines += [*intake.report(intake_rounds, tuple(args.sessions or INTAKE_SESSIONS)), ""]
                if with_postfix:
                    rates = await _smtp_source(systems, rounds, 600 if args.quick else 3000)
                    lines += [
                        "Postfix with its own client (`smtp-source -s 8 -m N -l 2048`, 2 KB text mails): "
                        f"{stats.spread(rates, 0)} mails/s.",
                        "",
                    ]
                    record["smtp_source"] = rates
                record["intake"] = [asdict(r) for r in intake_rounds]
            if "depth" in args.only:
                depth_rounds = await _depth(systems, rounds, per_session[DEPTH_SESSIONS])
                lines += [*depth.report(depth_rounds, QUEUE_DEPTHS), ""]
                record["depth"] = [asdict(r) for r in depth_rounds]
            if "lines" in args.only:
                line_rounds = await _lines(systems, rounds)
                lines += [*longlines.report(line_rounds), ""]
                record["lines"] = [asdict(r) for r in line_rounds]
            if "scans" in args.only:
                scan_rounds = await _scans(systems, rounds, args.scan_mib * MiB, 1 if args.quick else 2)
                lines += [*scans.report(scan_rounds, SCAN_CONCURRENCY), ""]
                record["scans"] = [asdict(r) for r in scan_rounds]
        finally:
            await emulator.stop()
    if "bridges" in args.only:
        bridge_lines, record["bridges"] = await _bridges(args, rounds, logs)
        lines += bridge_lines
    if "api" in args.only:
        tracked, paced = await api.run(data_root, quick=args.quick, window=args.pacing_window)
        lines += [*api.report(tracked, paced), ""]
        record["api"] = {
            "tracking": [
                {"outstanding": t.outstanding, "cold": dict(t.cold), "warm": [dict(w) for w in t.warm]}
                for t in tracked
            ],
            "pacing": asdict(paced),
        }
    shutil.rmtree(logs, ignore_errors=True)
    lines.append(f"Total run time: {time.monotonic() - began:.0f} s.")
    print("\n".join(lines))
    if args.json:
        Path(args.json).write_text(json.dumps(record, indent=1, default=str))  # noqa: ASYNC240 - after the load
    return 0


def _absolute(text: str) -> Path:
    return Path(text).absolute()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="one short round of everything (a smoke run)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per system and setting (3)")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=["intake", "depth", "scans", "lines", "bridges", "api"],
        default=["intake", "depth", "scans", "lines", "bridges", "api"],
    )
    parser.add_argument(
        "--bridges",
        nargs="+",
        choices=["versus", "two", "failover"],
        default=["versus", "two", "failover"],
        help="PostgreSQL: intake against SQLite, two bridges against one, failover (all)",
    )
    parser.add_argument(
        "--short-lease",
        type=float,
        default=10.0,
        help="failover: the short lease shown beside the default one, seconds (10)",
    )
    parser.add_argument(
        "--no-postfix", action="store_true", help="do not compare Postfix even when installed"
    )
    parser.add_argument(
        "--single",
        action="store_true",
        help="also run this tree with one intake process (MAIL2FAX_SMTP__PROCESSES=1)",
    )
    parser.add_argument("--sessions", type=int, nargs="+", help="intake: only these session counts (1 8 32)")
    parser.add_argument("--mails", type=int, help="intake: mails per session (200, 50, 15 by sessions)")
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio", help="the servers' loop")
    parser.add_argument(
        "--data-root",
        type=_absolute,
        default="/var/tmp",
        help="where the data directories go: a real disk, as fsync is part of the work (/var/tmp)",
    )
    parser.add_argument("--scan-mib", type=int, default=20, help="size of the scanned PDF in MiB (20)")
    parser.add_argument("--json", metavar="FILE", help="also write every measurement as JSON")
    parser.add_argument(
        "--pacing-window", type=float, default=2.0, help="the Heavy window of the pacing run, seconds (2)"
    )
    parser.add_argument(
        "--before",
        type=_absolute,
        metavar="TREE",
        help="also run mail2fax from this source tree (e.g. git archive of an older commit), as 'before'",
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
