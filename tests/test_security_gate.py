"""The gate on its own: aiosmtpd sessions as the listener makes them, and a real store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import Session

from mail2fax.errors import Deferral, Refusal
from mail2fax.models import FaxRequest, Recipient
from mail2fax.queue.base import Store
from mail2fax.queue.sqlite import SqliteStore
from mail2fax.smtp.gate import Gate, SenderList, build_gate
from mail2fax.smtp.peers import AuthenticatedUser
from tests.capture import CaptureRelay
from tests.conftest import settings_for

pytestmark = pytest.mark.timeout(10)

NOW = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
US = Recipient("+12015550123")
CA = Recipient("+16135550123")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await SqliteStore.open(tmp_path / "db.sqlite3", tmp_path / "spool")
    try:
        yield opened
    finally:
        await opened.close()


def session(peer: Any, user: str | None = None) -> Session:
    made = Session(asyncio.get_running_loop())
    made.peer = peer
    if user is not None:
        made.authenticated = True
        made.auth_data = AuthenticatedUser(user)  # type: ignore[assignment]
    return made


def gate(tmp_path: Path, relay: CaptureRelay, store: Store, **overrides: Any) -> Gate:
    return build_gate(settings_for(tmp_path, relay, **overrides), store, lambda: NOW)


async def refused(call: Any) -> Refusal | Deferral:
    with pytest.raises((Refusal, Deferral)) as caught:
        await call
    assert isinstance(caught.value, Refusal | Deferral)
    return caught.value


async def test_peers_are_judged_by_address_including_ipv4_mapped_ipv6(
    tmp_path: Path, relay: CaptureRelay, store: Store
) -> None:
    checks = gate(tmp_path, relay, store, trusted_networks=["192.0.2.0/24"])
    await checks.check_sender(session(("192.0.2.40", 1025)), "a@example.com")
    await checks.check_sender(session(("::ffff:192.0.2.40", 1025, 0, 0)), "a@example.com")
    for stranger in [("192.0.3.1", 1025), ("::ffff:127.0.0.1", 1025, 0, 0), ("127.0.0.1", 1), None, "x"]:
        error = await refused(checks.check_sender(session(stranger), "a@example.com"))
        assert error.reply == "530 5.7.0 Authentication required"


async def test_rcpt_checks_the_session_again_and_then_the_number(
    tmp_path: Path, relay: CaptureRelay, store: Store
) -> None:
    checks = gate(tmp_path, relay, store, trusted_networks=["10.0.0.0/8"])
    stranger = session(("192.0.2.1", 1025))
    error = await refused(checks.check_recipient(stranger, "a@example.com", US))
    assert error.reply.startswith("530 5.7.0")
    user = session(("192.0.2.1", 1025), user="scanner")
    await checks.check_recipient(user, "a@example.com", US)
    error = await refused(checks.check_recipient(user, "a@example.com", Recipient("+19002345678")))
    assert "premium-rate" in error.reply


async def test_a_session_that_failed_to_log_in_is_a_stranger(
    tmp_path: Path, relay: CaptureRelay, store: Store
) -> None:
    checks = gate(tmp_path, relay, store, trusted_networks=["10.0.0.0/8"])
    half = session(("192.0.2.1", 1025))
    half.auth_data = AuthenticatedUser("scanner")  # type: ignore[assignment]
    half.authenticated = False
    assert (await refused(checks.check_sender(half, "a@example.com"))).reply.startswith("530")


async def test_the_null_sender_passes_only_without_a_sender_list(
    tmp_path: Path, relay: CaptureRelay, store: Store
) -> None:
    local = session(("127.0.0.1", 1025))
    await gate(tmp_path, relay, store).check_sender(local, "<>")
    listed = gate(tmp_path, relay, store, allowed_senders=["*@example.com"])
    error = await refused(listed.check_sender(local, "<>"))
    assert error.reply == "550 5.7.1 Sender <> is not allowed to send faxes"


async def test_replies_never_echo_control_characters(
    tmp_path: Path, relay: CaptureRelay, store: Store
) -> None:
    listed = gate(tmp_path, relay, store, allowed_senders=["a@example.com"])
    error = await refused(listed.check_sender(session(("127.0.0.1", 1)), "x\r\n250 OK\x00é@evil.test"))
    assert error.reply.isascii()
    assert "\r" not in error.reply
    assert "\n" not in error.reply
    assert error.reply.startswith("550 5.7.1 Sender <x 250 OK?e@evil.test>")


def test_sender_list_entries() -> None:
    senders = SenderList(["Scanner@Example.com", "*@Branch.Example.org."])
    assert "scanner@example.com" in senders
    assert "SCANNER@EXAMPLE.COM" in senders
    assert "x@branch.example.org" in senders
    assert "x@branch.example.org." in senders
    assert "x@sub.branch.example.org" not in senders
    assert "scanner@example.com.evil" not in senders
    assert "" not in senders
    assert None not in senders


async def test_quotas_count_the_numbers_in_the_store(
    tmp_path: Path, relay: CaptureRelay, store: Store
) -> None:
    checks = gate(tmp_path, relay, store, quota={"sender_per_hour": 2, "global_per_hour": 3})
    two = FaxRequest(sender="a@example.com", recipients=(US, CA), cover_text="", documents=())
    await checks.check_quota("a@example.com", 2)
    await store.enqueue(two, backend="dry-run", lifetime=60, now=NOW)
    assert (await refused(checks.check_quota("a@example.com", 1))).reply.startswith("450 4.7.1")
    await checks.check_quota("b@example.com", 1)
    assert (await refused(checks.check_quota("b@example.com", 2))).reply.startswith("452 4.5.3")


async def test_a_mail_with_more_numbers_than_a_limit_is_refused_for_good(
    tmp_path: Path, relay: CaptureRelay, store: Store
) -> None:
    checks = gate(tmp_path, relay, store, quota={"sender_per_hour": 1})
    error = await refused(checks.check_quota("a@example.com", 5000))
    assert error.reply == (
        "552 5.5.3 This mail goes to 5000 fax numbers, more than <a@example.com>'s limit of "
        "1 fax number per hour: send it to fewer numbers at a time"
    )
