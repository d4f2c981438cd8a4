"""Intake on every core: more processes serving the SMTP ports, each with the full checks before ``250``.

With ``MAIL2FAX_SMTP__PROCESSES`` above 1, the daemon's own process is the first intake process
and starts the others (``python -m mail2fax.intake_process``). Each binds the same ports with
``SO_REUSEPORT``, so the kernel spreads new connections over them, and each opens the same store
(SQLite lets several processes write one database; every job is committed in its process's own
transaction, and a ``250`` still follows that commit). Submit, track, notify and retention run in
the daemon's process only. A worker tells the daemon, one line on its standard output, of each job
it queued (the submit stage wakes) and of each mail's outcome (for ``/metrics``). Its standard
input stays open while the daemon runs. At shutdown (a line from the daemon, or SIGTERM) the
worker refuses new sessions and finishes its open transactions, but keeps its sockets until the
daemon closes its standard input, when every process has drained: a socket that closes resets the
connections the kernel already queued on it. If the daemon dies (``kill -9``, a crash), the
kernel kills its workers at once, so a restarted daemon never meets a worker still committing.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import pickle
import signal
import struct
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from mail2fax.errors import ConfigError, Mail2FaxError
from mail2fax.private import FILE_MODE, private_directory
from mail2fax.settings import Settings

log = logging.getLogger("mail2fax.workers")

READY = b"ready"
QUEUED = b"queued"
INTAKE = b"intake"
DRAINED = b"drained"
REFUSING = b"refusing"  # worker to daemon: new sessions now get 421
DRAIN = b"d"  # daemon to worker: refuse new sessions and finish the open transactions
LENGTH = struct.Struct("!I")


@dataclass(frozen=True)
class WorkerSpec:
    settings: Settings
    smtp_port: int
    tls_port: int | None
    number: int
    daemon_pid: int


def intake_processes(settings: Settings) -> int:
    """How many processes serve SMTP: the setting, else one per core the daemon may run on.

    Failed SMTP logins are counted in each process's memory, so with SMTP AUTH configured the
    default is one process: a guesser's parallel connections then all meet the same count.
    """
    if settings.smtp.processes is not None:
        return settings.smtp.processes
    if settings.auth.users or settings.auth.users_file is not None:
        return 1
    return max(len(os.sched_getaffinity(0)), 1)


@contextlib.contextmanager
def only_daemon_on(data_dir: Path) -> Iterator[None]:
    """Hold the data directory for one daemon: with shared ports, a second one could otherwise start."""
    try:
        private_directory(data_dir)
        descriptor = os.open(data_dir / "daemon.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
    except OSError:
        yield  # opening the store reports what is wrong with the directory
        return
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(f"another mail2fax daemon is running on {data_dir}") from None
        yield
    finally:
        os.close(descriptor)


class IntakeWorkers:
    """The daemon's side: starts the workers, relays what they report, and stops them."""

    def __init__(
        self,
        settings: Settings,
        *,
        on_queued: Callable[[], None],
        on_intake: Callable[[str, float], None],
    ):
        self._settings = settings
        self._on_queued = on_queued
        self._on_intake = on_intake
        self._processes: list[asyncio.subprocess.Process] = []
        self._readers: list[asyncio.Task[None]] = []
        self._drained: list[asyncio.Future[None]] = []
        self._refusing: list[asyncio.Future[None]] = []
        self._stopping = False

    async def start(self, count: int, smtp_port: int, tls_port: int | None) -> None:
        """Start ``count`` workers on the bound ports; returns when all listen, raises if one fails."""
        for number in range(1, count + 1):
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "mail2fax.intake_process",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
            )
            self._processes.append(process)
            assert process.stdin is not None
            spec = pickle.dumps(WorkerSpec(self._settings, smtp_port, tls_port, number, os.getpid()))
            process.stdin.write(LENGTH.pack(len(spec)) + spec)
            await process.stdin.drain()
        for number, process in enumerate(self._processes, start=1):
            assert process.stdout is not None
            line = await process.stdout.readline()
            if line.strip() != READY:
                await self.stop(0)
                raise Mail2FaxError(f"intake process {number} did not start (see its error above)")
            drained = asyncio.get_running_loop().create_future()
            refusing = asyncio.get_running_loop().create_future()
            self._drained.append(drained)
            self._refusing.append(refusing)
            self._readers.append(asyncio.create_task(self._relay(number, process.stdout, drained, refusing)))
        log.info("intake processes started", extra={"processes": count + 1})

    async def _relay(
        self,
        number: int,
        stdout: asyncio.StreamReader,
        drained: asyncio.Future[None],
        refusing: asyncio.Future[None],
    ) -> None:
        try:
            await self._read_reports(stdout, drained, refusing)
        finally:
            for future in (refusing, drained):
                if not future.done():
                    future.set_result(None)  # an exited worker takes no mail and has none in hand
            if not self._stopping:
                log.error(
                    "an intake process ended before shutdown; the others take the mail",
                    extra={"intake_process": number},
                )

    async def _read_reports(
        self, stdout: asyncio.StreamReader, drained: asyncio.Future[None], refusing: asyncio.Future[None]
    ) -> None:
        while line := await stdout.readline():
            kind, _, rest = line.strip().partition(b" ")
            if kind == REFUSING and not refusing.done():
                refusing.set_result(None)
            elif kind == DRAINED and not drained.done():
                drained.set_result(None)
            elif kind == QUEUED:
                self._on_queued()
            elif kind == INTAKE:
                outcome, _, seconds = rest.partition(b" ")
                with contextlib.suppress(ValueError):
                    self._on_intake(outcome.decode(), float(seconds))

    def reload(self) -> None:
        """Pass SIGHUP on: each worker reads its certificate and users again and logs what it did."""
        for process in self._processes:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGHUP)

    async def refuse_new(self) -> None:
        """Ask every worker to answer new sessions ``421`` and finish its transactions; wait until
        all refuse (a moment: the transactions are waited for in :meth:`drain`)."""
        self._stopping = True
        for process in self._processes:
            if process.stdin is not None and not process.stdin.is_closing():
                process.stdin.write(DRAIN)
        if self._refusing:
            await asyncio.wait(self._refusing, timeout=5.0)

    async def drain(self) -> None:
        """Wait until every worker has finished its transactions (after :meth:`refuse_new`).

        Their sockets stay open (answering ``421``) until :meth:`stop`.
        """
        await self.refuse_new()
        if self._drained:
            await asyncio.wait(self._drained, timeout=self._settings.shutdown_timeout + 1.0)

    async def stop(self, grace: float) -> None:
        """Close every worker's sockets and let it exit; kill those still running after ``grace`` seconds."""
        self._stopping = True
        for process in self._processes:
            if process.stdin is not None and not process.stdin.is_closing():
                process.stdin.close()
        waiting = [asyncio.create_task(process.wait()) for process in self._processes]
        if waiting:
            _done, pending = await asyncio.wait(waiting, timeout=max(grace, 0.1) + 1.0)
            for task in pending:
                task.cancel()
        for process in self._processes:
            if process.returncode is None:
                process.kill()
                await process.wait()
        for reader in self._readers:
            reader.cancel()
        self._processes.clear()
