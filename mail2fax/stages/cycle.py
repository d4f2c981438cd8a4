"""The loop every background stage runs: one cycle, then wait for a ring or the interval."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from mail2fax.errors import StoreError

log = logging.getLogger("mail2fax")

T = TypeVar("T")


class Stopped(Exception):
    """The daemon is stopping and a waiting call was abandoned."""


async def unless_stopping(call: Awaitable[T], stopping: asyncio.Event) -> T:
    """Await ``call``, unless ``stopping`` is set first: then cancel it and raise Stopped.

    For waits that hold nothing in hand (a rate-limit slot, a login, a status read), so that
    shutdown does not wait for them.
    """
    task = asyncio.ensure_future(call)
    stopper = asyncio.ensure_future(stopping.wait())
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    except BaseException:
        task.cancel()
        raise
    finally:
        stopper.cancel()
    if task.done():
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    raise Stopped


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
        except Stopped:
            return
        await wait_next()
