"""One more intake process (``python -m mail2fax.intake_process``), started by the daemon (see workers)."""

from __future__ import annotations

import asyncio
import ctypes
import os
import pickle
import signal
import sys

from mail2fax import logs
from mail2fax.app import intake_rules, render_limits, server_tls, smtp_listener
from mail2fax.clock import utcnow
from mail2fax.queue.registry import open_store
from mail2fax.rendering.pool import Renderer
from mail2fax.smtp.auth import build_logins
from mail2fax.smtp.gate import build_gate
from mail2fax.smtp.reload import Reloadable
from mail2fax.stages.doorbell import Doorbell
from mail2fax.stages.intake import IntakeHandler
from mail2fax.workers import DRAIN, DRAINED, INTAKE, LENGTH, QUEUED, READY, REFUSING, WorkerSpec

PR_SET_PDEATHSIG = 1


class _Reporter:
    """The worker's side of the pipe: one line per event, written without blocking the loop."""

    def __init__(self, transport: asyncio.WriteTransport):
        self._transport = transport

    def line(self, text: bytes) -> None:
        if not self._transport.is_closing():
            self._transport.write(text + b"\n")

    def intake(self, outcome: str, seconds: float) -> None:
        self.line(b"%s %s %.6f" % (INTAKE, outcome.encode(errors="replace"), seconds))


class _RelayedBell(Doorbell):
    def __init__(self, reporter: _Reporter):
        super().__init__()
        self._reporter = reporter

    def ring(self) -> None:
        self._reporter.line(QUEUED)


class _Daemon:
    """What the daemon says on this process's standard input: drain, then (at its end) exit."""

    def __init__(self) -> None:
        self.drain = asyncio.Event()
        self.closed = asyncio.Event()

    async def listen(self) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while data := await reader.read(4096):
            if DRAIN in data:
                self.drain.set()
        self.drain.set()
        self.closed.set()


async def serve(spec: WorkerSpec) -> None:
    settings = spec.settings
    loop = asyncio.get_running_loop()
    # No isinstance check: uvloop's transports have asyncio's methods without being its subclasses.
    transport, _ = await loop.connect_write_pipe(asyncio.Protocol, sys.stdout)
    reporter = _Reporter(transport)
    daemon = _Daemon()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, daemon.drain.set)
    store = await open_store(settings)
    renderer = Renderer(render_limits(settings))
    try:
        handler = IntakeHandler(
            store,
            intake_rules(settings),
            gate=build_gate(settings, store, utcnow),
            submit_bell=_RelayedBell(reporter),
            clock=utcnow,
            renderer=renderer,
            observe=reporter.intake,
        )
        tls = server_tls(settings)
        logins = build_logins(settings)
        listener = smtp_listener(settings, handler, tls, logins)
        loop.add_signal_handler(signal.SIGHUP, Reloadable(settings, tls, logins).reload)
        await listener.listen(settings.smtp.host, spec.smtp_port, reuse_port=True, joining=True)
        if spec.tls_port is not None:
            assert tls is not None
            await listener.listen(
                settings.smtp.host, spec.tls_port, tls_context=tls.context, reuse_port=True, joining=True
            )
        reporter.line(READY)
        listening = asyncio.create_task(daemon.listen())
        await daemon.drain.wait()
        listener.draining = True
        reporter.line(REFUSING)
        await listener.drain(settings.shutdown_timeout, close=False)
        await handler.wait_idle()
        reporter.line(DRAINED)
        await daemon.closed.wait()
        listening.cancel()
        await listener.close()
    finally:
        await renderer.close()
        await store.close()
        transport.close()


def die_with_the_daemon(daemon_pid: int) -> None:
    """Be killed the moment the daemon dies, as if ``kill -9`` had reached this process too (Linux)."""
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != daemon_pid:
        os._exit(1)  # the daemon died before this process could ask to follow it


def main() -> int:
    header = sys.stdin.buffer.read(LENGTH.size)
    (length,) = LENGTH.unpack(header)
    spec: WorkerSpec = pickle.loads(sys.stdin.buffer.read(length))  # noqa: S301 - from our own daemon
    die_with_the_daemon(spec.daemon_pid)
    # SIGHUP would end the process until its event loop takes it over (it reloads from then on).
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    logs.configure(spec.settings.log_level, spec.settings.log_format)
    try:
        import uvloop  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        asyncio.run(serve(spec))
    else:
        uvloop.run(serve(spec))
    return 0


if __name__ == "__main__":
    sys.exit(main())
