"""Prometheus metrics: what the daemon counted since it started, and the queue as it is now.

Each :class:`Metrics` has its own ``CollectorRegistry``, so several daemons can live in one
process (as they do in the tests). Counters and histograms are fed by three hooks the
composition root wires in: the intake handler's ``observe``, the RingCentral backend's
``on_response`` and the store's ``on_transition``. Jobs by state and the backend's health are
read when the metrics are scraped, and so are the health checks (``mail2fax_check_ok``) and the
numbers behind them. Counters describe this process only: a change made with the
``mail2fax queue`` command shows in the jobs gauge, not in the counters.
"""

from __future__ import annotations

import logging
import platform
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    Info,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from mail2fax.backends.watch import BackendWatch
from mail2fax.errors import StoreError
from mail2fax.models import Job, JobState
from mail2fax.monitor.health import CHECKS, Health, HealthReport
from mail2fax.queue.base import Store

log = logging.getLogger("mail2fax.metrics")

SMTP_REPLY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
SUBMIT_BUCKETS = (0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 4 * 3600.0, 24 * 3600.0)
FINAL_BUCKETS = (10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 4 * 3600.0, 86400.0, 2 * 86400.0)


def snake_case(name: str) -> str:
    """``TooLarge`` -> ``too_large``: exception names as label values."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _elapsed(start: datetime, end: datetime) -> float:
    return max((end - start).total_seconds(), 0.0)


class _QueueCollector(Collector):
    """``mail2fax_jobs{state}``, from the counts read at the latest refresh."""

    def __init__(self) -> None:
        self.counts: Mapping[str, int] | None = None

    def collect(self) -> Iterable[Metric]:
        if self.counts is None:
            return
        family = GaugeMetricFamily("mail2fax_jobs", "Jobs in the queue by state", labels=["state"])
        for state in JobState:
            family.add_metric([state.value], self.counts.get(state.value, 0))
        yield family


def build_version() -> str:
    try:
        return version("mail2fax")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def _gauge(name: str, documentation: str, value: float, labels: Mapping[str, str] | None = None) -> Metric:
    family = GaugeMetricFamily(name, documentation, labels=list(labels or {}))
    family.add_metric(list((labels or {}).values()), value)
    return family


class _HealthCollector(Collector):
    """The health checks as of the latest scrape, and what they measured."""

    def __init__(self) -> None:
        self.report: HealthReport | None = None

    def collect(self) -> Iterable[Metric]:
        report = self.report
        if report is None:
            return
        yield _gauge(
            "mail2fax_healthy", "1 when every health check passes (/healthz answers 200)", report.healthy
        )
        checks = GaugeMetricFamily(
            "mail2fax_check_ok", "1 when the health check passes, 0 when it fails", labels=["check"]
        )
        for name in CHECKS:
            checks.add_metric([name], 1.0 if report.checks.get(name, {}).get("ok") else 0.0)
        yield checks
        if report.status_mails_waiting is not None:
            yield _gauge(
                "mail2fax_status_mails_waiting",
                "Finished jobs whose sender has not been told yet",
                report.status_mails_waiting,
            )
            yield _gauge(
                "mail2fax_status_mail_oldest_age_seconds",
                "How long the oldest status mail has been waiting (0 when none waits)",
                report.status_mail_oldest_age or 0.0,
            )
        if report.submitting_oldest_age is not None or report.checks.get("submitting", {}).get("ok"):
            yield _gauge(
                "mail2fax_submitting_oldest_age_seconds",
                "How long the oldest job in submitting has been there (0 when none is)",
                report.submitting_oldest_age or 0.0,
            )


class _BackendCollector(Collector):
    """Whether the fax backend's latest call succeeded, and when one last did."""

    def __init__(self, watch: BackendWatch) -> None:
        self._watch = watch

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily(
            "mail2fax_backend_up",
            "1 unless the fax backend's most recent call failed and none has succeeded since",
        )
        up.add_metric([], 1.0 if self._watch.ok else 0.0)
        yield up
        if self._watch.last_success is not None:
            last = GaugeMetricFamily(
                "mail2fax_backend_last_success_timestamp_seconds",
                "When the fax backend last answered a call (Unix time)",
            )
            last.add_metric([], self._watch.last_success.timestamp())
            yield last
        moments = (
            (
                "mail2fax_last_submit_timestamp_seconds",
                "When a fax was last handed to the backend (Unix time)",
                self._watch.last_submit,
            ),
            (
                "mail2fax_last_track_timestamp_seconds",
                "When fax statuses were last read from the backend (Unix time)",
                self._watch.last_track,
            ),
        )
        for name, documentation, moment in moments:
            if moment is not None:
                yield _gauge(name, documentation, moment.timestamp())
        yield _gauge(
            "mail2fax_backend_credentials_ok",
            "0 while the fax service refuses the credentials, else 1",
            self._watch.credentials_ok,
        )


class Metrics:
    """The daemon's instruments, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.mails = Counter(
            "mail2fax_mails",
            "Mails that reached the end of DATA, by outcome (accepted, refused, deferred) and reason",
            ["outcome", "reason"],
            registry=registry,
        )
        self.envelope_refusals = Counter(
            "mail2fax_envelope_refusals",
            "Senders (MAIL) and recipients (RCPT) refused during the SMTP dialogue, by reason",
            ["command", "outcome", "reason"],
            registry=registry,
        )
        self.smtp_reply_seconds = Histogram(
            "mail2fax_smtp_reply_seconds",
            "Time from the end of DATA to the reply, by outcome",
            ["outcome"],
            buckets=SMTP_REPLY_BUCKETS,
            registry=registry,
        )
        self.state_changes = Counter(
            "mail2fax_job_state_changes",
            "Jobs entering each state",
            ["state"],
            registry=registry,
        )
        self.faxes = Counter(
            "mail2fax_faxes",
            "Jobs that reached a final state (sent, accepted, failed, unknown, cancelled)",
            ["state"],
            registry=registry,
        )
        self.pages = Counter(
            "mail2fax_fax_pages",
            "Pages of the faxes that reached a final state, as the backend counted them",
            ["state"],
            registry=registry,
        )
        self.submit_seconds = Histogram(
            "mail2fax_accept_to_submit_seconds",
            "Time from the 250 reply to the backend taking the fax",
            buckets=SUBMIT_BUCKETS,
            registry=registry,
        )
        self.final_seconds = Histogram(
            "mail2fax_accept_to_final_seconds",
            "Time from the 250 reply to the final status, by final state",
            ["state"],
            buckets=FINAL_BUCKETS,
            registry=registry,
        )
        self.api_requests = Counter(
            "mail2fax_api_requests",
            "RingCentral API answers by rate-limit group and HTTP status",
            ["group", "status"],
            registry=registry,
        )
        self.rate_limited = Counter(
            "mail2fax_api_rate_limited",
            "RingCentral answers 429 (rate limit exceeded), by rate-limit group",
            ["group"],
            registry=registry,
        )
        self.internal_errors = Counter(
            "mail2fax_internal_errors",
            "Unexpected errors a job caused in a stage (each logged with a traceback), by stage",
            ["stage"],
            registry=registry,
        )
        self.parked = Counter(
            "mail2fax_jobs_parked",
            "Jobs a stage stopped working on after repeated unexpected errors, by stage",
            ["stage"],
            registry=registry,
        )
        self._queue = _QueueCollector()
        registry.register(self._queue)
        self._health = _HealthCollector()
        registry.register(self._health)
        self._health_source: Health | None = None
        build = Info("mail2fax_build", "The running mail2fax", registry=registry)
        build.info({"version": build_version(), "python": platform.python_version()})
        ProcessCollector(registry=registry)

    # -- hooks ---------------------------------------------------------------------------------

    def observe_intake(self, outcome: str, seconds: float) -> None:
        """The intake handler's ``observe``: ``COMMAND:outcome[:ExceptionName]`` and the time taken.

        ``DATA:accepted``, ``DATA:refused:TooLarge``, ``DATA:deferred:StoreFull``,
        ``RCPT:refused:RecipientRefused``, ``MAIL:refused:SenderRefused``; a bare
        ``accepted`` counts as DATA.
        """
        parts = outcome.split(":")
        if len(parts) == 1:
            parts.insert(0, "DATA")
        command, result = parts[0], parts[1]
        reason = snake_case(parts[2]) if len(parts) > 2 else ""
        if command == "DATA":
            self.mails.labels(result, reason).inc()
            self.smtp_reply_seconds.labels(result).observe(seconds)
        else:
            self.envelope_refusals.labels(command, result, reason).inc()

    def observe_response(self, group: str, status: int) -> None:
        """The RingCentral backend's ``on_response``: one answer in ``group`` with HTTP ``status``."""
        self.api_requests.labels(group, str(status)).inc()
        if status == 429:
            self.rate_limited.labels(group).inc()

    def observe_internal_error(self, stage: str) -> None:
        self.internal_errors.labels(stage).inc()

    def observe_parked(self, stage: str) -> None:
        self.parked.labels(stage).inc()

    def observe_transition(self, job: Job) -> None:
        """The store's ``on_transition``: ``job`` as it is after entering ``job.state``."""
        try:
            self._count_transition(job)
        except Exception:  # a metric must never break a state change
            log.exception("metrics not updated", extra={"job": job.id})

    def _count_transition(self, job: Job) -> None:
        state = job.state.value
        self.state_changes.labels(state).inc()
        # The submit stage stamps submitted_at in the same change that records a submission.
        if job.submitted_at is not None and job.submitted_at == job.updated_at:
            self.submit_seconds.observe(_elapsed(job.created_at, job.submitted_at))
        if job.state.is_final:
            self.faxes.labels(state).inc()
            if job.page_count:
                self.pages.labels(state).inc(job.page_count)
            self.final_seconds.labels(state).observe(
                _elapsed(job.created_at, job.finished_at or job.updated_at)
            )

    # -- scraping ------------------------------------------------------------------------------

    def watch_backend(self, watch: BackendWatch) -> None:
        self.registry.register(_BackendCollector(watch))

    def watch_health(self, health: Health) -> None:
        self._health_source = health

    async def refresh(self, store: Store) -> None:
        """Read the jobs by state; on a store failure the gauge is left out rather than stale."""
        try:
            self._queue.counts = await store.count_by_state()
        except StoreError as exc:
            log.warning("metrics: cannot count the jobs: %s", exc)
            self._queue.counts = None

    async def exposition(self, store: Store) -> bytes:
        await self.refresh(store)
        if self._health_source is not None:
            self._health.report = await self._health_source.report()
        return generate_latest(self.registry)
