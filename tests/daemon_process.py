"""``mail2fax serve`` as a real subprocess, for the tests that signal or kill it."""

from __future__ import annotations

import asyncio
import json
import os
import re
import resource
import signal
import sys
from pathlib import Path

READY = re.compile(r"mail2fax ready backend=\S+ smtp_port=(\d+)")


def ready_port(line: str) -> int | None:
    """The SMTP port from the daemon's "ready" line, in text or JSON format."""
    if line.startswith("{"):
        try:
            entry = json.loads(line)
        except ValueError:
            return None
        if entry.get("message") == "mail2fax ready":
            return int(entry["smtp_port"])
    match = READY.search(line)
    return int(match[1]) if match else None


def environment(data_dir: Path, relay_port: int, **values: str) -> dict[str, str]:
    """The process environment for a daemon: the test's settings as MAIL2FAX_* variables only."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("MAIL2FAX_")}
    env.update(
        {
            "MAIL2FAX_BACKEND": "dry-run",
            "MAIL2FAX_DATA_DIR": str(data_dir),
            "MAIL2FAX_SMTP__HOST": "127.0.0.1",
            "MAIL2FAX_SMTP__PORT": "0",
            "MAIL2FAX_SMTP__HOSTNAME": "mail2fax.test",
            "MAIL2FAX_RELAY__HOST": "127.0.0.1",
            "MAIL2FAX_RELAY__PORT": str(relay_port),
            "MAIL2FAX_NOTIFY__FROM": "mail2fax@gateway.test",
            "MAIL2FAX_NOTIFY__INTERVAL": "0.05",
            "MAIL2FAX_TRACK__INTERVAL": "0.05",
            "MAIL2FAX_SUBMIT__INTERVAL": "0.2",
            "MAIL2FAX_RETRY__MIN_BACKOFF": "0.05",
            "MAIL2FAX_RETRY__MAX_BACKOFF": "0.2",
            "MAIL2FAX_LOG_LEVEL": "INFO",
        }
    )
    env.update(values)
    return env


class DaemonProcess:
    def __init__(self, env: dict[str, str], cwd: Path, *, open_files: int | None = None):
        self._env = env
        self._cwd = cwd
        self._open_files = open_files  # RLIMIT_NOFILE of the daemon, when the test needs it low
        self.process: asyncio.subprocess.Process | None = None
        self.lines: list[str] = []
        self.port = 0
        self._reader: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._new_line = asyncio.Condition()

    async def start(self, *, at_most: float = 20.0) -> int:
        """Start the daemon and return its SMTP port once it says it is ready."""
        self._ready.clear()
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "mail2fax",
            "serve",
            env=self._env,
            cwd=self._cwd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            preexec_fn=self._limit_files if self._open_files is not None else None,
        )
        self._reader = asyncio.create_task(self._read(self.process))
        waiter = asyncio.create_task(self._ready.wait())
        exited = asyncio.create_task(self.process.wait())
        await asyncio.wait({waiter, exited}, timeout=at_most, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        exited.cancel()
        if not self._ready.is_set():
            await self.kill()
            raise AssertionError("the daemon did not start:\n" + "\n".join(self.lines[-30:]))
        return self.port

    def _limit_files(self) -> None:
        assert self._open_files is not None
        resource.setrlimit(resource.RLIMIT_NOFILE, (self._open_files, self._open_files))

    def peak_memory(self) -> int:
        """The daemon's peak resident memory so far (VmHWM), in bytes."""
        assert self.process is not None
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        [line] = [line for line in status.splitlines() if line.startswith("VmHWM:")]
        return int(line.split()[1]) * 1024

    async def _read(self, process: asyncio.subprocess.Process) -> None:
        assert process.stderr is not None
        while line := await process.stderr.readline():
            text = line.decode(errors="replace").rstrip()
            async with self._new_line:
                self.lines.append(text)
                self._new_line.notify_all()
            port = ready_port(text)
            if port is not None:
                self.port = port
                self._ready.set()

    async def wait_for_line(self, pattern: str, *, at_most: float = 20.0) -> str:
        """Wait until the daemon logs a line matching ``pattern``; return that line."""
        expression = re.compile(pattern)
        seen = 0
        async with asyncio.timeout(at_most), self._new_line:
            while True:
                for line in self.lines[seen:]:
                    if expression.search(line):
                        return line
                seen = len(self.lines)
                await self._new_line.wait()

    async def kill(self) -> None:
        """SIGKILL: the daemon gets no chance to clean up."""
        if self.process and self.process.returncode is None:
            self.process.kill()
        await self.wait()

    async def terminate(self, sig: int = signal.SIGTERM) -> int:
        assert self.process is not None
        self.process.send_signal(sig)
        return await self.wait()

    async def wait(self, *, at_most: float = 60.0) -> int:
        assert self.process is not None
        code = await asyncio.wait_for(self.process.wait(), timeout=at_most)
        if self._reader is not None:
            await self._reader
        return code

    def log_text(self) -> str:
        return "\n".join(self.lines)
