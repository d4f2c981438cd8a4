"""SMTP AUTH against the running daemon: TLS first, each scanner quirk, throttling, no secrets in logs."""

from __future__ import annotations

import asyncio
import logging
import ssl
from pathlib import Path
from typing import Any

import pytest

from mail2fax.app import Daemon
from mail2fax.errors import ConfigError
from mail2fax.settings import Settings
from mail2fax.smtp.passwords import MIN_N, hash_password
from tests.capture import CaptureRelay
from tests.conftest import running, settings_for
from tests.logged import rendered
from tests.mailbuilder import mail
from tests.raw_smtp import Certificates, RawSMTP, advertised, b64
from tests.samples.other import pdf_bytes

pytestmark = pytest.mark.timeout(30)

PASSWORD = "Scan-2-Fax!"
USERS = {"scanner": hash_password(PASSWORD, n=MIN_N), "alice@example.com": hash_password("alice-pw", n=MIN_N)}
ELSEWHERE = ["10.9.0.0/16"]  # trusted networks that leave out 127.0.0.1: the test client is a stranger
RECIPIENT = "12015550123@fax.local"


@pytest.fixture
def certificates(tmp_path: Path) -> Certificates:
    return Certificates.create(tmp_path)


def secure_settings(tmp_path: Path, relay: CaptureRelay, certs: Certificates, **overrides: Any) -> Settings:
    smtp = certs.smtp_settings(tls_port=0, **overrides.pop("smtp", {}))
    values: dict[str, Any] = {"trusted_networks": ELSEWHERE, "auth": {"users": USERS}, **overrides}
    return settings_for(tmp_path / "data", relay, smtp=smtp, **values)


async def fax_count(daemon: Daemon) -> int:
    assert daemon.store is not None
    return len(await daemon.store.list_jobs())


async def send_fax(client: RawSMTP, sender: str = "scanner@example.com") -> list[int]:
    """MAIL, RCPT and DATA with a one-page PDF; the three reply codes."""
    raw = bytes(mail(sender=sender, to=RECIPIENT, attachments=[("scan.pdf", pdf_bytes(), "application/pdf")]))
    codes = [(await client.command(f"MAIL FROM:<{sender}>")).code]
    codes.append((await client.command(f"RCPT TO:<{RECIPIENT}>")).code)
    codes.append((await client.data(raw)).code if codes == [250, 250] else 0)
    return codes


async def test_auth_is_neither_offered_nor_taken_before_starttls(
    tmp_path: Path, relay: CaptureRelay, certificates: Certificates
) -> None:
    async with running(secure_settings(tmp_path, relay, certificates)) as daemon:
        client = await RawSMTP.connect(daemon.smtp_port)
        keywords = advertised(await client.ehlo())
        assert "STARTTLS" in keywords
        assert "AUTH" not in keywords
        reply = await client.auth_plain("scanner", PASSWORD)
        assert (reply.code, reply.text) == (
            538,
            "5.7.11 Encryption required for requested authentication mechanism",
        )
        assert (await client.command("MAIL FROM:<scanner@example.com>")).code == 530
        await client.close()
        assert await fax_count(daemon) == 0


async def test_starttls_then_auth_plain_lets_a_stranger_send(
    tmp_path: Path, relay: CaptureRelay, certificates: Certificates
) -> None:
    async with running(secure_settings(tmp_path, relay, certificates)) as daemon:
        client = await RawSMTP.connect(daemon.smtp_port)
        await client.ehlo()
        await client.starttls(certificates.client_context())
        keywords = advertised(await client.ehlo())
        assert "STARTTLS" not in keywords
        assert keywords["AUTH"].split() == ["LOGIN", "PLAIN"]
        assert (await client.command("MAIL FROM:<scanner@example.com>")).code == 530
        assert (await client.auth_plain("scanner", PASSWORD)).code == 235
        assert (await client.auth_plain("scanner", PASSWORD)).code == 503
        assert await send_fax(client) == [250, 250, 250]
        await client.command("QUIT")
        await client.close()
        assert await fax_count(daemon) == 1


async def test_auth_login_asks_username_and_password_as_scanners_expect(
    tmp_path: Path, relay: CaptureRelay, certificates: Certificates
) -> None:
    async with running(secure_settings(tmp_path, relay, certificates)) as daemon:
        client = await RawSMTP.connect(daemon.smtp_port)
        await client.ehlo()
        await client.starttls(certificates.client_context())
        await client.ehlo()
        challenge = await client.command("AUTH LOGIN")
        assert (challenge.code, challenge.text) == (334, b64("Username:"))
        challenge = await client.command(b64("scanner"))
        assert (challenge.code, challenge.text) == (334, b64("Password:"))
        reply = await client.command(b64(PASSWORD))
        assert (reply.code, reply.text) == (235, "2.7.0 Authentication successful")
        assert await send_fax(client) == [250, 250, 250]
        await client.close()


async def test_lower_case_auth_login_with_the_user_name_as_initial_response(
    tmp_path: Path, relay: CaptureRelay, certificates: Certificates
) -> None:
    async with running(secure_settings(tmp_path, relay, certificates)) as daemon:
        client = await RawSMTP.connect(daemon.smtp_port)
        await client.command("ehlo scanner")
        await client.starttls(certificates.client_context())
        await client.command("ehlo scanner")
        challenge = await client.command(f"auth login {b64('scanner')}")
        assert (challenge.code, challenge.text) == (334, b64("Password:"))
        assert (await client.command(b64(PASSWORD))).code == 235
        assert await send_fax(client) == [250, 250, 250]
        await client.close()


async def test_ip_literal_helo_and_plain_helo_on_the_implicit_tls_port(
    tmp_path: Path, relay: CaptureRelay, certificates: Certificates
) -> None:
    async with running(secure_settings(tmp_path, relay, certificates)) as daemon:
        assert daemon.tls_port
        client = await RawSMTP.connect(daemon.tls_port, tls=certificates.client_context())
        assert (await client.command("HELO [192.168.1.21]")).code == 250
        assert (await client.command("AUTH LOGIN")).text == b64("Username:")
        await client.command(b64("scanner"))
        assert (await client.command(b64(PASSWORD))).code == 235
        assert await send_fax(client) == [250, 250, 250]
        await client.close()
        assert await fax_count(daemon) == 1


async def test_implicit_tls_offers_auth_and_no_starttls_even_when_starttls_is_required(
    tmp_path: Path, relay: CaptureRelay, certificates: Certificates
) -> None:
    settings = secure_settings(tmp_path, relay, certificates, smtp={"require_starttls": True})
    async with running(settings) as daemon:
        plain = await RawSMTP.connect(daemon.smtp_port)
        await plain.ehlo()
        assert (await plain.command("MAIL FROM:<scanner@example.com>")).code == 530
        await plain.close()
        client = await RawSMTP.connect(daemon.tls_port, tls=certificates.client_context())
        keywords = advertised(await client.ehlo("[192.168.1.21]"))
        assert "STARTTLS" not in keywords
        assert "AUTH" in keywords
        assert (await client.command("STARTTLS")).code == 454
        assert (await client.auth_plain("scanner", PASSWORD)).code == 235
        assert await send_fax(client) == [250, 250, 250]
        await client.close()


async def test_auth_plain_without_initial_response_and_with_the_equals_sign(
    tmp_path: Path, relay: CaptureRelay, certificates: Certificates
) -> None:
    async with running(secure_settings(tmp_path, relay, certificates)) as daemon:
        client = await RawSMTP.connect(daemon.tls_port, tls=certificates.client_context())
        await client.ehlo()
        challenge = await client.command("AUTH PLAIN")
        assert (challenge.code, challenge.text) == (334, "")
        assert (await client.command(b64(f"\0scanner\0{PASSWORD}"))).code == 235
        await client.close()
        client = await RawSMTP.connect(daemon.tls_port, tls=certificates.client_context())
        await client.ehlo()
        assert (await client.command("AUTH PLAIN =")).code == 501
        assert (await client.command("AUTH LOGIN")).code == 334
        assert (await client.command("*")).code == 501
        assert (await client.command("AUTH PLAIN not-base64!")).code == 501
        assert (await client.command("AUTH CRAM-MD5")).code == 504
        assert (await client.command("AUTH")).code == 501
        assert (await client.auth_plain("scanner", PASSWORD)).code == 235
        await client.close()


@pytest.mark.parametrize(
    "response",
    [
        "\0scanner\0wrong password",
        "\0nobody\0" + PASSWORD,
        "\0SCANNER\0" + PASSWORD,
        "alice@example.com\0scanner\0" + PASSWORD,
        "\0\xff\xfe\0" + PASSWORD,
    ],
)
async def test_wrong_credentials_are_refused_and_the_session_stays_unauthenticated(
    tmp_path: Path, relay: CaptureRelay, certificates: Certificates, response: str
) -> None:
    async with running(secure_settings(tmp_path, relay, certificates)) as daemon:
        client = await RawSMTP.connect(daemon.tls_port, tls=certificates.client_context())
        await client.ehlo()
        reply = await client.command(f"AUTH PLAIN {b64(response.encode('latin-1'))}")
        assert (reply.code, reply.text) == (535, "5.7.8 Authentication credentials invalid")
        assert await send_fax(client) == [530, 503, 0]
        await client.close()
        assert await fax_count(daemon) == 0


async def test_failed_logins_are_slowed_down_per_client(
    tmp_path: Path, relay: CaptureRelay, certificates: Certificates
) -> None:
    settings = secure_settings(
        tmp_path, relay, certificates, auth={"users": USERS, "failures_before_delay": 2, "max_delay": 0.6}
    )
    loop = asyncio.get_running_loop()
    async with running(settings) as daemon:

        async def attempt(password: str) -> tuple[int, float]:
            client = await RawSMTP.connect(daemon.tls_port, tls=certificates.client_context())
            await client.ehlo()
            started = loop.time()
            reply = await client.auth_plain("scanner", password)
            elapsed = loop.time() - started
            await client.close()
            return reply.code, elapsed

        free = [await attempt("guess-1"), await attempt("guess-2")]
        assert [code for code, _ in free] == [535, 535]
        assert all(elapsed < 0.6 for _, elapsed in free), free
        code, elapsed = await attempt("guess-3")
        assert code == 535
        assert elapsed >= 0.6
        # Parallel guesses from the same address take turns, each one delayed.
        started = loop.time()
        results = await asyncio.gather(attempt("guess-4"), attempt("guess-5"))
        assert [code for code, _ in results] == [535, 535]
        assert loop.time() - started >= 1.2
        # The right password still works, without a delay of its own.
        code, _ = await attempt(PASSWORD)
        assert code == 235


async def test_plain_auth_from_a_trusted_network_only_when_the_operator_allows_it(
    tmp_path: Path, relay: CaptureRelay, certificates: Certificates
) -> None:
    loopback = ["127.0.0.0/8"]
    refused = secure_settings(tmp_path / "one", relay, certificates, trusted_networks=loopback)
    async with running(refused) as daemon:
        client = await RawSMTP.connect(daemon.smtp_port)
        assert "AUTH" not in advertised(await client.ehlo())
        assert (await client.auth_plain("scanner", PASSWORD)).code == 538
        await client.close()
    allowed = secure_settings(
        tmp_path / "two",
        relay,
        certificates,
        trusted_networks=loopback,
        smtp={"allow_plain_auth_from_trusted": True},
    )
    async with running(allowed) as daemon:
        client = await RawSMTP.connect(daemon.smtp_port)
        assert "AUTH" in advertised(await client.ehlo())
        assert (await client.auth_plain("scanner", PASSWORD)).code == 235
        await client.close()
    # The permission is for trusted networks only: a stranger still needs TLS.
    stranger = secure_settings(
        tmp_path / "three", relay, certificates, smtp={"allow_plain_auth_from_trusted": True}
    )
    async with running(stranger) as daemon:
        client = await RawSMTP.connect(daemon.smtp_port)
        assert "AUTH" not in advertised(await client.ehlo())
        assert (await client.auth_plain("scanner", PASSWORD)).code == 538
        await client.close()


async def test_without_tls_configured_no_password_is_ever_taken(
    tmp_path: Path, relay: CaptureRelay, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for(tmp_path, relay, trusted_networks=ELSEWHERE, auth={"users": USERS})
    async with running(settings) as daemon:
        client = await RawSMTP.connect(daemon.smtp_port)
        keywords = advertised(await client.ehlo())
        assert "AUTH" not in keywords
        assert "STARTTLS" not in keywords
        assert (await client.auth_plain("scanner", PASSWORD)).code == 538
        assert (await client.command("AUTH LOGIN")).code == 538
        assert await send_fax(client) == [530, 503, 0]
        await client.close()
    assert "passwords are only taken over TLS, so nobody can log in" in caplog.text


async def test_starttls_forgets_an_earlier_greeting_and_auth_must_follow_it(
    tmp_path: Path, relay: CaptureRelay, certificates: Certificates
) -> None:
    settings = secure_settings(
        tmp_path,
        relay,
        certificates,
        trusted_networks=["127.0.0.0/8"],
        smtp={"allow_plain_auth_from_trusted": True},
    )
    async with running(settings) as daemon:
        client = await RawSMTP.connect(daemon.smtp_port)
        await client.ehlo()
        assert (await client.auth_plain("scanner", PASSWORD)).code == 235
        await client.starttls(certificates.client_context())
        # RFC 3207: after STARTTLS the session starts over, including the login.
        assert (await client.command("AUTH PLAIN")).code == 503
        await client.ehlo()
        assert (await client.auth_plain("scanner", PASSWORD)).code == 235
        await client.close()


async def test_passwords_never_reach_the_log_or_the_status_mail(
    tmp_path: Path, relay: CaptureRelay, certificates: Certificates, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "Wrong-Guess-71"
    async with running(secure_settings(tmp_path, relay, certificates)) as daemon:
        client = await RawSMTP.connect(daemon.tls_port, tls=certificates.client_context())
        await client.ehlo()
        assert (await client.auth_plain("scanner", wrong)).code == 535
        await client.command("AUTH LOGIN")
        await client.command(b64("scanner"))
        assert (await client.command(b64(PASSWORD))).code == 235
        assert await send_fax(client) == [250, 250, 250]
        await client.close()
        [status] = await relay.wait_for(1)
    logged = rendered(caplog.records) + rendered(caplog.records, "json")
    mailed = status.message.as_string()
    assert "scanner@example.com" in status.recipients
    assert "smtp auth failed user=scanner peer=127.0.0.1" in logged
    assert "smtp auth ok user=scanner peer=127.0.0.1" in logged
    assert '"message": "smtp auth failed", "user": "scanner", "peer": "127.0.0.1"' in logged
    for secret in (PASSWORD, wrong, b64(PASSWORD), b64(f"\0scanner\0{wrong}"), USERS["scanner"]):
        assert secret not in logged
        assert secret not in mailed
    assert [record for record in caplog.records if record.exc_info] == []


async def test_a_bad_users_file_stops_the_daemon_at_start(
    tmp_path: Path, relay: CaptureRelay, certificates: Certificates
) -> None:
    users_file = tmp_path / "users"
    users_file.write_text("# users\nscanner:not-a-hash\n")
    settings = secure_settings(tmp_path, relay, certificates, auth={"users_file": users_file})
    with pytest.raises(ConfigError, match="line 2: not a scrypt hash"):
        async with running(settings):
            pass


async def test_users_file_logins(tmp_path: Path, relay: CaptureRelay, certificates: Certificates) -> None:
    users_file = tmp_path / "users"
    users_file.write_text(f"# fax users\nfrontdesk:{hash_password('desk-pw', n=MIN_N)}\n")
    settings = secure_settings(tmp_path, relay, certificates, auth={"users_file": users_file})
    async with running(settings) as daemon:
        client = await RawSMTP.connect(daemon.tls_port, tls=certificates.client_context())
        await client.ehlo()
        assert (await client.auth_plain("scanner", PASSWORD)).code == 535
        assert (await client.auth_plain("frontdesk", "desk-pw")).code == 235
        await client.close()


async def test_tls_1_0_is_refused_by_default_and_taken_when_allowed_with_a_warning(
    tmp_path: Path, relay: CaptureRelay, certificates: Certificates, caplog: pytest.LogCaptureFixture
) -> None:
    old = certificates.client_context(maximum=ssl.TLSVersion.TLSv1, minimum=ssl.TLSVersion.TLSv1)
    async with running(secure_settings(tmp_path / "default", relay, certificates)) as daemon:
        # OpenSSL refuses the handshake; the client sees an alert or a reset, depending on timing.
        with pytest.raises((ssl.SSLError, ConnectionError)):
            await RawSMTP.connect(daemon.tls_port, tls=old)
        client = await RawSMTP.connect(daemon.smtp_port)
        await client.ehlo()
        with pytest.raises((ssl.SSLError, ConnectionError)):
            await client.starttls(old)
        await client.close()
        modern = await RawSMTP.connect(daemon.tls_port, tls=certificates.client_context())
        assert (await modern.ehlo()).code == 250
        await modern.close()
    assert "TLS 1.0 is obsolete" not in caplog.text
    allowed = secure_settings(tmp_path / "old", relay, certificates, smtp={"tls_min_version": "1.0"})
    async with running(allowed) as daemon:
        client = await RawSMTP.connect(daemon.tls_port, tls=old)
        ssl_object = client.writer.get_extra_info("ssl_object")
        assert ssl_object.version() == "TLSv1"
        await client.ehlo()
        assert (await client.auth_plain("scanner", PASSWORD)).code == 235
        await client.close()
        client = await RawSMTP.connect(daemon.smtp_port)
        await client.ehlo()
        await client.starttls(old)
        await client.ehlo()
        assert (await client.auth_plain("scanner", PASSWORD)).code == 235
        await client.close()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("MAIL2FAX_SMTP__TLS_MIN_VERSION=1.0: TLS 1.0 is obsolete" in w for w in warnings)
