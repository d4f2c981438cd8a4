"""The RingCentral emulator of the test suite as a process of its own, for the daemon under test.

It keeps RingCentral's documented default limits (Heavy 10, Light 50 requests a minute), so the
daemon's submit and track stages do what they would do in production while mail arrives.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from tests.emulator import RingCentralEmulator


async def serve() -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with RingCentralEmulator() as rc:
        print(f"emulator ready url={rc.base_url}", file=sys.stderr, flush=True)
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(serve())
