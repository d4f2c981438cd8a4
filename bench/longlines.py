"""Memory under long command lines: 200 connections that never log in, each sending a 1 MiB line.

Each connection reads the greeting, sends a command line of just under a mebibyte without its end
(a command that never ends, just within a 1 MiB line limit) and stays open. The server's resident
memory (every process of the daemon together) is sampled until it stops growing; the growth over
the idle server is what strangers can pin.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from pathlib import Path

from bench.procs import Running
from bench.stats import spread

MiB = 1024 * 1024
CONNECTIONS = 200
LINE = MiB - 64  # "HELO " and this many bytes: under a 1 MiB reader limit, so a server keeps it whole
TARGET_GROWTH = 64 * MiB
SAMPLE = 0.2  # seconds between memory samples
STEADY = 5  # samples without growth that end a round


@dataclass
class LinesRound:
    system: str
    connections: int
    admitted: int
    idle_rss: int
    peak_rss: int

    @property
    def growth(self) -> int:
        return self.peak_rss - self.idle_rss


def tree_rss(root: int) -> int:
    """Resident memory of ``root`` and its descendants (the intake processes), in bytes."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        parents[int(entry.name)] = int(fields.get("PPid", "0"))
        rss[int(entry.name)] = int(fields.get("VmRSS", "0 kB").split()[0]) * 1024
    total = 0
    for pid, size in rss.items():
        ancestor = pid
        while ancestor not in (0, 1, root) and ancestor in parents:
            ancestor = parents[ancestor]
        if ancestor == root:
            total += size
    return total


async def _hold(port: int, line: bytes, held: list[asyncio.StreamWriter]) -> bool:
    """Connect, send ``line`` without its end, and keep the connection; True if it got a session."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    held.append(writer)
    greeting = await reader.readline()
    if not greeting.startswith(b"220"):
        return False
    writer.write(line)
    with contextlib.suppress(ConnectionError):
        await writer.drain()
    return True


async def lines_round(server: Running, connections: int = CONNECTIONS, line: int = LINE) -> LinesRound:
    idle = tree_rss(server.pid)
    held: list[asyncio.StreamWriter] = []
    try:
        admitted = await asyncio.gather(
            *(_hold(server.port, b"HELO " + b"x" * line, held) for _ in range(connections))
        )
        peak, steady = tree_rss(server.pid), 0
        while steady < STEADY:
            await asyncio.sleep(SAMPLE)
            now = tree_rss(server.pid)
            steady = steady + 1 if now <= peak else 0
            peak = max(peak, now)
    finally:
        for writer in held:
            writer.close()
    return LinesRound(server.name, connections, sum(admitted), idle, peak)


def report(rounds: list[LinesRound]) -> list[str]:
    lines = [
        f"### Long command lines: {CONNECTIONS} connections without login, each sending a 1 MiB line",
        "",
        "Median over rounds (min-max). RSS is the daemon's, all its processes together; growth is "
        f"the most it reached over the idle daemon (the target is at most {TARGET_GROWTH // MiB} MiB).",
        "",
        "| system | admitted | idle RSS MiB | peak RSS MiB | growth MiB |",
        "|---|---:|---:|---:|---:|",
    ]
    for system in dict.fromkeys(r.system for r in rounds):
        these = [r for r in rounds if r.system == system]
        lines.append(
            f"| {system} | {spread([r.admitted for r in these], 0)} "
            f"| {spread([r.idle_rss / MiB for r in these], 0)} "
            f"| {spread([r.peak_rss / MiB for r in these], 0)} "
            f"| {spread([r.growth / MiB for r in these], 0)} |"
        )
    return lines
