"""What SIGHUP reads again without a restart: the TLS certificate and key, and the SMTP AUTH users file.

Each part is read whole before it replaces the current one; a part that fails to load (a missing
file, a key that does not match its certificate, a malformed hash) is logged as an error and the
current one stays, so a mistake made while rotating a certificate never stops the listener.
Sessions already open keep what they started with; new connections get the new certificate and
the new users.
"""

from __future__ import annotations

import logging
import os
import ssl

from mail2fax.errors import ConfigError
from mail2fax.settings import Settings
from mail2fax.smtp.auth import Logins, settings_users
from mail2fax.smtp.tls import ServerTls, handshake_problem

log = logging.getLogger("mail2fax.reload")


def _problem(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError):
        reason, words = handshake_problem(exc)
        return f"{reason}: {words}"
    if isinstance(exc, OSError):
        where = f" {exc.filename}" if exc.filename else ""
        return f"{exc.strerror or exc}{where}"
    return str(exc)


class Reloadable:
    """The parts of one intake process that SIGHUP reads again."""

    def __init__(self, settings: Settings, tls: ServerTls | None, logins: Logins | None):
        self._settings = settings
        self._tls = tls
        self._logins = logins

    def reload(self) -> bool:
        """Read the certificate, key and users file again; True when every part loaded."""
        loaded = True
        users_file = self._settings.auth.users_file
        facts = {"pid": os.getpid()}
        if self._tls is not None:
            cert = str(self._settings.smtp.tls_cert)
            try:
                fingerprint = self._tls.reload()
            except (OSError, ssl.SSLError, ValueError) as exc:
                loaded = False
                log.error(
                    "tls certificate not reloaded: the current one stays",
                    extra={"cert": cert, "error": _problem(exc), **facts},
                )
            else:
                log.info(
                    "tls certificate reloaded", extra={"cert": cert, "fingerprint": fingerprint, **facts}
                )
        if self._logins is not None and users_file is not None:
            try:
                users = settings_users(self._settings)
            except ConfigError as exc:
                loaded = False
                log.error(
                    "smtp auth users not reloaded: the current ones stay", extra={"error": str(exc), **facts}
                )
            else:
                self._logins.replace_users(users)
                log.info(
                    "smtp auth users reloaded", extra={"file": str(users_file), "users": len(users), **facts}
                )
        if self._tls is None and users_file is None:
            log.info("nothing to reload: no TLS certificate and no users file are configured", extra=facts)
        return loaded
