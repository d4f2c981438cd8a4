"""The processes under test: started on port 0, found by the line they log when ready, measured in /proc."""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import shutil
import signal
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from bench.postfix import start_postfix

ROOT = Path(__file__).resolve().parent.parent
_SERIAL = itertools.count(1)
READY = re.compile(rb"(?:mail2fax ready backend=\S+ smtp_port|bare-smtp ready port|emulator ready url)=(\S+)")


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of ``pid`` in bytes."""
    found: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = int(value.split()[0]) * 1024
    return found


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time ``pid`` has used so far, all its threads included."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    ticks = int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(root: int) -> float:
    """CPU time of ``root`` and every living descendant, plus what its waited-for children used."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        pid = int(entry.name)
        parents[pid] = int(fields[1])
        # utime, stime, and cutime, cstime: children that exited and were waited for
        times[pid] = (int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])) / tick
    total = 0.0
    for pid in times:
        ancestor = pid
        while ancestor not in (0, 1, root) and ancestor in parents:
            ancestor = parents[ancestor]
        if ancestor == root:
            total += times[pid]
    return total


SINGLE = "mail2fax 1 process"  # this tree with MAIL2FAX_SMTP__PROCESSES=1


class Running(Protocol):
    """A system under test as the intake benchmark sees it."""

    name: str

    @property
    def port(self) -> int: ...

    @property
    def pid(self) -> int: ...

    async def stop(self) -> int: ...


@dataclass
class Server:
    """One process under test; ``address`` is what its ready line announced (a port or a URL)."""

    name: str
    process: asyncio.subprocess.Process
    log_path: Path
    address: str
    workdir: Path | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def port(self) -> int:
        return int(self.address)

    def status(self) -> dict[str, int]:
        return proc_status(self.pid)

    async def stop(self, *, at_most: float = 30.0) -> int:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), timeout=at_most)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
        return self.process.returncode or 0

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


async def start(
    name: str,
    module: str,
    *args: str,
    env: dict[str, str] | None = None,
    workdir: Path | None = None,
    cwd: Path = ROOT,
    logs: Path,
    at_most: float = 30.0,
    nice: int = 0,
) -> Server:
    """Run ``python -m module args`` with stderr to a file, and wait for its ready line."""
    log_path = logs / f"{name}-{next(_SERIAL)}.log"
    with log_path.open("wb") as log_file:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            module,
            *args,
            cwd=cwd,
            env=env if env is not None else dict(os.environ),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=log_file,
            preexec_fn=(lambda: os.nice(nice)) if nice else None,
        )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + at_most
    while loop.time() < deadline:
        match = READY.search(log_path.read_bytes())
        if match:
            return Server(name, process, log_path, match[1].decode(), workdir)
        if process.returncode is not None:
            break
        await asyncio.sleep(0.02)
    if process.returncode is None:
        process.kill()
    await process.wait()
    raise RuntimeError(f"{name} did not start:\n{log_path.read_text(errors='replace')[-3000:]}")


def daemon_environment(data_dir: Path, emulator_url: str, **values: str) -> dict[str, str]:
    """mail2fax's settings as production would pass them, pointed at the emulator."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("MAIL2FAX_")}
    env.update(
        {
            "MAIL2FAX_BACKEND": "ringcentral",
            "MAIL2FAX_DATA_DIR": str(data_dir),
            "MAIL2FAX_SMTP__HOST": "127.0.0.1",
            "MAIL2FAX_SMTP__PORT": "0",
            "MAIL2FAX_SMTP__HOSTNAME": "mail2fax.bench",
            "MAIL2FAX_RINGCENTRAL__SERVER_URL": emulator_url,
            "MAIL2FAX_RINGCENTRAL__CLIENT_ID": "test-client",
            "MAIL2FAX_RINGCENTRAL__CLIENT_SECRET": "test-secret",
            "MAIL2FAX_RINGCENTRAL__JWT": "test-jwt",
            "MAIL2FAX_NOTIFY__FROM": "mail2fax@bench.test",
            "MAIL2FAX_LOG_LEVEL": "INFO",
        }
    )
    env.update(values)
    return env


class Systems:
    """Starts the systems under test, each round in a fresh process and data directory.

    ``before`` is another source tree of mail2fax (for example ``git archive`` of an older
    commit): the system "before" runs the daemon from it, with this tree's launcher. Postfix is
    compared in the intake rounds when it is installed (``bench.postfix``).
    """

    def __init__(
        self,
        loop: str,
        data_root: Path,
        logs: Path,
        emulator_url: str,
        before: Path | None = None,
        *,
        postfix: bool = False,
        single: bool = False,
    ):
        self.loop = loop
        self.data_root = data_root
        self.logs = logs
        self.emulator_url = emulator_url
        self.before = before
        self.daemons: tuple[str, ...] = ("mail2fax",) if before is None else ("before", "mail2fax")
        if single:
            self.daemons = (*self.daemons[:-1], SINGLE, "mail2fax")
        self.names: tuple[str, ...] = ("bare", *self.daemons)
        self.intake_names: tuple[str, ...] = ("bare", "postfix", *self.daemons) if postfix else self.names

    async def start(self, system: str, *, queued: int = 0, processes: int | None = None) -> Running:
        if system == "bare":
            return await start("bare", "bench.bare_server", "--loop", self.loop, logs=self.logs)
        if system == "postfix":
            return await start_postfix(self.data_root)
        if system in ("mail2fax", "before", SINGLE):
            workdir = Path(tempfile.mkdtemp(prefix="mail2fax-bench-", dir=self.data_root))
            env = daemon_environment(workdir, self.emulator_url, MAIL2FAX_SHUTDOWN_TIMEOUT="2")
            if system == SINGLE or processes is not None:
                env["MAIL2FAX_SMTP__PROCESSES"] = str(processes or 1)
            cwd = ROOT
            if system == "before":
                assert self.before is not None
                # The older tree comes first on the path; the launcher is found in this one.
                env["PYTHONPATH"] = os.pathsep.join([str(self.before), str(ROOT)])
                cwd = workdir
            if queued:
                await _fill(workdir, queued, env=env, cwd=cwd)
            return await start(
                system, "bench.daemon", "--loop", self.loop, env=env, workdir=workdir, cwd=cwd, logs=self.logs
            )
        raise ValueError(system)


async def _fill(workdir: Path, queued: int, *, env: dict[str, str], cwd: Path) -> None:
    """Queue ``queued`` jobs in the data directory with the store of the tree the daemon runs."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.fill",
        str(workdir),
        str(queued),
        cwd=cwd,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"filling the queue failed:\n{output.decode(errors='replace')[-3000:]}")
