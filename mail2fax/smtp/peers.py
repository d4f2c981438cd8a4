"""Who is on the other end of an SMTP session: its address, whether it is trusted, who it logged in as.

Pure code shared by the AUTH dialogue and the gate. An aiosmtpd session gives the peer as the
socket's address tuple; an IPv4 client on a dual-stack socket appears as ``::ffff:a.b.c.d`` and
is judged by its IPv4 address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from mail2fax.models import Origin

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_IPV4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")


@dataclass(frozen=True, slots=True)
class AuthenticatedUser:
    """What a successful SMTP AUTH leaves in ``session.auth_data``: the user name, never the password."""

    name: str


def peer_address(peer: Any) -> IPAddress | None:
    """The client's IP address from ``session.peer``, or ``None`` when it is not an IP socket."""
    host = peer[0] if isinstance(peer, tuple) and peer else peer
    if not isinstance(host, str):
        return None
    try:
        address = ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class TrustedNetworks:
    """The networks whose clients may send without SMTP AUTH (``MAIL2FAX_TRUSTED_NETWORKS``)."""

    def __init__(self, networks: Iterable[IPNetwork]):
        self.networks = tuple(networks)

    def __contains__(self, address: object) -> bool:
        if not isinstance(address, ipaddress.IPv4Address | ipaddress.IPv6Address):
            return False
        forms: list[IPAddress] = [address]
        if isinstance(address, ipaddress.IPv4Address):
            # A network written in its IPv4-mapped form (::ffff:10.0.0.0/104) matches too.
            forms.append(ipaddress.IPv6Address(f"::ffff:{address}"))
        return any(form in network for form in forms for network in self.networks)

    def trusts(self, session: Any) -> bool:
        return peer_address(getattr(session, "peer", None)) in self


def spans_the_internet(network: IPNetwork) -> bool:
    """Whether a network is wider than a /8 of IPv4 (or a /16 of IPv6): trusting it opens the relay."""
    if isinstance(network, ipaddress.IPv6Network) and network.subnet_of(_IPV4_MAPPED):
        return network.prefixlen < 96 + 8
    if network.is_private:  # 10.0.0.0/8, fd00::/8 and the like: wide, but not the internet
        return False
    return network.prefixlen < (8 if isinstance(network, ipaddress.IPv4Network) else 16)


def authenticated_user(session: Any) -> str | None:
    """The user name a session logged in with, or ``None`` if it has not authenticated."""
    if getattr(session, "authenticated", None) is not True:
        return None
    data = getattr(session, "auth_data", None)
    return data.name if isinstance(data, AuthenticatedUser) else None


def session_origin(session: Any) -> Origin:
    """Who is handing this mail over: client address, HELO name and AUTH user (the audit trail)."""
    address = peer_address(getattr(session, "peer", None))
    helo = getattr(session, "host_name", None)
    return Origin(
        client=str(address) if address is not None else None,
        helo=helo if isinstance(helo, str) and helo else None,
        user=authenticated_user(session),
    )


def describe(session: Any) -> str:
    """``peer=… user=…`` for log lines."""
    address = peer_address(getattr(session, "peer", None))
    return f"peer={address or '-'} user={authenticated_user(session) or '-'}"
