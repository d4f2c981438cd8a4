"""TLS as an operator lives with it: a failed handshake is one warning line; certificates reload on SIGHUP."""

from __future__ import annotations

import asyncio
import logging
import ssl
from pathlib import Path

import pytest

from tests.capture import CaptureRelay
from tests.conftest import running, settings_for, wait_until
from tests.logged import rendered
from tests.raw_smtp import Certificates, RawSMTP

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def certificates(tmp_path: Path) -> Certificates:
    return Certificates.create(tmp_path)


def handshake_failures(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.getMessage() == "tls handshake failed"]


async def old_scanner(port: int, certificates: Certificates, *, starttls: bool) -> None:
    """A client that speaks only TLS 1.0, on the implicit port or after STARTTLS; it must fail."""
    tls10 = certificates.client_context(maximum=ssl.TLSVersion.TLSv1, minimum=ssl.TLSVersion.TLSv1)
    if starttls:
        client = await RawSMTP.connect(port)
        await client.ehlo()
        with pytest.raises((ssl.SSLError, ConnectionError)):
            await client.starttls(tls10)
        await client.close()
        return
    with pytest.raises((ssl.SSLError, ConnectionError)):
        await RawSMTP.connect(port, tls=tls10)


async def port_probe(port: int, data: bytes) -> None:
    """A scanner of ports: it connects, maybe says something that is not TLS, and leaves."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    if data:
        writer.write(data)
        await writer.drain()
        await reader.read()  # the server hangs up
    writer.close()
    await writer.wait_closed()


async def test_failed_handshakes_are_one_warning_line_each(
    tmp_path: Path, relay: CaptureRelay, certificates: Certificates, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    settings = settings_for(tmp_path / "data", relay, smtp=certificates.smtp_settings(tls_port=0))
    async with running(settings) as daemon:
        assert daemon.tls_port and daemon.smtp_port
        await old_scanner(daemon.tls_port, certificates, starttls=False)
        await old_scanner(daemon.smtp_port, certificates, starttls=True)
        await port_probe(daemon.tls_port, b"GET / HTTP/1.0\r\n\r\n")
        await port_probe(daemon.tls_port, b"")
        await wait_until(lambda: len(handshake_failures(caplog)) == 4)
        good = await RawSMTP.connect(daemon.tls_port, tls=certificates.client_context())
        assert (await good.ehlo()).code == 250
        await good.close()

    failures = handshake_failures(caplog)
    assert [(r.levelno, r.listener, r.reason) for r in failures] == [  # type: ignore[attr-defined]
        (logging.WARNING, "implicit", "UNSUPPORTED_PROTOCOL"),
        (logging.WARNING, "starttls", "UNSUPPORTED_PROTOCOL"),
        (logging.WARNING, "implicit", "HTTP_REQUEST"),
        (logging.WARNING, "implicit", "CONNECTION_CLOSED"),
    ]
    assert {str(r.peer) for r in failures} == {"127.0.0.1"}  # type: ignore[attr-defined]
    text = rendered(failures)
    assert len(text.splitlines()) == 4
    assert "tls handshake failed peer=127.0.0.1 listener=implicit reason=UNSUPPORTED_PROTOCOL" in text
    assert [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info] == []
