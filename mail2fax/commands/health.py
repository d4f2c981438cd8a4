"""``mail2fax health``: is the running daemon taking mail? For container health checks and monitors.

It knocks where clients knock: it connects to the SMTP listener, reads the ``220`` greeting and
says QUIT, and when ``MAIL2FAX_METRICS__PORT`` is set it asks ``/healthz`` too. With
``--external`` it knocks on SMTP at this host's own network address (the address its host name
resolves to, in a container the container's address) instead of the listen address, so that a
listener bound to loopback only, which no other host can reach, fails the check.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
import urllib.error
import urllib.request

from mail2fax.commands import CommandError, Report
from mail2fax.settings import Settings

GREETING_LIMIT = 1024


def _is_wildcard(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return host == ""


def _own_address() -> str:
    name = socket.gethostname()
    try:
        return str(socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)[0][4][0])
    except OSError as exc:
        raise CommandError(f"unhealthy: this host's name {name!r} does not resolve: {exc}") from None


def knock_address(host: str, *, external: bool) -> str:
    """Where to knock for a listener on ``host``."""
    if external:
        return _own_address()
    if _is_wildcard(host):
        return "::1" if ":" in host else "127.0.0.1"
    return host


def _read_greeting(host: str, port: int, timeout: float) -> str:
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        with socket.create_connection((host, port), timeout=timeout) as connection:
            received = b""
            while b"\n" not in received and len(received) < GREETING_LIMIT:
                chunk = connection.recv(GREETING_LIMIT)
                if not chunk:
                    break
                received += chunk
            greeting = received.split(b"\n", 1)[0].decode("ascii", "replace").strip()
            if greeting.startswith("220"):
                connection.sendall(b"QUIT\r\n")
    except TimeoutError:
        raise CommandError(f"unhealthy: SMTP at {where} did not greet within {timeout:g} s") from None
    except OSError as exc:
        raise CommandError(f"unhealthy: nothing answers SMTP at {where}: {exc.strerror or exc}") from None
    if not greeting.startswith("220"):
        shown = "".join(c if c.isprintable() else "?" for c in greeting[:100]) or "nothing"
        raise CommandError(f"unhealthy: SMTP at {where} greeted with {shown!r} instead of 220")
    return where


def _ask_healthz(host: str, port: int, timeout: float) -> str:
    url = f"http://[{host}]:{port}/healthz" if ":" in host else f"http://{host}:{port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:  # noqa: S310 (http only, our own)
            answer.read(GREETING_LIMIT)
    except urllib.error.HTTPError as exc:
        try:
            reasons = json.loads(exc.read(65536)).get("reasons") or []
        except (ValueError, AttributeError):
            reasons = []
        said = "; ".join(str(reason) for reason in reasons) or f"HTTP {exc.code}"
        raise CommandError(f"unhealthy: {url} answered {exc.code}: {said}") from None
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise CommandError(f"unhealthy: {url} did not answer: {reason}") from None
    return url


def _check(settings: Settings, external: bool, timeout: float) -> Report:
    smtp = settings.smtp
    where = _read_greeting(knock_address(smtp.host, external=external), smtp.port, timeout)
    data = {"smtp": where, "healthz": None}
    text = f"healthy: SMTP at {where} greets with 220"
    metrics = settings.metrics
    if metrics.port is not None:
        # /healthz is asked where it listens: keeping it off the network is a fine choice.
        data["healthz"] = _ask_healthz(knock_address(metrics.host, external=False), metrics.port, timeout)
        text += f"; {data['healthz']} says ok"
    return Report(text, data)


async def health(settings: Settings, *, external: bool = False, wait: float = 5.0) -> Report:
    """Knock; ``wait`` is how long each knock may take."""
    return await asyncio.to_thread(_check, settings, external, wait)
