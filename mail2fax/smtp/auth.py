"""SMTP AUTH for the listener: users, password checks, failed-login throttling, scanner quirks.

The listener's session class inherits :class:`AuthSMTP`, and each session is given the shared
:class:`Logins` of :func:`build_logins`. What it adds to aiosmtpd:

- AUTH PLAIN and LOGIN, with or without an initial response, the mechanism in any case, after
  EHLO or a plain HELO; LOGIN asks ``Username:`` and ``Password:`` as scanners expect.
- AUTH only on an encrypted connection (STARTTLS or the implicit-TLS listener), or in clear from
  a trusted network when ``MAIL2FAX_SMTP__ALLOW_PLAIN_AUTH_FROM_TRUSTED`` says so. Elsewhere AUTH is
  neither offered nor taken.
- scrypt checks in a worker thread, a few at a time; an unknown user costs as much as a wrong
  password. Failures are counted per client address, and past a few the reply is delayed,
  one attempt at a time per address.
- Passwords are never logged; a session keeps only the user name.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from typing import Any

from aiosmtpd.smtp import MISSING, SMTP, syntax

from mail2fax.settings import Settings
from mail2fax.smtp.passwords import PasswordHash, decoy_hash, load_users
from mail2fax.smtp.peers import AuthenticatedUser, TrustedNetworks, peer_address
from mail2fax.smtp.throttle import LoginThrottle, throttle_key

log = logging.getLogger("mail2fax.auth")

AUTH_OK = "235 2.7.0 Authentication successful"
AUTH_INVALID = "535 5.7.8 Authentication credentials invalid"
AUTH_NEEDS_TLS = "538 5.7.11 Encryption required for requested authentication mechanism"
CONCURRENT_CHECKS = 2  # scrypt checks at once: each takes tens of MiB and a CPU core for ~0.1 s


class Logins:
    """The SMTP AUTH users and the rules for taking their passwords; one instance per daemon."""

    def __init__(
        self,
        users: dict[str, PasswordHash],
        *,
        throttle: LoginThrottle,
        trusted: TrustedNetworks,
        plain_from_trusted: bool = False,
        concurrent_checks: int = CONCURRENT_CHECKS,
    ):
        self._users = users
        self._decoy = decoy_hash()
        self.throttle = throttle
        self.trusted = trusted
        self.plain_from_trusted = plain_from_trusted
        self._checks = asyncio.Semaphore(concurrent_checks)

    def replace_users(self, users: dict[str, PasswordHash]) -> None:
        """New users for the logins that start from now on (SIGHUP)."""
        self._users = users

    def allows_in_clear(self, peer: Any) -> bool:
        """Whether this client may log in without TLS: trusted, and the operator said so."""
        return self.plain_from_trusted and peer_address(peer) in self.trusted

    async def check(self, peer: Any, login: bytes, password: bytes) -> str | None:
        """The user name if the password is right; ``None`` (after any throttle delay) if not."""
        address = peer_address(peer)
        key = throttle_key(address)
        try:
            name: str | None = login.decode("utf-8")
        except UnicodeDecodeError:
            name = None
        stored = self._users.get(name) if name is not None else None
        async with self.throttle.turn(key):
            async with self._checks:
                matched = await asyncio.to_thread((stored or self._decoy).matches, password)
            shown = name[:64] if name is not None else "<not UTF-8>"
            if matched and stored is not None and name is not None:
                log.info("smtp auth ok", extra={"user": shown, "peer": address})
                return name
            delay = self.throttle.failed(key)
            log.warning(
                "smtp auth failed" if stored is not None else "smtp auth failed: no such user",
                extra={
                    "user": shown,
                    "peer": address,
                    "failures": self.throttle.failures(key),
                    "delay": round(delay, 1),
                },
            )
            if delay > 0:
                await asyncio.sleep(delay)
            return None


def _decode_response(text: str) -> bytes | None:
    """An initial response or challenge answer: base64, or ``=`` for empty (RFC 4954)."""
    if text == "=":
        return b""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


class AuthSMTP(SMTP):
    """aiosmtpd's SMTP session with mail2fax's AUTH. ``logins=None`` refuses every login."""

    # aiosmtpd asks "User Name\0" and "Password\0"; several scanners only understand these.
    AuthLoginUsernameChallenge = "Username:"
    AuthLoginPasswordChallenge = "Password:"

    def __init__(self, *args: Any, logins: Logins | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._logins = logins

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        first = self.transport is None
        super().connection_made(transport)
        if first and self.session is not None:
            if transport.get_extra_info("ssl_object") is not None:
                # The implicit-TLS listener: already encrypted, so no STARTTLS to offer or demand.
                self.session.ssl = {
                    name: transport.get_extra_info(name)
                    for name in ("sslcontext", "ssl_object", "peercert", "cipher", "compression")
                }
                self.tls_context = None
                self.require_starttls = False
            # aiosmtpd offers AUTH in EHLO before STARTTLS only when this is false.
            self._auth_require_tls = not self._may_authenticate()

    @property
    def encrypted(self) -> bool:
        return self.session is not None and self.session.ssl is not None

    def _may_authenticate(self) -> bool:
        if self.encrypted:
            return True
        return (
            self._logins is not None
            and self.session is not None
            and self._logins.allows_in_clear(self.session.peer)
        )

    @syntax("AUTH <mechanism> [initial-response]")
    async def smtp_AUTH(self, arg: str | None) -> None:
        if await self.check_helo_needed("EHLO"):
            return
        session, envelope = self.session, self.envelope
        assert session is not None
        assert envelope is not None
        # A plain HELO is accepted too: some scanners greet that way and then log in anyway.
        if session.authenticated:
            await self.push("503 5.5.1 Already authenticated")
            return
        if envelope.mail_from is not None:
            await self.push("503 5.5.1 AUTH is not allowed during a mail transaction")
            return
        if not self._may_authenticate():
            await self.push(AUTH_NEEDS_TLS)
            return
        words = (arg or "").split()
        if not words or len(words) > 2:
            await self.push("501 5.5.4 Syntax: AUTH <mechanism> [initial-response]")
            return
        mechanism = words[0].upper()
        initial = words[1] if len(words) == 2 else None
        if mechanism == "PLAIN":
            credentials = await self._read_plain(initial)
        elif mechanism == "LOGIN":
            credentials = await self._read_login(initial)
        else:
            await self.push("504 5.5.4 Unrecognized authentication type")
            return
        if credentials is None:
            return
        login, password = credentials
        user = await self._logins.check(session.peer, login, password) if self._logins else None
        del password, credentials
        if user is None:
            await self.push(AUTH_INVALID)
            return
        session.authenticated = True
        # aiosmtpd types auth_data as None; it holds whatever a mechanism chooses to keep.
        session.auth_data = AuthenticatedUser(user)  # type: ignore[assignment]
        await self.push(AUTH_OK)

    async def _answer(self, challenge: str) -> bytes | None:
        answer = await self.challenge_auth(challenge)
        return None if answer is MISSING else answer  # challenge_auth has replied 501 already

    async def _initial(self, text: str) -> bytes | None:
        decoded = _decode_response(text)
        if decoded is None:
            await self.push("501 5.5.2 Cannot decode base64")
        return decoded

    async def _read_plain(self, initial: str | None) -> tuple[bytes, bytes] | None:
        blob = await self._answer("") if initial is None else await self._initial(initial)
        if blob is None:
            return None
        parts = blob.split(b"\0")
        if len(parts) != 3:
            await self.push("501 5.5.2 Cannot split the PLAIN response")
            return None
        authorize_as, login, password = parts
        if authorize_as not in (b"", login):
            # Acting for another user is not supported; nothing was checked, so nothing is counted.
            await self.push(AUTH_INVALID)
            return None
        return login, password

    async def _read_login(self, initial: str | None) -> tuple[bytes, bytes] | None:
        if initial is None:
            login = await self._answer(self.AuthLoginUsernameChallenge)
        else:
            login = await self._initial(initial)
        if login is None:
            return None
        password = await self._answer(self.AuthLoginPasswordChallenge)
        if password is None:
            return None
        return login, password


def settings_users(settings: Settings) -> dict[str, PasswordHash]:
    """The SMTP AUTH users of the settings and of the users file, read now; a ``ConfigError`` if bad."""
    auth = settings.auth
    return load_users(
        {name: secret.get_secret_value() for name, secret in auth.users.items()}, auth.users_file
    )


def build_logins(settings: Settings) -> Logins:
    """The users and login rules of one intake process.

    Called once at start: it reads the users (a bad hash or users file stops the daemon with a
    ``ConfigError``). The warnings about weak settings come from ``mail2fax.preflight``.
    """
    smtp, auth = settings.smtp, settings.auth
    users = settings_users(settings)
    log.info(
        "smtp auth",
        extra={
            "users": len(users),
            "tls": "yes" if smtp.tls_cert is not None else "no",
            "trusted_networks": [str(network) for network in settings.trusted_networks],
        },
    )
    return Logins(
        users,
        throttle=LoginThrottle(free_failures=auth.failures_before_delay, max_delay=auth.max_delay),
        trusted=TrustedNetworks(settings.trusted_networks),
        plain_from_trusted=smtp.allow_plain_auth_from_trusted,
    )
