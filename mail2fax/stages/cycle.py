"""The loop every background stage runs: one cycle, then wait for a ring or the interval."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from mail2fax.errors import StoreError

log = logging.getLogger("mail2fax")


async def repeat(
    name: str,
    run_once: Callable[[], Awaitable[object]],
    wait_next: Callable[[], Awaitable[object]],
    stopping: asyncio.Event,
) -> None:
    """Run ``run_once`` until ``stopping`` is set; a failing queue is logged, never fatal."""
    while not stopping.is_set():
        try:
            await run_once()
        except StoreError as exc:
            log.error("%s: the queue is unavailable: %s", name, exc)
        await wait_next()
