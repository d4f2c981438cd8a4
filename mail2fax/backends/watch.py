"""How the fax backend is doing, judged by the calls the stages make anyway.

A call that returns, or that the service refuses for good (the service answered), is a success.
A temporary failure (unreachable, timeout, 5xx, 429, rejected credentials) makes the backend
unhealthy until a later call succeeds. A daemon that has not needed the backend yet is healthy.

The credentials are judged apart: refused when the latest call that got as far as logging in was
refused for its credentials, accepted once a call succeeds. The watch also keeps when a fax was
last handed over and when statuses were last read.
"""

from __future__ import annotations

from collections.abc import Awaitable, Collection, Sequence
from datetime import datetime
from typing import Any, TypeVar

from mail2fax.backends.base import FaxBackend, FaxStatus, RecoveryResult, Submission, TrackedFax
from mail2fax.clock import WallClock, utcnow
from mail2fax.errors import BackendAuthError, BackendError, TemporaryBackendError
from mail2fax.models import Job, StoredDocument

T = TypeVar("T")


class BackendWatch:
    """The outcome of the fax backend's recent calls."""

    def __init__(self, clock: WallClock = utcnow) -> None:
        self._clock = clock
        self.last_success: datetime | None = None
        self.last_failure: datetime | None = None
        self.failing_since: datetime | None = None
        self.last_error: str | None = None
        self.credentials_refused_at: datetime | None = None
        self.credentials_error: str | None = None
        self.last_submit: datetime | None = None
        self.last_track: datetime | None = None

    def succeeded(self) -> None:
        self.last_success = self._clock()
        self.failing_since = None
        self.credentials_refused_at = None
        self.credentials_error = None

    def failed(self, error: TemporaryBackendError) -> None:
        now = self._clock()
        self.last_failure = now
        self.last_error = f"{type(error).__name__}: {error}"
        if self.failing_since is None:
            self.failing_since = now
        if isinstance(error, BackendAuthError):
            if self.credentials_refused_at is None:
                self.credentials_refused_at = now
            self.credentials_error = str(error)

    def submitted(self) -> None:
        self.last_submit = self._clock()

    def tracked(self) -> None:
        self.last_track = self._clock()

    @property
    def credentials_ok(self) -> bool:
        return self.credentials_refused_at is None

    @property
    def ok(self) -> bool:
        return self.failing_since is None

    def report(self) -> dict[str, Any]:
        report: dict[str, Any] = {
            "ok": self.ok,
            "last_success": _iso(self.last_success),
            "last_failure": _iso(self.last_failure),
        }
        if not self.ok:
            report["failing_since"] = _iso(self.failing_since)
            report["error"] = self.last_error
        return report

    def credentials_report(self) -> dict[str, Any]:
        if self.credentials_ok:
            return {"ok": True}
        return {
            "ok": False,
            "refused_since": _iso(self.credentials_refused_at),
            "error": self.credentials_error,
        }


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


class WatchedBackend:
    """A fax backend whose every call is reported to a :class:`BackendWatch`."""

    def __init__(self, backend: FaxBackend, watch: BackendWatch) -> None:
        self._backend = backend
        self._watch = watch
        self.name = backend.name

    async def _watched(self, call: Awaitable[T]) -> T:
        try:
            result = await call
        except TemporaryBackendError as exc:
            self._watch.failed(exc)
            raise
        except BackendError:
            # Refused for good: the service itself was reached and answered.
            self._watch.succeeded()
            raise
        self._watch.succeeded()
        return result

    async def submit(self, job: Job, documents: Sequence[StoredDocument]) -> Submission:
        submission = await self._watched(self._backend.submit(job, documents))
        self._watch.submitted()
        return submission

    async def statuses(self, faxes: Sequence[TrackedFax]) -> dict[str, FaxStatus]:
        statuses = await self._watched(self._backend.statuses(faxes))
        self._watch.tracked()
        return statuses

    async def ready(self) -> None:
        await self._watched(self._backend.ready())

    async def recover(self, job: Job, known_ids: Collection[str]) -> RecoveryResult:
        return await self._watched(self._backend.recover(job, known_ids))

    async def cancel(self, backend_id: str) -> None:
        await self._watched(self._backend.cancel(backend_id))

    async def aclose(self) -> None:
        await self._backend.aclose()
