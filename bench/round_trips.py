"""The PostgreSQL intake path from both ends: statements the server counts, waits the client makes.

``python -m bench.round_trips URL ADMIN_URL`` enqueues one mail alone and then eight at once (one
group commit) through the store of the tree it runs from, into the empty database at URL, and
prints JSON. Statements are counted by the server (pg_stat_statements, read through ADMIN_URL);
round trips by the client, from libpq's protocol trace: each time the client, having sent, reads
the server's answer before it sends again is one wait for the server. Run under PYTHONPATH of
another tree, it measures that tree (``--before``).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import sys
import tempfile
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from bench.pg import BenchDatabase, reset_statements, statement_counts
from bench.procs import ROOT
from mail2fax.models import Document, FaxRequest, Recipient
from mail2fax.queue.postgres import PostgresStore

GROUP = 8
WHEN = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def mail(message_id: str) -> FaxRequest:
    """One small document to one number, as the benchmark's mails are."""
    return FaxRequest(
        sender="scanner@bench.test",
        recipients=(Recipient("+14155551212"),),
        cover_text="",
        documents=(Document("scan.pdf", "application/pdf", b"%PDF-1.4 " + b"x" * 2000),),
        message_id=message_id,
        content_digest=message_id,
    )


def waits(trace: str) -> int:
    """Turns in a libpq trace where the server's answer (B) is followed by the client sending (F)."""
    sides = [line.split("\t")[1] for line in trace.splitlines() if line.count("\t") >= 2]
    turns = sum(1 for before, after in itertools.pairwise(sides) if before == "B" and after == "F")
    return turns + (1 if sides and sides[-1] == "B" else 0)


async def measure(
    store: PostgresStore, url: str, admin: str, enqueue: Callable[[], Awaitable[Any]], mails: int
) -> dict[str, Any]:
    reset_statements(admin)
    with tempfile.TemporaryFile("w+") as trace:
        idle = list(store._pool._pool)  # every connection the pool holds, all idle now
        assert len(idle) == store._pool.get_stats()["pool_size"]
        for conn in idle:
            conn.pgconn.trace(trace.fileno())
        await enqueue()
        for conn in idle:
            conn.pgconn.untrace()
        trace.seek(0)
        text = trace.read()
    return {"mails": mails, "statements": statement_counts(admin, url), "waits": waits(text)}


async def from_tree(database: BenchDatabase, before: Path | None) -> dict[str, Any]:
    """Run this module in a process of its own, from this tree or (``before``) another one."""
    url = database.new_database()
    env = dict(os.environ)
    cwd = ROOT
    if before is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(before), str(ROOT)])
        cwd = before
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.round_trips",
            url,
            database.server.url(),
            cwd=cwd,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        output, errors = await process.communicate()
    finally:
        database.drop(url)
    if process.returncode != 0:
        raise RuntimeError(f"bench.round_trips failed:\n{errors.decode(errors='replace')[-2000:]}")
    found: dict[str, Any] = json.loads(output)
    return found


def report(by_tree: dict[str, dict[str, Any]]) -> list[str]:
    lines = [
        "| tree | mails committed together | statements per mail (server's count) "
        "| waits for the server per mail (client's count) |",
        "|---|---:|---:|---:|",
    ]
    for tree, cases in by_tree.items():
        for case in ("alone", "group"):
            found = cases[case]
            statements = sum(found["statements"].values()) / found["mails"]
            lines.append(
                f"| {tree} | {found['mails']} | {statements:.2f} | {found['waits'] / found['mails']:.2f} |"
            )
    return lines


async def main(url: str, admin: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as cache:
        store = await PostgresStore.open(url, Path(cache))
        try:

            async def alone() -> None:
                await store.enqueue(mail("<alone@bench>"), backend="dry-run", lifetime=3600, now=WHEN)

            async def together() -> None:
                await asyncio.gather(
                    *(
                        store.enqueue(mail(f"<{n}@bench>"), backend="dry-run", lifetime=3600, now=WHEN)
                        for n in range(GROUP)
                    )
                )

            return {
                "alone": await measure(store, url, admin, alone, 1),
                "group": await measure(store, url, admin, together, GROUP),
            }
        finally:
            await store.close()


if __name__ == "__main__":
    try:
        print(json.dumps(asyncio.run(main(sys.argv[1], sys.argv[2]))))
    except psycopg.Error as exc:
        sys.exit(f"round trips: {exc}")
