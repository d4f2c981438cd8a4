"""Peer addresses, trusted networks and the failed-login throttle, without a network."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest
from aiosmtpd.smtp import Session

from mail2fax.smtp.peers import AuthenticatedUser, TrustedNetworks, authenticated_user, peer_address
from mail2fax.smtp.throttle import LoginThrottle, throttle_key

LOOPBACK_ONLY = TrustedNetworks([ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")])


@pytest.mark.parametrize(
    ("peer", "address"),
    [
        (("127.0.0.1", 50000), "127.0.0.1"),
        (("::ffff:10.9.1.2", 50000, 0, 0), "10.9.1.2"),
        (("::1", 50000, 0, 0), "::1"),
        (("fe80::1%eth0", 50000, 0, 2), "fe80::1"),
        ("192.0.2.7", "192.0.2.7"),
    ],
)
def test_peer_addresses_are_normalised(peer: object, address: str) -> None:
    assert peer_address(peer) == ipaddress.ip_address(address)


@pytest.mark.parametrize("peer", [None, (), "/run/mail2fax.sock", ("not-an-ip", 25), (b"127.0.0.1", 25)])
def test_anything_but_an_ip_peer_has_no_address(peer: object) -> None:
    assert peer_address(peer) is None
    assert peer_address(peer) not in LOOPBACK_ONLY


def test_ipv4_mapped_loopback_is_trusted_like_loopback() -> None:
    assert peer_address(("::ffff:127.0.0.1", 1, 0, 0)) in LOOPBACK_ONLY
    assert peer_address(("::ffff:192.0.2.1", 1, 0, 0)) not in LOOPBACK_ONLY
    assert peer_address(("::2", 1, 0, 0)) not in LOOPBACK_ONLY


def test_trusted_networks_may_be_written_in_ipv4_mapped_form() -> None:
    mapped = TrustedNetworks([ipaddress.ip_network("::ffff:10.0.0.0/104")])
    assert peer_address(("10.1.2.3", 1)) in mapped
    assert peer_address(("::ffff:10.1.2.3", 1, 0, 0)) in mapped
    assert peer_address(("11.1.2.3", 1)) not in mapped


def session(authenticated: bool | None, auth_data: object) -> Session:
    made = Session(asyncio.get_running_loop())
    made.authenticated = authenticated
    made.auth_data = auth_data  # type: ignore[assignment]
    return made


async def test_only_a_completed_login_names_a_user() -> None:
    assert authenticated_user(session(True, AuthenticatedUser("scanner"))) == "scanner"
    assert authenticated_user(session(None, AuthenticatedUser("scanner"))) is None
    assert authenticated_user(session(False, AuthenticatedUser("scanner"))) is None
    assert authenticated_user(session(True, "scanner")) is None
    assert authenticated_user(object()) is None


def test_ipv6_clients_are_counted_per_64() -> None:
    one = throttle_key(ipaddress.ip_address("2001:db8:1:2::10"))
    other = throttle_key(ipaddress.ip_address("2001:db8:1:2:ffff::1"))
    assert one == other == "2001:db8:1:2::/64"
    assert throttle_key(ipaddress.ip_address("2001:db8:1:3::10")) != one
    assert throttle_key(ipaddress.ip_address("192.0.2.1")) == "192.0.2.1"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_failures_past_the_free_ones_are_delayed_doubling_up_to_the_maximum() -> None:
    clock = Clock()
    throttle = LoginThrottle(free_failures=2, max_delay=5.0, clock=clock)
    delays = [throttle.failed("192.0.2.1") for _ in range(7)]
    assert delays == [0.0, 0.0, 1.0, 2.0, 4.0, 5.0, 5.0]
    assert throttle.failures("192.0.2.1") == 7
    assert throttle.failed("192.0.2.2") == 0.0


def test_an_address_is_forgotten_an_hour_after_its_last_failure() -> None:
    clock = Clock()
    throttle = LoginThrottle(free_failures=0, max_delay=30.0, clock=clock)
    assert throttle.failed("192.0.2.1") == 1.0
    clock.now += 3000
    assert throttle.failed("192.0.2.1") == 2.0
    clock.now += 3601
    assert throttle.failures("192.0.2.1") == 0
    assert throttle.failed("192.0.2.1") == 1.0


async def test_memory_is_bounded_by_forgetting_the_oldest_addresses() -> None:
    clock = Clock()
    throttle = LoginThrottle(free_failures=0, max_delay=1.0, clock=clock, max_tracked=3)
    for host in range(1, 6):
        async with throttle.turn(f"192.0.2.{host}"):
            throttle.failed(f"192.0.2.{host}")
    assert [throttle.failures(f"192.0.2.{host}") for host in range(1, 6)] == [0, 0, 1, 1, 1]


async def test_attempts_from_one_address_take_turns() -> None:
    throttle = LoginThrottle(free_failures=0, max_delay=1.0)
    order: list[str] = []
    first_inside = asyncio.Event()
    release = asyncio.Event()

    async def attempt(name: str, key: str) -> None:
        async with throttle.turn(key):
            order.append(f"{name} in")
            if name == "first":
                first_inside.set()
                await release.wait()
            order.append(f"{name} out")

    first = asyncio.create_task(attempt("first", "192.0.2.1"))
    await first_inside.wait()
    same = asyncio.create_task(attempt("same", "192.0.2.1"))
    other = asyncio.create_task(attempt("other", "192.0.2.9"))
    await other
    assert order == ["first in", "other in", "other out"]
    release.set()
    await asyncio.gather(first, same)
    assert order[3:] == ["first out", "same in", "same out"]
