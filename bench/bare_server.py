"""The baseline: stock aiosmtpd in its own event loop that answers ``250`` to DATA and keeps nothing.

It is configured like mail2fax's listener where that is not work (the 1 MiB line limit and the
size limit for a 50 MiB document), so the difference measured is what mail2fax does with a mail.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import Any

from aiosmtpd.smtp import SMTP

from bench.loop import run_on_chosen_loop
from mail2fax.app import smtp_data_limit
from mail2fax.settings import Settings
from mail2fax.smtp.protocol import MiB

DATA_LIMIT = smtp_data_limit(Settings.model_fields["max_document_bytes"].default)


class Sink:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "250 2.0.0 OK"


class BareSMTP(SMTP):
    line_length_limit = MiB


async def serve() -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    server = await loop.create_server(
        lambda: BareSMTP(Sink(), hostname="bare.bench", data_size_limit=DATA_LIMIT), "127.0.0.1", 0
    )
    port = server.sockets[0].getsockname()[1]
    print(f"bare-smtp ready port={port}", file=sys.stderr, flush=True)
    await stop.wait()
    server.close()
    await server.wait_closed()


def main() -> None:
    run_on_chosen_loop(__doc__, serve)


if __name__ == "__main__":
    main()
