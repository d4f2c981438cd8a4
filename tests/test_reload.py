"""SIGHUP as `systemctl reload` sends it: a new certificate and users in every intake process, no restart."""

from __future__ import annotations

import asyncio
import re
import shutil
import signal
import ssl
from pathlib import Path

import pytest

from mail2fax.smtp.passwords import MIN_N, hash_password
from tests.capture import CaptureRelay
from tests.daemon_process import DaemonProcess, environment
from tests.raw_smtp import Certificates, RawSMTP
from tests.test_deployment import one

pytestmark = pytest.mark.timeout(90)

OLD_PASSWORD = "Scan-2-Fax!"
NEW_PASSWORD = "Alice-2-Fax!"


def place(certificates: Certificates, cert: Path, key: Path) -> None:
    """Put a certificate and key where the daemon's settings point, as a renewal would."""
    shutil.copyfile(certificates.cert, cert)
    shutil.copyfile(certificates.key, key)


async def count_lines(daemon: DaemonProcess, pattern: str, count: int) -> list[str]:
    """Wait until the daemon has logged ``count`` lines matching ``pattern``; return them."""
    expression = re.compile(pattern)
    async with asyncio.timeout(20):
        while len(found := [line for line in daemon.lines if expression.search(line)]) < count:
            await daemon.wait_for_line(pattern)
            await asyncio.sleep(0.05)
    return found


async def can_log_in(port: int, tls: ssl.SSLContext, user: str, password: str) -> bool:
    client = await RawSMTP.connect(port)
    try:
        await client.ehlo()
        await client.starttls(tls)
        await client.ehlo()
        return (await client.auth_plain(user, password)).code == 235
    finally:
        await client.close()


async def presents(port: int, tls: ssl.SSLContext) -> bool:
    """Whether a client that trusts ``tls``'s CA completes a handshake on the implicit-TLS port."""
    try:
        client = await RawSMTP.connect(port, tls=tls)
    except (ssl.SSLError, ConnectionError):
        return False
    await client.close()
    return True


async def test_sighup_reloads_certificate_and_users_and_survives_a_bad_reload(
    tmp_path: Path, relay: CaptureRelay
) -> None:
    for name in ("old", "new"):
        (tmp_path / name).mkdir()
    old, new = Certificates.create(tmp_path / "old"), Certificates.create(tmp_path / "new")
    cert, key, users = tmp_path / "live.crt", tmp_path / "live.key", tmp_path / "users"
    place(old, cert, key)
    users.write_text(f"scanner:{hash_password(OLD_PASSWORD, n=MIN_N)}\n")
    env = environment(
        tmp_path / "data",
        relay.port,
        MAIL2FAX_SMTP__TLS_CERT=str(cert),
        MAIL2FAX_SMTP__TLS_KEY=str(key),
        MAIL2FAX_SMTP__TLS_PORT="0",
        MAIL2FAX_SMTP__PROCESSES="2",
        MAIL2FAX_AUTH__USERS_FILE=str(users),
        MAIL2FAX_TRUSTED_NETWORKS='["10.9.0.0/16"]',
    )
    daemon = DaemonProcess(env, tmp_path)
    port = await daemon.start()
    try:
        listening = await daemon.wait_for_line(r"smtp listening .*tls=implicit")
        tls_port = int(re.search(r"port=(\d+)", listening)[1])  # type: ignore[index]
        assert await presents(tls_port, old.client_context())
        assert await can_log_in(port, old.client_context(), "scanner", OLD_PASSWORD)

        place(new, cert, key)
        users.write_text(f"alice@example.com:{hash_password(NEW_PASSWORD, n=MIN_N)}\n")
        assert daemon.process is not None
        daemon.process.send_signal(signal.SIGHUP)
        reloaded = await count_lines(daemon, "tls certificate reloaded", 2)
        await count_lines(daemon, r"smtp auth users reloaded .*users=1", 2)
        assert len({re.search(r"pid=(\d+)", line)[1] for line in reloaded}) == 2  # type: ignore[index]
        for _ in range(4):  # new connections, spread over both intake processes
            assert await presents(tls_port, new.client_context())
            assert not await presents(tls_port, old.client_context())
        assert await can_log_in(port, new.client_context(), "alice@example.com", NEW_PASSWORD)
        assert not await can_log_in(port, new.client_context(), "scanner", OLD_PASSWORD)

        key.write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
        users.write_text("alice@example.com:not-a-hash\n")
        daemon.process.send_signal(signal.SIGHUP)
        await count_lines(daemon, "tls certificate not reloaded: the current one stays", 2)
        await count_lines(daemon, "smtp auth users not reloaded: the current ones stay", 2)
        assert await presents(tls_port, new.client_context())
        assert await can_log_in(port, new.client_context(), "alice@example.com", NEW_PASSWORD)
        assert daemon.process.returncode is None
    finally:
        code = await daemon.terminate()
    assert code == 0
    assert "not-a-hash" not in daemon.log_text()


def test_the_systemd_unit_reloads_with_sighup() -> None:
    assert one("ExecReload") == "/bin/kill -HUP $MAINPID"
