"""The systemd notify protocol (``sd_notify``), in the standard library only.

Under ``Type=notify`` systemd passes a datagram socket in ``$NOTIFY_SOCKET`` and waits for
``READY=1`` before it considers the service started. Outside systemd the variable is unset and
every call here is a cheap no-op that returns ``False``. Sending never raises: a lost status
message must not take the daemon down.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

logger = logging.getLogger(__name__)

__all__ = ["notify", "ready", "status", "stopping"]


def _address(raw: str) -> str | None:
    if raw.startswith("@"):
        # An abstract socket: Linux names it with a leading NUL byte instead of the '@'.
        return "\0" + raw[1:]
    if raw.startswith("/"):
        return raw
    return None


def notify(message: str, *, environ: Mapping[str, str] | None = None) -> bool:
    """Send ``message`` to ``$NOTIFY_SOCKET``; True if it was handed to the socket.

    ``environ`` defaults to ``os.environ``. An unset or unsupported address, or any socket
    error, gives False (the error is logged at debug level, never raised).
    """
    env = os.environ if environ is None else environ
    raw = env.get("NOTIFY_SOCKET", "")
    if not raw:
        return False
    address = _address(raw)
    if address is None:
        logger.debug("sd_notify: unsupported NOTIFY_SOCKET address %r", raw)
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto(message.encode("utf-8"), address)
    except OSError as exc:
        logger.debug("sd_notify: could not send to %r: %s", raw, exc)
        return False
    return True


def _one_line(text: str) -> str:
    # A newline would start another assignment inside the datagram.
    return " ".join(text.splitlines())


def ready(status: str = "", *, environ: Mapping[str, str] | None = None) -> bool:
    """Tell systemd that start-up is complete, optionally with a status line."""
    message = "READY=1"
    if status:
        message += f"\nSTATUS={_one_line(status)}"
    return notify(message, environ=environ)


def stopping(*, environ: Mapping[str, str] | None = None) -> bool:
    """Tell systemd that an orderly shutdown has begun."""
    return notify("STOPPING=1", environ=environ)


def status(text: str, *, environ: Mapping[str, str] | None = None) -> bool:
    """Set the free-form status line shown by ``systemctl status``."""
    return notify(f"STATUS={_one_line(text)}", environ=environ)
