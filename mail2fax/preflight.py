"""The checks ``serve`` runs before it starts, which are also all that ``check-config`` runs.

One function for both, so a configuration that ``check-config`` passes is one ``serve`` takes.
It opens what the settings name: the TLS certificate and key are loaded as a pair, the AUTH
hashes and the users file are parsed, the number and sender rules are built. A problem is one
``ConfigError`` naming the variable; settings that work but weaken something are warnings.
"""

from __future__ import annotations

import ipaddress
import ssl

from mail2fax.errors import ConfigError, InvalidOption
from mail2fax.mail.number_policy import NumberPolicy
from mail2fax.mail.options import check_cover_for_backend, parse_cover
from mail2fax.settings import Settings
from mail2fax.smtp.gate import SenderList
from mail2fax.smtp.passwords import load_users
from mail2fax.smtp.peers import spans_the_internet
from mail2fax.smtp.tls import server_tls_context


def check(settings: Settings) -> list[str]:
    """Raise ConfigError for the first setting that stops the daemon; return the warnings."""
    _check_cover(settings)
    NumberPolicy.from_settings(settings)
    if settings.allowed_senders:
        SenderList(settings.allowed_senders)
    _check_ports(settings)
    tls = _check_tls(settings)
    auth = settings.auth
    inline = {name: secret.get_secret_value() for name, secret in auth.users.items()}
    users = load_users(inline, auth.users_file)
    return _warnings(settings, tls=tls, users=len(users))


def _check_cover(settings: Settings) -> None:
    if settings.cover is None or not settings.cover.strip():
        return
    try:
        cover = parse_cover(settings.cover)
    except ValueError as exc:
        raise ConfigError(f"MAIL2FAX_COVER: {exc}") from None
    try:
        check_cover_for_backend(cover, settings.backend, source="MAIL2FAX_COVER")
    except InvalidOption as exc:
        raise ConfigError(exc.reason) from None


def _same_address(first: str, second: str) -> bool:
    """Whether two listeners on these hosts would compete for one port."""
    if first == second:
        return True
    try:
        addresses = [ipaddress.ip_address(host) for host in (first, second)]
    except ValueError:
        return False
    return any(address.is_unspecified for address in addresses)


def _check_ports(settings: Settings) -> None:
    smtp, metrics = settings.smtp, settings.metrics
    listeners = [("MAIL2FAX_SMTP__PORT", smtp.host, smtp.port)]
    if smtp.tls_port is not None:
        listeners.append(("MAIL2FAX_SMTP__TLS_PORT", smtp.host, smtp.tls_port))
    if metrics.port is not None:
        listeners.append(("MAIL2FAX_METRICS__PORT", metrics.host, metrics.port))
    for index, (name, host, port) in enumerate(listeners):
        for other, other_host, other_port in listeners[:index]:
            if port != 0 and port == other_port and _same_address(host, other_host):
                raise ConfigError(f"{name}: port {port} is already {other}; give each listener its own port")


def _check_tls(settings: Settings) -> bool:
    smtp = settings.smtp
    if smtp.tls_cert is None or smtp.tls_key is None:
        return False
    try:
        server_tls_context(str(smtp.tls_cert), str(smtp.tls_key), smtp.tls_min_version)
    except ssl.SSLError as exc:
        reason = exc.reason or exc.strerror or str(exc)
        raise ConfigError(
            f"MAIL2FAX_SMTP__TLS_CERT and __TLS_KEY: {smtp.tls_cert} and {smtp.tls_key} are not a "
            f"matching PEM certificate and private key ({reason})"
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"MAIL2FAX_SMTP__TLS_CERT and __TLS_KEY: cannot read {smtp.tls_cert} or {smtp.tls_key}: "
            f"{exc.strerror or exc}"
        ) from None
    return True


def _warnings(settings: Settings, *, tls: bool, users: int) -> list[str]:
    smtp = settings.smtp
    warnings = []
    if tls and smtp.tls_min_version in ("1.0", "1.1"):
        warnings.append(
            f"MAIL2FAX_SMTP__TLS_MIN_VERSION={smtp.tls_min_version}: TLS {smtp.tls_min_version} is "
            "obsolete and weak; keep this listener on a local network and set 1.2 once the old "
            "devices are gone"
        )
    if users and not tls and not smtp.allow_plain_auth_from_trusted:
        warnings.append(
            "SMTP AUTH users are configured but MAIL2FAX_SMTP__TLS_CERT is not: passwords are only "
            "taken over TLS, so nobody can log in"
        )
    for network in settings.trusted_networks:
        if spans_the_internet(network):
            warnings.append(
                f"MAIL2FAX_TRUSTED_NETWORKS includes {network}, a good part of the internet: everyone "
                "there can send faxes without a password, at your cost. This is an OPEN FAX RELAY; trust "
                "single devices and let everyone else log in with SMTP AUTH"
            )
    if smtp.allow_plain_auth_from_trusted:
        networks = ", ".join(str(network) for network in settings.trusted_networks) or "no network"
        warnings.append(
            "MAIL2FAX_SMTP__ALLOW_PLAIN_AUTH_FROM_TRUSTED: passwords are accepted without TLS "
            f"from {networks}"
        )
    return warnings
