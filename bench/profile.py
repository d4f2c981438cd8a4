"""Profile mail2fax under the benchmark's load with py-spy (``pip install py-spy``; not a dependency).

``python -m bench.profile intake`` runs the 8-session small-mail load, ``python -m bench.profile
scans`` the 4 concurrent big scans, against mail2fax (``--postgres``: its queue on the
benchmark's own PostgreSQL server) while ``py-spy record`` samples every thread
of the daemon; the flat profile (own time per function, all threads) is printed and the raw
collapsed stacks are written to the given file for a flame graph.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from bench import intake, scans
from bench.bridges import Launcher
from bench.mails import MiB, SmallMails, pdf_of_size
from bench.pg import BenchDatabase
from bench.procs import SINGLE, Running, Systems, start


def _py_spy() -> str:
    found = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if found is None:
        raise SystemExit("py-spy is not installed: pip install py-spy")
    return found


def flat(collapsed: Path, top: int) -> list[str]:
    """Own-time samples per function (the leaf of each stack), from py-spy's collapsed output."""
    leaves: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        count = int(count_text)
        frames = stack.split(";")
        total += count
        leaves[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    lines = [f"{total} samples", "", "own time:"]
    lines += [f"{100 * n / total:5.1f}%  {name}" for name, n in leaves.most_common(top)]
    lines += ["", "including callees:"]
    lines += [f"{100 * n / total:5.1f}%  {name}" for name, n in inclusive.most_common(top)]
    return lines


async def main(args: argparse.Namespace) -> None:
    data_root = Path(args.data_root)
    logs = Path(tempfile.mkdtemp(prefix="bench-logs-", dir=data_root))
    emulator = await start("emulator", "bench.emulator_server", logs=logs, nice=19)
    database = BenchDatabase(data_root).start() if args.postgres else None
    if database is not None:
        launcher = Launcher(database, args.loop, data_root, logs, emulator.address)
        server: Running = await launcher.bridge("mail2fax", database.new_database(), 1)
    else:
        systems = Systems(args.loop, data_root, logs, emulator.address)
        server = await systems.start(SINGLE)  # one intake process: py-spy samples one process
    out = Path(args.output)
    spy = subprocess.Popen(  # noqa: ASYNC220 - a profiler running beside the load, waited for below
        [
            _py_spy(),
            "record",
            "--pid",
            str(server.pid),
            "--threads",
            "--format",
            "raw",
            "-r",
            "250",
            "--output",
            str(out),
            "--nonblocking",
            *(["--gil"] if args.gil else []),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        await asyncio.sleep(1.0)
        if args.load == "intake":
            result = await intake.intake_round(
                server, 8, 200, SmallMails(), "profile", database_pid=database.pid if database else None
            )
            cpu = 1000 * result.cpu_per_mail
            print(
                f"{result.rate:.0f} mails/s, {cpu:.2f} ms CPU per mail, "
                f"{1000 * result.database_cpu / result.mails:.2f} ms of the database's",
                file=sys.stderr,
            )
        else:
            pdf = pdf_of_size(20 * MiB)
            outcome = await scans.scans_round(server, 4, pdf, SmallMails(), "profile")
            print(f"peak RSS {outcome.peak_rss / MiB:.0f} MiB", file=sys.stderr)
    finally:
        spy.send_signal(2)
        spy.wait(timeout=30)
        await server.stop()
        await emulator.stop()
        if database is not None:
            database.stop()
        shutil.rmtree(logs, ignore_errors=True)
    print("\n".join(flat(out, args.top)))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("load", choices=["intake", "scans"])
    parser.add_argument("--output", default=os.path.join(tempfile.gettempdir(), "mail2fax-profile.txt"))
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    parser.add_argument("--data-root", default="/var/tmp")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--gil", action="store_true", help="only samples of the thread holding the GIL")
    parser.add_argument(
        "--postgres", action="store_true", help="the queue on the benchmark's own PostgreSQL server"
    )
    asyncio.run(main(parser.parse_args()))
