"""A wake-up signal between stages: ringing never blocks and many rings before a wait count as one."""

from __future__ import annotations

import asyncio
import contextlib


class Doorbell:
    def __init__(self) -> None:
        self._event = asyncio.Event()

    def ring(self) -> None:
        self._event.set()

    async def wait(self, at_most: float | None) -> bool:
        """Wait for a ring or the timeout; True when it rang. Clears the ring either way."""
        rang = False
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(at_most):
                await self._event.wait()
                rang = True
        self._event.clear()
        return rang
