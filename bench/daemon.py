"""``mail2fax serve`` for the benchmark: the same composition root, on the event loop the run chose.

The command itself uses uvloop whenever it is installed; the benchmark names the loop instead, so
that both servers of a comparison run on the same one.
"""

from __future__ import annotations

import asyncio
import signal

from bench.loop import run_on_chosen_loop
from mail2fax import logs
from mail2fax.app import Daemon
from mail2fax.settings import load_settings


async def serve() -> None:
    settings = load_settings()
    logs.configure(settings.log_level, settings.log_format)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await Daemon(settings).run(stop)


def main() -> None:
    run_on_chosen_loop(__doc__, serve)


if __name__ == "__main__":
    main()
