"""The loop every background stage runs: one cycle, then wait for a ring or the interval."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from mail2fax.errors import StoreError
from mail2fax.outage import Outage

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
    """Run ``run_once`` until ``stopping`` is set; nothing a cycle raises stops the stage.

    A failing queue (a full disk, a lock held too long) is an outage: logged when it starts and
    when a cycle runs through again. Anything else escaping a cycle is a defect outside any one
    job (each job has its own boundary): logged with its traceback when it starts, and the
    stage carries on.
    """
    queue = Outage(log, ended="the queue works again", stage=name)
    defect = Outage(log, ended="the stage runs without errors again", stage=name)
    while not stopping.is_set():
        try:
            await run_once()
        except StoreError as exc:
            queue.failing(exc, "the queue is unavailable; the stage waits for it", level=logging.ERROR)
        except Stopped:
            return
        except Exception as exc:  # noqa: BLE001 - the stage's last line: logged, and it carries on
            defect.failing(
                exc, "unexpected error in the stage; it carries on", level=logging.ERROR, exc_info=exc
            )
        else:
            queue.working()
            defect.working()
        await wait_next()
