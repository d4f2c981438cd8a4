"""Is this daemon doing its job? Each check looks at one thing that stops mail from being faxed.

- ``store``: a real write to the queue and to the spool, as each new mail needs;
- ``smtp``: the SMTP listener answers a connection with its ``220`` greeting;
- ``backend``: the fax service's latest calls (see :mod:`mail2fax.backends.watch`);
- ``credentials``: the fax service has not refused the credentials since the last call that worked;
- ``status_mails``: no status mail has waited for the relay longer than its limit;
- ``submitting``: no job has been in ``submitting`` longer than its limit.

A report is reused for a second, and checks asked for while one runs wait for it, so a busy
scraper costs one real write and one SMTP connection a second at most.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mail2fax.backends.watch import BackendWatch
from mail2fax.errors import StoreError
from mail2fax.models import JobState
from mail2fax.queue.base import Store
from mail2fax.settings import HealthSettings

REUSE_FOR = 1.0
SMTP_TIMEOUT = 5.0
CHECKS = ("store", "smtp", "backend", "credentials", "status_mails", "submitting")


@dataclass(frozen=True, slots=True)
class HealthReport:
    """The verdict, one entry per check, and the numbers the metrics show."""

    checks: dict[str, dict[str, Any]]
    reasons: list[str]
    status_mails_waiting: int | None = None
    status_mail_oldest_age: float | None = None
    submitting_oldest_age: float | None = None

    @property
    def healthy(self) -> bool:
        return not self.reasons

    def body(self) -> dict[str, Any]:
        """The ``/healthz`` answer."""
        body: dict[str, Any] = {"status": "ok" if self.healthy else "failing", **self.checks}
        if self.reasons:
            body["reasons"] = self.reasons
        return body


def _seconds(age: float | None) -> float | None:
    return None if age is None else round(age, 3)


class Health:
    """Runs the checks for ``/healthz`` and ``/metrics``."""

    def __init__(
        self,
        store: Store,
        watch: BackendWatch,
        settings: HealthSettings,
        *,
        smtp_address: Callable[[], tuple[str, int] | None],
        clock: Callable[[], datetime],
    ):
        self._store = store
        self._watch = watch
        self._settings = settings
        self._smtp_address = smtp_address
        self._clock = clock
        self._latest: tuple[float, HealthReport] | None = None
        self._running: asyncio.Task[HealthReport] | None = None

    async def report(self) -> HealthReport:
        latest = self._latest
        if latest is not None and time.monotonic() - latest[0] < REUSE_FOR:
            return latest[1]
        if self._running is None or self._running.done():
            self._running = asyncio.create_task(self._check())
        return await asyncio.shield(self._running)

    async def _check(self) -> HealthReport:
        checks: dict[str, dict[str, Any]] = {}
        reasons: list[str] = []
        checks["store"] = await self._check_store(reasons)
        checks["smtp"] = await self._check_smtp(reasons)
        checks["backend"] = self._check_backend(reasons)
        checks["credentials"] = self._check_credentials(reasons)
        waiting, oldest_mail = await self._check_status_mails(checks, reasons)
        oldest_submitting = await self._check_submitting(checks, reasons)
        report = HealthReport(checks, reasons, waiting, oldest_mail, oldest_submitting)
        self._latest = (time.monotonic(), report)
        return report

    async def _check_store(self, reasons: list[str]) -> dict[str, Any]:
        try:
            await self._store.check_writable()
        except StoreError as exc:
            reasons.append(f"the queue cannot be written: {exc}")
            return {"ok": False, "error": str(exc)}
        return {"ok": True}

    async def _check_smtp(self, reasons: list[str]) -> dict[str, Any]:
        address = self._smtp_address()
        if address is None:
            reasons.append("the SMTP listener is not listening")
            return {"ok": False, "error": "not listening"}
        host, port = address
        where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        problem = await smtp_greeting_problem(host, port)
        if problem is not None:
            reasons.append(f"the SMTP listener at {where} does not answer: {problem}")
            return {"ok": False, "address": where, "error": problem}
        return {"ok": True, "address": where}

    def _check_backend(self, reasons: list[str]) -> dict[str, Any]:
        report = self._watch.report()
        if not report["ok"]:
            reasons.append(
                f"the fax backend has been failing since {report['failing_since']}: {report['error']}"
            )
        return report

    def _check_credentials(self, reasons: list[str]) -> dict[str, Any]:
        report = self._watch.credentials_report()
        if not report["ok"]:
            reasons.append(
                f"the fax service has refused the credentials since {report['refused_since']}: "
                f"{report['error']}"
            )
        return report

    async def _check_status_mails(
        self, checks: dict[str, dict[str, Any]], reasons: list[str]
    ) -> tuple[int | None, float | None]:
        limit = self._settings.status_mail_max_age
        try:
            waiting, oldest = await self._store.status_mail_backlog()
        except StoreError as exc:
            checks["status_mails"] = {"ok": False, "error": str(exc)}
            reasons.append(f"the status mails waiting cannot be counted: {exc}")
            return None, None
        age = None if oldest is None else max((self._clock() - oldest).total_seconds(), 0.0)
        ok = age is None or age <= limit
        checks["status_mails"] = {
            "ok": ok,
            "waiting": waiting,
            "oldest_age_seconds": _seconds(age),
            "max_age_seconds": limit,
        }
        if not ok:
            reasons.append(
                f"{waiting} status mail(s) wait for the relay, the oldest for {age:.0f} s "
                f"(more than MAIL2FAX_HEALTH__STATUS_MAIL_MAX_AGE={limit:g})"
            )
        return waiting, age

    async def _check_submitting(self, checks: dict[str, dict[str, Any]], reasons: list[str]) -> float | None:
        limit = self._settings.submitting_max_age
        try:
            jobs = await self._store.in_states([JobState.SUBMITTING], limit=1000)
        except StoreError as exc:
            checks["submitting"] = {"ok": False, "error": str(exc)}
            reasons.append(f"the jobs being submitted cannot be read: {exc}")
            return None
        now = self._clock()
        ages = {job.id: (now - (job.submit_started_at or job.updated_at)).total_seconds() for job in jobs}
        stuck = sorted((job_id for job_id, age in ages.items() if age > limit), key=lambda j: -ages[j])
        oldest = max(ages.values(), default=None)
        checks["submitting"] = {
            "ok": not stuck,
            "jobs": len(jobs),
            "oldest_age_seconds": _seconds(oldest),
            "max_age_seconds": limit,
        }
        if stuck:
            checks["submitting"]["stuck"] = stuck[:10]
            reasons.append(
                f"{len(stuck)} job(s) in submitting for more than "
                f"MAIL2FAX_HEALTH__SUBMITTING_MAX_AGE={limit:g} s: {', '.join(stuck[:10])}"
            )
        return oldest


async def smtp_greeting_problem(host: str, port: int) -> str | None:
    """Connect as a client would and read the greeting: ``None`` if it is a ``220``, else what went wrong."""
    target = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)  # noqa: S104
    try:
        async with asyncio.timeout(SMTP_TIMEOUT):
            reader, writer = await asyncio.open_connection(target, port)
            try:
                greeting = await reader.readline()
                if greeting.startswith(b"220"):
                    writer.write(b"QUIT\r\n")
                    await writer.drain()
            finally:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
    except TimeoutError:
        return f"no greeting within {SMTP_TIMEOUT:g} s"
    except OSError as exc:
        return os.strerror(exc.errno) if exc.errno else str(exc)
    if not greeting.startswith(b"220"):
        text = greeting.decode("ascii", "replace").strip()
        return f"answered {text[:100]!r}" if text else "closed the connection without a greeting"
    return None
