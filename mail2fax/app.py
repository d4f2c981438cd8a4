"""The composition root: builds the adapters from the settings and runs the stages together."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Protocol

from mail2fax import preflight, sdnotify
from mail2fax.backends.base import FaxBackend
from mail2fax.backends.registry import build_backend, http_client
from mail2fax.backends.watch import BackendWatch, WatchedBackend
from mail2fax.clock import utcnow
from mail2fax.errors import StartupError
from mail2fax.mailer import Mailer
from mail2fax.monitor.health import Health
from mail2fax.monitor.http import MetricsServer, daemon_routes
from mail2fax.monitor.metrics import Metrics
from mail2fax.queue.base import Store
from mail2fax.queue.files import check_owner
from mail2fax.queue.registry import open_store
from mail2fax.rendering.pool import Renderer, RenderLimits
from mail2fax.settings import MiB, Settings
from mail2fax.smtp.admission import SessionLimits
from mail2fax.smtp.auth import Logins, build_logins
from mail2fax.smtp.gate import Gate, build_gate
from mail2fax.smtp.listener import Listener
from mail2fax.smtp.peers import TrustedNetworks
from mail2fax.smtp.protocol import GatewaySMTP
from mail2fax.smtp.reload import Reloadable
from mail2fax.smtp.tls import ServerTls
from mail2fax.stages.alerts import OperatorAlerts
from mail2fax.stages.doorbell import Doorbell
from mail2fax.stages.intake import IntakeHandler, IntakeRules
from mail2fax.stages.notify import NotifyStage
from mail2fax.stages.retention import RetentionStage
from mail2fax.stages.submit import SubmitStage
from mail2fax.stages.track import TrackStage
from mail2fax.workers import IntakeWorkers, intake_processes, only_daemon_on

log = logging.getLogger("mail2fax")


class Stage(Protocol):
    async def run(self, stopping: asyncio.Event) -> None: ...


def intake_rules(settings: Settings) -> IntakeRules:
    return IntakeRules(
        fax_domains=tuple(settings.fax_domains),
        default_region=settings.default_region,
        body=settings.body,
        max_document_bytes=settings.max_document_bytes,
        default_resolution=settings.fax_resolution,
        default_cover=settings.cover,
        lifetime=settings.retry.lifetime,
        duplicate_window=settings.duplicate_window,
        backend=settings.backend,
        max_recipients=settings.smtp.max_recipients,
        quota=settings.quota,
    )


def render_limits(settings: Settings) -> RenderLimits:
    return RenderLimits(
        timeout=settings.render.timeout,
        workers=settings.render.workers,
        memory_bytes=settings.render.memory_mb * MiB,
    )


def smtp_data_limit(max_document_bytes: int) -> int:
    """The largest mail to accept: documents grow by a third in base64, plus room for headers."""
    return max_document_bytes * 4 // 3 + max_document_bytes // 20 + MiB


def server_tls(settings: Settings) -> ServerTls | None:
    """The certificate and key of the SMTP listeners, when configured."""
    smtp = settings.smtp
    if smtp.tls_cert is None or smtp.tls_key is None:
        return None
    return ServerTls(smtp.tls_cert, smtp.tls_key, smtp.tls_min_version)


def smtp_listener(
    settings: Settings, handler: IntakeHandler, tls: ServerTls | None, logins: Logins | None = None
) -> Listener:
    """The SMTP listener of one intake process, serving ``handler`` (the settings' users unless
    ``logins`` is given: the daemon keeps its own to reload them on SIGHUP)."""
    if logins is None:
        logins = build_logins(settings)
    hostname = settings.smtp.hostname or socket.getfqdn()
    data_limit = smtp_data_limit(settings.max_document_bytes)

    def make_session(listener: Listener) -> GatewaySMTP:
        return GatewaySMTP(
            listener,
            handler,
            hostname=hostname,
            ident="mail2fax",
            data_size_limit=data_limit,
            tls_context=tls.context() if tls is not None else None,
            require_starttls=settings.smtp.require_starttls,
            timeout=settings.smtp.timeout,
            transaction_timeout=settings.smtp.transaction_timeout,
            logins=logins,
        )

    return Listener(make_session, session_limits(settings))


def session_limits(settings: Settings) -> SessionLimits:
    """The session limits of one intake process: the settings' totals shared among the processes."""
    processes = intake_processes(settings)
    return SessionLimits(
        total=-(-settings.smtp.max_sessions // processes),
        per_client=-(-settings.smtp.max_sessions_per_client // processes),
        exempt=TrustedNetworks(settings.trusted_networks),
    )


async def _bind(name: str, host: str, port: int, listen: Callable[[str, int], Awaitable[int]]) -> int:
    """Start one listener; a port that cannot be had is a StartupError naming it and the reason."""
    try:
        return await listen(host, port)
    except OSError as exc:
        # asyncio wraps the errno in a long sentence of its own; the system's words are enough.
        if isinstance(exc, socket.gaierror) or not exc.errno:
            reason = exc.strerror or str(exc)
        else:
            reason = os.strerror(exc.errno)
        raise StartupError(f"{name}: cannot listen on {host}:{port}: {reason}") from None


class Daemon:
    """One running mail2fax: the SMTP listener and the submit, track and notify stages."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utcnow,
        gate: Gate | None = None,
    ):
        self.settings = settings
        self.clock = clock
        self.gate = gate
        self.ready = asyncio.Event()
        self.smtp_port: int | None = None
        self.tls_port: int | None = None
        self.store: Store | None = None
        self.metrics = Metrics()
        self.backend_watch = BackendWatch(clock)
        self.metrics.watch_backend(self.backend_watch)
        self.metrics_port: int | None = None
        self.tls: ServerTls | None = None
        self._reloadable: Reloadable | None = None
        self._intake_workers: IntakeWorkers | None = None
        self.health: Health | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set, then shut down gracefully within the configured time."""
        settings = self.settings
        for warning in preflight.check(settings):
            log.warning("%s", warning)
        # Before anything is written into the data directory: it must be this user's.
        check_owner(settings.database_path, settings.spool_dir)
        with only_daemon_on(settings.data_dir):
            await self._run(stop)

    async def _run(self, stop: asyncio.Event) -> None:
        settings = self.settings
        store = await open_store(
            settings, on_transition=self.metrics.observe_transition, wall=self.clock, heartbeat=True
        )
        self.store = store
        try:
            removed = await store.remove_orphans()
            if removed:
                log.info(
                    "removed the spool directories of mails that were never accepted",
                    extra={"count": removed},
                )
            async with http_client(settings) as client:
                backend = WatchedBackend(
                    build_backend(
                        settings,
                        client,
                        on_response=self.metrics.observe_response,
                        journal=store,
                        wall=self.clock,
                    ),
                    self.backend_watch,
                )
                try:
                    await self._serve(store, backend, stop)
                finally:
                    await backend.aclose()
        finally:
            await store.close()

    async def _serve(self, store: Store, backend: FaxBackend, stop: asyncio.Event) -> None:
        settings = self.settings
        renderer = Renderer(render_limits(settings))
        try:
            await self._serve_with(store, backend, stop, renderer)
        finally:
            await renderer.close()

    async def _serve_with(
        self, store: Store, backend: FaxBackend, stop: asyncio.Event, renderer: Renderer
    ) -> None:
        settings = self.settings
        submit_bell, track_bell, notify_bell = Doorbell(), Doorbell(), Doorbell()
        gate = self.gate or build_gate(settings, store, self.clock)
        handler = IntakeHandler(
            store,
            intake_rules(settings),
            gate=gate,
            submit_bell=submit_bell,
            clock=self.clock,
            renderer=renderer,
            observe=self.metrics.observe_intake,
        )
        listener = self._listener(handler)
        # Other intake processes share the ports; a custom gate or clock exists only in this one.
        extra = intake_processes(settings) - 1 if self.gate is None and self.clock is utcnow else 0
        shared = extra > 0
        self.smtp_port = await _bind(
            "MAIL2FAX_SMTP__PORT",
            settings.smtp.host,
            settings.smtp.port,
            lambda host, port: listener.listen(host, port, reuse_port=shared),
        )
        if settings.smtp.tls_port is not None:
            tls = self.tls
            assert tls is not None
            self.tls_port = await _bind(
                "MAIL2FAX_SMTP__TLS_PORT",
                settings.smtp.host,
                settings.smtp.tls_port,
                lambda host, port: listener.listen(host, port, tls_context=tls.context, reuse_port=shared),
            )
        intake_workers = IntakeWorkers(
            settings, on_queued=submit_bell.ring, on_intake=self.metrics.observe_intake
        )
        try:
            await intake_workers.start(extra, self.smtp_port, self.tls_port)
        except BaseException:
            await intake_workers.stop(0)
            raise
        self._intake_workers = intake_workers
        mailer = Mailer(settings.relay)
        alerts = OperatorAlerts(
            mailer,
            from_address=settings.notify.from_,
            operator=settings.notify.operator,
            clock=self.clock,
            count_error=self.metrics.observe_internal_error,
            count_parked=self.metrics.observe_parked,
        )
        stages: list[Stage] = [
            SubmitStage(
                store,
                backend,
                settings=settings.submit,
                retry=settings.retry,
                wakeup=submit_bell,
                submitted=track_bell,
                finished=notify_bell,
                clock=self.clock,
                alerts=alerts,
            ),
            TrackStage(
                store,
                backend,
                settings=settings.track,
                retry=settings.retry,
                wakeup=track_bell,
                finished=notify_bell,
                clock=self.clock,
                alerts=alerts,
            ),
            NotifyStage(
                store,
                mailer,
                settings=settings.notify,
                retry=settings.retry,
                wakeup=notify_bell,
                clock=self.clock,
                alerts=alerts,
            ),
            RetentionStage(
                store, settings=settings.retention, retry=settings.retry, clock=self.clock, alerts=alerts
            ),
        ]
        stopping = asyncio.Event()
        self.health = Health(
            store,
            self.backend_watch,
            settings.health,
            smtp_address=self._smtp_address,
            clock=self.clock,
        )
        self.metrics.watch_health(self.health)
        metrics_server = await self._metrics_listener(store, self.health)
        bells = (submit_bell, track_bell, notify_bell)
        log.info("mail2fax ready", extra={"backend": settings.backend, "smtp_port": self.smtp_port})
        sdnotify.ready(f"listening on {settings.smtp.host}:{self.smtp_port}")
        self.ready.set()
        async with asyncio.TaskGroup() as group:
            workers = [group.create_task(stage.run(stopping)) for stage in stages]
            if metrics_server is not None:
                workers.append(group.create_task(self._serve_metrics(metrics_server, stopping)))
            await stop.wait()
            listener.draining = True
            await intake_workers.refuse_new()
            log.info("shutting down: no new mail, finishing what is in hand")
            sdnotify.stopping()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + settings.shutdown_timeout
            await asyncio.gather(
                listener.drain(settings.shutdown_timeout, close=False), intake_workers.drain()
            )
            await handler.wait_idle()
            await asyncio.gather(listener.close(), intake_workers.stop(settings.shutdown_timeout))
            stopping.set()
            for bell in bells:
                bell.ring()
            _done, pending = await asyncio.wait(workers, timeout=max(deadline - loop.time(), 0.1))
            for task in pending:
                task.cancel()
        log.info("mail2fax stopped")

    def _smtp_address(self) -> tuple[str, int] | None:
        return None if self.smtp_port is None else (self.settings.smtp.host, self.smtp_port)

    async def _metrics_listener(self, store: Store, health: Health) -> MetricsServer | None:
        """Bind the /metrics and /healthz listener when MAIL2FAX_METRICS__PORT is set."""
        where = self.settings.metrics
        if where.port is None:
            return None
        server = MetricsServer(daemon_routes(self.metrics, store, health))
        self.metrics_port = await _bind("MAIL2FAX_METRICS__PORT", where.host, where.port, server.start)
        base = f"http://{where.host}:{self.metrics_port}"
        log.info(
            "metrics and health listening", extra={"metrics": f"{base}/metrics", "health": f"{base}/healthz"}
        )
        return server

    @staticmethod
    async def _serve_metrics(server: MetricsServer, stopping: asyncio.Event) -> None:
        try:
            await stopping.wait()
        finally:
            await server.close()

    def _listener(self, handler: IntakeHandler) -> Listener:
        self.tls = server_tls(self.settings)
        if self.tls is not None:
            log.info(
                "tls certificate loaded",
                extra={"cert": str(self.settings.smtp.tls_cert), "fingerprint": self.tls.fingerprint},
            )
        logins = build_logins(self.settings)
        self._reloadable = Reloadable(self.settings, self.tls, logins)
        return smtp_listener(self.settings, handler, self.tls, logins)

    def reload(self) -> None:
        """SIGHUP: read the TLS certificate and key and the SMTP AUTH users file again, here and in
        every intake process; whatever fails to load keeps its current version."""
        if self._reloadable is None:
            log.warning("reload asked for before the daemon was listening: nothing reloaded")
            return
        log.info("reloading on SIGHUP")
        self._reloadable.reload()
        if self._intake_workers is not None:
            self._intake_workers.reload()
