"""Group commit: enqueues that arrive while the disk syncs share the next transaction.

Each caller still returns only after the transaction holding its own job has committed, so a
``250`` keeps meaning "on disk"; the disk just syncs once per group instead of once per job.
A write may refuse its mail (a duplicate, a mail over a quota) before it writes anything: that
mail alone is refused, and the others of its group commit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

from mail2fax.errors import Deferral, DuplicateMail, Refusal, StoreError
from mail2fax.models import Job

log = logging.getLogger("mail2fax.store")

GROUP_LIMIT = 100  # jobs committed together at most
# What a write raises, before writing anything, to refuse its mail and no other.
REFUSALS = (DuplicateMail, Refusal, Deferral)


@dataclass(eq=False, slots=True)
class PendingWrite:
    """One enqueue waiting for a group commit; ``write`` adds its rows inside the transaction."""

    job_id: str
    write: Callable[[Any], Awaitable[None]]  # given the store's connection in its transaction
    done: asyncio.Future[Job | None]
    serialised: bool = False  # its transaction must first call the store's ``serialise``
    taken: bool = False  # a transaction holds its rows
    failed: bool = False

    def settle(self, job: Job | None = None, error: BaseException | None = None) -> None:
        if error is not None:
            self.failed = True
        if self.done.done():
            return
        if error is None:
            self.done.set_result(job)
        else:
            self.done.set_exception(error)


class GroupCommit:
    """Commits pending writes in groups through ``transaction``; reads jobs back with ``fetch_jobs``.

    A transaction holding a ``serialised`` write calls ``serialise`` first, before any write, so
    that the locks it takes come first in every such transaction.
    """

    def __init__(
        self,
        transaction: Callable[[], AbstractAsyncContextManager[Any]],
        fetch_jobs: Callable[[str, Sequence[Any]], Awaitable[list[Job]]],
        serialise: Callable[[Any], Awaitable[None]] | None = None,
    ):
        self._transaction = transaction
        self._fetch_jobs = fetch_jobs
        self._serialise = serialise
        self._pending: list[PendingWrite] = []
        self._committer: asyncio.Task[None] | None = None

    async def commit(self, pending: PendingWrite) -> Job | None:
        """Commit ``pending`` in one transaction with the other enqueues waiting at that moment.

        Jobs that arrive while a commit is being synced to disk share the next transaction, so
        the disk syncs once per group instead of once per job; each caller still returns only
        after the transaction holding its own job has committed, with the job as read back (or
        None if reading it failed), and raises what failed its job otherwise.
        """
        self._pending.append(pending)
        if self._committer is None:
            self._committer = asyncio.create_task(self._commit_pending())
        try:
            return await asyncio.shield(pending.done)
        except asyncio.CancelledError:
            if not pending.taken:
                self._pending.remove(pending)
                raise
            # A transaction holds the job: learn how it ends, so the spool matches the store.
            try:
                await asyncio.shield(pending.done)
            except BaseException:  # noqa: BLE001 - the caller's cancellation is what is raised
                log.debug("write failed while its caller was cancelled", extra={"job": pending.job_id})
            raise

    async def _commit_pending(self) -> None:
        group: list[PendingWrite] = []
        try:
            while self._pending:
                group, self._pending = self._pending[:GROUP_LIMIT], self._pending[GROUP_LIMIT:]
                for pending in group:
                    pending.taken = True
                await self._commit_group(group)
        except BaseException as exc:
            for pending in [*group, *self._pending]:
                if not pending.done.done():
                    pending.settle(error=exc)
            self._pending = []
            raise
        finally:
            self._committer = None

    async def _commit_group(self, group: list[PendingWrite]) -> None:
        """One transaction for the group; if it fails, each job again in its own transaction, so
        one job's failure is never another's. A mail refused in the group writes nothing."""
        try:
            async with self._transaction() as db:
                await self._begin(db, group)
                for pending in group:
                    try:
                        await pending.write(db)
                    except REFUSALS as exc:
                        pending.settle(error=exc)
        except BaseException as exc:
            left = [pending for pending in group if not pending.failed]
            if len(left) <= 1 or not isinstance(exc, Exception):
                for pending in left:
                    pending.settle(error=exc)
                if not isinstance(exc, Exception):
                    raise
                return
            for pending in left:
                await self._commit_alone(pending)
            return
        await self._settle_committed([pending for pending in group if not pending.failed])

    async def _commit_alone(self, pending: PendingWrite) -> None:
        try:
            async with self._transaction() as db:
                await self._begin(db, [pending])
                await pending.write(db)
        except BaseException as exc:
            pending.settle(error=exc)
            if not isinstance(exc, Exception):
                raise
            return
        await self._settle_committed([pending])

    async def _begin(self, db: Any, group: list[PendingWrite]) -> None:
        if self._serialise is not None and any(pending.serialised for pending in group):
            await self._serialise(db)

    async def _settle_committed(self, group: list[PendingWrite]) -> None:
        """Hand each committed job back as read from the store, in one query for the group."""
        if not group:
            return
        marks = ", ".join("?" for _ in group)
        try:
            jobs = await self._fetch_jobs(f"WHERE id IN ({marks})", [p.job_id for p in group])
        except StoreError:
            jobs = []  # each caller reads its own job and reports the error, as it would alone
        by_id = {job.id: job for job in jobs}
        for pending in group:
            pending.settle(by_id.get(pending.job_id))
