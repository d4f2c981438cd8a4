"""Fill a data directory with N queued jobs before the daemon starts: ``python -m bench.fill DIR N``.

The first job is enqueued through the store of the source tree on the path (so its schema and
migrations are the ones under test) with a real document in the spool; the others are copies of
its rows in one transaction, each with its own id and Message-ID, from the benchmark's sender,
created over the last hour. They share the first job's document file. The daemon finds them all
due, and RingCentral's limits (10 submissions a minute) keep them queued while mail arrives.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.mails import RECIPIENT, SENDER
from mail2fax.models import Document, FaxRequest, Recipient
from mail2fax.queue.sqlite import SqliteStore
from tests.samples.other import pdf_bytes

SPAN = 3600.0  # seconds over which the copies were created


async def first_job(data_dir: Path) -> str:
    store = await SqliteStore.open(data_dir / "mail2fax.sqlite3", data_dir / "spool")
    try:
        number = "+" + RECIPIENT.partition("@")[0]
        request = FaxRequest(
            sender=SENDER,
            recipients=(Recipient(number, "Supplier"),),
            cover_text="",
            documents=(Document("order.pdf", "application/pdf", pdf_bytes(1, "queued order")),),
            message_id="<fill-0@bench.test>",
            subject="Order fill-0",
            content_digest="fill",
        )
        now = datetime.now(UTC) - timedelta(seconds=SPAN)
        job = await store.enqueue(request, backend="ringcentral", lifetime=5 * 86400, now=now)
    finally:
        await store.close()
    return job.id


def copy_rows(database: Path, template: str, count: int) -> None:
    with sqlite3.connect(database, isolation_level=None) as db:
        columns = [row[1] for row in db.execute("PRAGMA table_info(jobs)")]
        changed = {
            "id": "printf('f%011x', n.i)",
            "message_id": "printf('<fill-%d@bench.test>', n.i)",
            "subject": "printf('Order fill-%d', n.i)",
            "content_digest": "printf('fill-%d', n.i)",
            "created_at": f"created_at + n.i * {SPAN / count!r}",
            "updated_at": f"updated_at + n.i * {SPAN / count!r}",
            "next_attempt_at": f"next_attempt_at + n.i * {SPAN / count!r}",
        }
        chosen = ", ".join(changed.get(column, column) for column in columns)
        numbers = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
        db.execute("BEGIN IMMEDIATE")
        db.execute(
            f"INSERT INTO jobs ({', '.join(columns)}) {numbers} SELECT {chosen} FROM jobs, n WHERE id = ?",
            (count, template),
        )
        for table, key in (("documents", "job_id"), ("events", "job_id")):
            table_columns = [row[1] for row in db.execute(f"PRAGMA table_info({table})") if row[1] != "id"]
            picked = ", ".join("printf('f%011x', n.i)" if c == key else c for c in table_columns)
            db.execute(
                f"INSERT INTO {table} ({', '.join(table_columns)}) {numbers} "
                f"SELECT {picked} FROM {table}, n WHERE {key} = ?",
                (count, template),
            )
        db.execute("COMMIT")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def fill(data_dir: Path, count: int) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    template = asyncio.run(first_job(data_dir))
    if count > 1:
        copy_rows(data_dir / "mail2fax.sqlite3", template, count - 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("count", type=int)
    args = parser.parse_args()
    began = time.perf_counter()
    fill(args.data_dir, args.count)
    print(f"filled {args.count} jobs in {time.perf_counter() - began:.1f} s")


if __name__ == "__main__":
    main()
