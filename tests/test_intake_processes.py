"""Several intake processes on one port: every mail committed before 250, faxed once, and no stray process."""

from __future__ import annotations

import asyncio
import errno
import os
import re
import signal
import socket
from pathlib import Path
from typing import Any

import pytest

from mail2fax.app import Daemon
from mail2fax.errors import ConfigError, StartupError
from mail2fax.models import JobState
from mail2fax.settings import Settings
from mail2fax.smtp.listener import refuse_taken_port
from mail2fax.workers import intake_processes
from tests.capture import CaptureRelay
from tests.conftest import eventually, running, settings_for, wait_until
from tests.daemon_process import DaemonProcess, environment
from tests.mailbuilder import mail
from tests.samples.other import pdf_bytes
from tests.smtp_client import deliver, queued_job

TO = ["14155551212@fax.local"]
QUEUED_LINE = re.compile(r"job=(\w+) state=queued")


def fax_mail(subject: str) -> bytes:
    return bytes(mail(subject=subject, attachments=[("a.pdf", pdf_bytes(), "application/pdf")]))


def children_of(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


async def test_mails_taken_by_another_process_are_queued_and_faxed(
    tmp_path: Path, relay: CaptureRelay, capfd: pytest.CaptureFixture[str]
) -> None:
    # The submit stage runs only on a ring: a fax of a mail taken by the other process goes out
    # within the test's time only if that process tells the daemon about it.
    settings = settings_for(tmp_path, relay, smtp={"processes": 2}, submit={"interval": 3600})
    taken_elsewhere: set[str] = set()
    async with running(settings) as daemon:
        [intake_process] = children_of(os.getpid())
        store = daemon.store
        assert store is not None
        for number in range(16):
            reply = await deliver(daemon.smtp_port, fax_mail(f"mail {number}"), recipients=TO)
            assert reply.accepted
            job_id = queued_job(reply.final.text)

            async def sent(job_id: str = job_id) -> bool:
                job = await store.get(job_id)
                return job is not None and job.state is JobState.SENT

            await eventually(sent, timeout=5)
            taken_elsewhere |= set(QUEUED_LINE.findall(capfd.readouterr().err))
    assert taken_elsewhere, "the kernel gave the other process some of the 16 connections"
    assert not alive(intake_process)
    assert len(await relay.wait_for(16)) == 16


async def test_a_killed_daemon_takes_its_intake_processes_with_it(
    tmp_path: Path, relay: CaptureRelay
) -> None:
    daemon = DaemonProcess(environment(tmp_path, relay.port, MAIL2FAX_SMTP__PROCESSES="3"), tmp_path)
    await daemon.start()
    await daemon.wait_for_line("intake processes started processes=3")
    assert daemon.process is not None
    workers = children_of(daemon.process.pid)
    assert len(workers) == 2
    os.kill(daemon.process.pid, signal.SIGKILL)
    await daemon.wait()

    async def all_gone() -> bool:
        return not any(alive(pid) for pid in workers)

    await eventually(all_gone, timeout=5)


async def test_the_daemon_goes_on_when_an_intake_process_dies(
    tmp_path: Path, relay: CaptureRelay, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for(tmp_path, relay, smtp={"processes": 2})
    async with running(settings) as daemon:
        [intake_process] = children_of(os.getpid())
        os.kill(intake_process, signal.SIGKILL)

        def reported() -> bool:
            return any("an intake process ended before shutdown" in r.getMessage() for r in caplog.records)

        await wait_until(reported)
        replies = [await deliver(daemon.smtp_port, fax_mail(f"after {n}"), recipients=TO) for n in range(4)]
    assert all(reply.accepted for reply in replies)


async def test_a_second_daemon_on_the_same_data_directory_does_not_start(
    tmp_path: Path, relay: CaptureRelay
) -> None:
    settings = settings_for(tmp_path, relay)
    async with running(settings):
        with pytest.raises(ConfigError, match="another mail2fax daemon is running on"):
            await Daemon(settings).run(asyncio.Event())


async def test_a_second_daemon_on_a_port_the_first_shares_does_not_start(
    tmp_path: Path, relay: CaptureRelay
) -> None:
    # SO_REUSEPORT would let a second daemon of the same user listen beside the first, the kernel
    # then splitting the connections between two queues without a word.
    first = settings_for(tmp_path / "first", relay, smtp={"processes": 2})
    async with running(first) as daemon:
        port = daemon.smtp_port
        second = settings_for(tmp_path / "second", relay, smtp={"processes": 2, "port": port})
        problem = f"MAIL2FAX_SMTP__PORT: cannot listen on 127.0.0.1:{port}: Address already in use"
        with pytest.raises(StartupError, match=re.escape(problem)):
            await asyncio.wait_for(Daemon(second).run(asyncio.Event()), timeout=30)


async def test_the_port_check_skips_address_families_the_host_lacks(monkeypatch: pytest.MonkeyPatch) -> None:
    # A host without IPv6: the wildcard address still resolves to "::", which asyncio skips.
    real_socket = socket.socket

    def without_ipv6(family: int = socket.AF_INET, *args: Any) -> socket.socket:
        if family == socket.AF_INET6:
            raise OSError(errno.EAFNOSUPPORT, os.strerror(errno.EAFNOSUPPORT))
        return real_socket(family, *args)

    with real_socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    monkeypatch.setattr(socket, "socket", without_ipv6)
    await refuse_taken_port("", port)


def test_one_process_per_core_unless_logins_are_counted(tmp_path: Path) -> None:
    base = {"backend": "dry-run", "data_dir": tmp_path}
    cores = len(os.sched_getaffinity(0))
    assert intake_processes(Settings(_env_file=None, **base)) == cores  # type: ignore[call-arg]
    with_auth = Settings(_env_file=None, auth={"users": {"scanner": "x" * 12}}, **base)  # type: ignore[call-arg]
    assert intake_processes(with_auth) == 1
    chosen = Settings(_env_file=None, smtp={"processes": 3}, auth={"users": {"s": "x" * 12}}, **base)  # type: ignore[call-arg]
    assert intake_processes(chosen) == 3
