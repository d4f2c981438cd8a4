"""Who may send and to which numbers, against the running daemon: each rule at its SMTP stage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mail2fax.app import Daemon
from mail2fax.errors import ConfigError
from mail2fax.settings import Settings
from mail2fax.smtp.passwords import MIN_N, hash_password
from tests.capture import CaptureRelay
from tests.conftest import running, settings_for
from tests.mailbuilder import mail
from tests.raw_smtp import Certificates, RawSMTP, b64
from tests.samples.other import pdf_bytes
from tests.smtp_client import deliver

pytestmark = pytest.mark.timeout(30)

ELSEWHERE = ["10.9.0.0/16", "::ffff:10.9.0.0/112"]  # trusted networks that leave out the test client
US_LANDLINE = "12015550123@fax.local"
US_PREMIUM = "19002345678@fax.local"
GB_LANDLINE = "442071838750@fax.local"
GB_PERSONAL = "447012345678@fax.local"


def fax(sender: str = "alice@example.com", to: str = US_LANDLINE) -> bytes:
    return bytes(mail(sender=sender, to=to, attachments=[("doc.pdf", pdf_bytes(), "application/pdf")]))


def policy_settings(tmp_path: Path, relay: CaptureRelay, **overrides: Any) -> Settings:
    return settings_for(tmp_path, relay, **overrides)


async def jobs(daemon: Daemon) -> int:
    assert daemon.store is not None
    return len(await daemon.store.list_jobs())


async def test_out_of_the_box_only_loopback_is_trusted(tmp_path: Path, relay: CaptureRelay) -> None:
    settings = policy_settings(tmp_path, relay)
    assert [str(network) for network in settings.trusted_networks] == ["127.0.0.0/8", "::1/128"]
    assert settings.auth.users == {}
    async with running(settings) as daemon:
        transaction = await deliver(daemon.smtp_port, fax(), recipients=[US_LANDLINE])
        assert transaction.accepted, transaction.final
        assert await jobs(daemon) == 1


async def test_a_stranger_is_refused_at_mail_with_530(tmp_path: Path, relay: CaptureRelay) -> None:
    async with running(policy_settings(tmp_path, relay, trusted_networks=ELSEWHERE)) as daemon:
        transaction = await deliver(daemon.smtp_port, fax(), recipients=[US_LANDLINE])
        assert (transaction.mail.code, transaction.mail.text) == (530, "5.7.0 Authentication required")
        assert transaction.rcpts == []
        assert transaction.data is None
        assert await jobs(daemon) == 0


async def test_a_stranger_cannot_cause_a_fax_by_any_path(tmp_path: Path, relay: CaptureRelay) -> None:
    certificates = Certificates.create(tmp_path)
    users = {"scanner": hash_password("right", n=MIN_N)}
    settings = policy_settings(
        tmp_path / "data",
        relay,
        trusted_networks=ELSEWHERE,
        auth={"users": users},
        smtp={"tls_cert": certificates.cert, "tls_key": certificates.key, "tls_port": 0},
    )
    body = fax()
    dotted = body.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    async with running(settings) as daemon:

        async def session(*, tls: bool = False) -> RawSMTP:
            port = daemon.tls_port if tls else daemon.smtp_port
            assert port
            return await RawSMTP.connect(port, tls=certificates.client_context() if tls else None)

        # 1. Straight through, EHLO and HELO.
        for greeting in ("EHLO stranger.test", "HELO stranger.test", "helo [192.168.1.21]"):
            client = await session()
            assert (await client.command(greeting)).code == 250
            assert (await client.command("MAIL FROM:<alice@example.com>")).code == 530
            assert (await client.command(f"RCPT TO:<{US_LANDLINE}>")).code == 503
            assert (await client.command("DATA")).code == 503
            await client.close()
        # 2. Pipelined: every command in one write, then the message; nothing may get through.
        client = await session()
        await client.ehlo()
        await client.send(
            b"MAIL FROM:<alice@example.com>\r\nRCPT TO:<"
            + US_LANDLINE.encode()
            + b">\r\nDATA\r\n"
            + dotted
            + b"\r\n.\r\nQUIT\r\n"
        )
        replies = [await client.reply() for _ in range(3)]
        assert [reply.code for reply in replies] == [530, 503, 503]
        await client.close()
        # 3. A password over plain text, a wrong password, another user's identity, a cancelled login.
        client = await session()
        await client.ehlo()
        assert (await client.auth_plain("scanner", "right")).code == 538
        assert (await client.command("MAIL FROM:<alice@example.com>")).code == 530
        await client.close()
        client = await session(tls=True)
        await client.ehlo()
        assert (await client.auth_plain("scanner", "wrong")).code == 535
        someone_else = b64(b"scanner\0nobody\0right")
        assert (await client.command(f"AUTH PLAIN {someone_else}")).code == 535
        assert (await client.command("AUTH LOGIN")).code == 334
        assert (await client.command("*")).code == 501
        assert (await client.command("MAIL FROM:<alice@example.com>")).code == 530
        assert (await client.command("RSET")).code == 250
        assert (await client.command("MAIL FROM:<>")).code == 530
        assert (await client.command("MAIL FROM:<postmaster@fax.local>")).code == 530
        assert (await client.command(f"RCPT TO:<{US_LANDLINE}>")).code == 503
        await client.close()
        # 4. STARTTLS does not count as a login.
        client = await session()
        await client.ehlo()
        await client.starttls(certificates.client_context())
        await client.ehlo()
        assert (await client.command("MAIL FROM:<alice@example.com>")).code == 530
        await client.close()
        # 5. Commands aiosmtpd does not have, and source routes.
        client = await session()
        await client.ehlo()
        assert (await client.command("BDAT 10 LAST")).code >= 500
        assert (await client.command("MAIL FROM:<@relay.test:alice@example.com>")).code in (501, 530, 553)
        assert (await client.command("VRFY scanner")).code in (252, 502)
        await client.close()
        assert await jobs(daemon) == 0
    assert not (tmp_path / "data" / "outbox").exists() or list((tmp_path / "data" / "outbox").iterdir()) == []


@pytest.mark.parametrize(
    ("sender", "code"),
    [
        ("scanner@example.com", 250),
        ("SCANNER@Example.COM", 250),
        ("anyone@branch.example.org", 250),
        ("other@example.com", 550),
        ("scanner@example.com.evil.test", 550),
        ("anyone@sub.branch.example.org", 550),
        ("", 550),
    ],
)
async def test_allowed_senders_are_checked_at_mail(
    tmp_path: Path, relay: CaptureRelay, sender: str, code: int
) -> None:
    settings = policy_settings(
        tmp_path, relay, allowed_senders=["scanner@example.com", "*@branch.example.org"]
    )
    async with running(settings) as daemon:
        transaction = await deliver(daemon.smtp_port, fax(), sender=sender, recipients=[US_LANDLINE])
        assert transaction.mail.code == code, transaction.mail
        if code == 550:
            assert transaction.mail.text.startswith("5.7.1 Sender <")
            assert "is not allowed to send faxes" in transaction.mail.text
            assert await jobs(daemon) == 0
        else:
            assert transaction.accepted, transaction.final


async def test_authenticated_users_can_be_held_to_their_own_address(
    tmp_path: Path, relay: CaptureRelay
) -> None:
    certificates = Certificates.create(tmp_path)
    users = {"alice@example.com": hash_password("a-pw", n=MIN_N), "scanner": hash_password("s-pw", n=MIN_N)}
    settings = policy_settings(
        tmp_path / "data",
        relay,
        trusted_networks=["127.0.0.0/8"],
        allowed_senders=["*@example.com"],
        auth={"users": users, "own_addresses_only": True},
        smtp={"tls_cert": certificates.cert, "tls_key": certificates.key, "tls_port": 0},
    )
    async with running(settings) as daemon:
        client = await RawSMTP.connect(daemon.tls_port or 0, tls=certificates.client_context())
        await client.ehlo()
        assert (await client.auth_plain("alice@example.com", "a-pw")).code == 235
        reply = await client.command("MAIL FROM:<bob@example.com>")
        assert (reply.code, reply.text) == (
            550,
            "5.7.1 Sender <bob@example.com> is not allowed: user alice@example.com may only send as "
            "<alice@example.com>",
        )
        assert (await client.command("MAIL FROM:<Alice@Example.com>")).code == 250
        assert (await client.command(f"RCPT TO:<{US_LANDLINE}>")).code == 250
        assert (await client.data(fax(sender="alice@example.com"))).code == 250
        await client.close()
        client = await RawSMTP.connect(daemon.tls_port or 0, tls=certificates.client_context())
        await client.ehlo()
        assert (await client.auth_plain("scanner", "s-pw")).code == 235
        reply = await client.command("MAIL FROM:<scanner@example.com>")
        assert reply.code == 550
        assert "user scanner has no address of its own" in reply.text
        await client.close()
        # The trusted network without a login is not bound by the rule; the sender list still applies.
        plain = await deliver(daemon.smtp_port, fax(), sender="bob@example.com", recipients=[US_LANDLINE])
        assert plain.accepted, plain.final
        outside = await deliver(daemon.smtp_port, fax(), sender="bob@example.net", recipients=[US_LANDLINE])
        assert outside.mail.code == 550
        assert await jobs(daemon) == 2


@pytest.mark.parametrize(
    ("rules", "recipient", "named"),
    [
        ({}, GB_LANDLINE, "MAIL2FAX_ALLOWED_COUNTRIES"),
        ({}, US_PREMIUM, "premium-rate number (MAIL2FAX_BLOCKED_NUMBER_TYPES)"),
        ({"allowed_countries": ["US", "GB"]}, GB_PERSONAL, "personal number (MAIL2FAX_BLOCKED_NUMBER_TYPES)"),
        ({"denied_prefixes": ["+1201"]}, US_LANDLINE, "numbers starting +1201 are blocked"),
        ({"allowed_prefixes": ["+1800"]}, US_LANDLINE, "MAIL2FAX_ALLOWED_PREFIXES"),
    ],
)
async def test_number_rules_refuse_at_rcpt_naming_the_rule(
    tmp_path: Path, relay: CaptureRelay, rules: dict[str, list[str]], recipient: str, named: str
) -> None:
    async with running(policy_settings(tmp_path, relay, **rules)) as daemon:
        transaction = await deliver(daemon.smtp_port, fax(), recipients=[recipient])
        assert transaction.mail.code == 250
        [reply] = transaction.rcpts
        assert reply.code == 550
        assert reply.text.startswith("5.7.1 Faxes to +")
        assert named in reply.text
        assert transaction.data is None
        assert await jobs(daemon) == 0


async def test_a_refused_number_does_not_spoil_the_other_recipients(
    tmp_path: Path, relay: CaptureRelay
) -> None:
    async with running(policy_settings(tmp_path, relay, allowed_countries=["US", "GB"])) as daemon:
        transaction = await deliver(
            daemon.smtp_port, fax(), recipients=[US_PREMIUM, GB_LANDLINE, US_LANDLINE]
        )
        assert [reply.code for reply in transaction.rcpts] == [550, 250, 250]
        assert transaction.accepted, transaction.final
        assert daemon.store is not None
        [job] = await daemon.store.list_jobs()
        assert [recipient.number for recipient in job.recipients] == ["+442071838750", "+12015550123"]


async def test_malformed_rules_stop_the_daemon(tmp_path: Path, relay: CaptureRelay) -> None:
    for rules, message in [
        ({"allowed_countries": ["XX"]}, "MAIL2FAX_ALLOWED_COUNTRIES"),
        ({"blocked_number_types": ["CHEAP"]}, "MAIL2FAX_BLOCKED_NUMBER_TYPES"),
        ({"allowed_senders": ["not an address"]}, "MAIL2FAX_ALLOWED_SENDERS"),
    ]:
        with pytest.raises(ConfigError, match=message):
            async with running(policy_settings(tmp_path, relay, **rules)):
                pass
