"""TLS for the SMTP listeners (STARTTLS and implicit TLS): the context, and failed handshakes told plainly."""

from __future__ import annotations

import hashlib
import logging
import re
import ssl
import warnings
from pathlib import Path
from typing import Any

from mail2fax.smtp.peers import peer_address

log = logging.getLogger("mail2fax.tls")

_OPENSSL_TEXT = re.compile(r"\[[^\]]*\]\s*(.*?)\s*\(_ssl\.c:\d+\)$")


def server_tls_context(cert: str, key: str, minimum: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    versions = {
        "1.0": ssl.TLSVersion.TLSv1,
        "1.1": ssl.TLSVersion.TLSv1_1,
        "1.2": ssl.TLSVersion.TLSv1_2,
        "1.3": ssl.TLSVersion.TLSv1_3,
    }
    if minimum in ("1.0", "1.1"):
        # Python deprecates these versions; the operator chose them for old scanners on purpose.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = versions[minimum]
        # OpenSSL's default security level refuses the SHA-1 signatures that TLS 1.0/1.1 need.
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    else:
        context.minimum_version = versions[minimum]
    return context


def fingerprint(cert: Path) -> str:
    """``sha256:…`` of the first certificate in a PEM file, as ``openssl x509 -fingerprint`` shows it."""
    text = cert.read_text(encoding="ascii", errors="replace")
    begin, end = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"
    start = text.find(begin)
    stop = text.find(end, start)
    if start < 0 or stop < 0:
        return "-"
    der = ssl.PEM_cert_to_DER_cert(text[start : stop + len(end)])
    return "sha256:" + hashlib.sha256(der).hexdigest()


class ServerTls:
    """The listeners' TLS context, replaced whole when the certificate files are read again."""

    def __init__(self, cert: Path, key: Path, minimum: str):
        self._cert = cert
        self._key = key
        self._minimum = minimum
        self._context = server_tls_context(str(cert), str(key), minimum)
        self.fingerprint = fingerprint(cert)

    def context(self) -> ssl.SSLContext:
        """The context for a handshake starting now."""
        return self._context

    def reload(self) -> str:
        """Read the certificate and key again; on any error the current ones stay. Returns the fingerprint."""
        context = server_tls_context(str(self._cert), str(self._key), self._minimum)
        self._context, self.fingerprint = context, fingerprint(self._cert)
        return self.fingerprint


def handshake_problem(error: BaseException | None) -> tuple[str, str]:
    """Why a handshake failed: OpenSSL's reason code (``UNSUPPORTED_PROTOCOL``) and its words."""
    if isinstance(error, ssl.SSLError):
        text = str(error.strerror or error)
        words = _OPENSSL_TEXT.search(text)
        return error.reason or type(error).__name__, words[1] if words else text
    if isinstance(error, TimeoutError):
        return "TIMEOUT", "the client did not finish the handshake in time"
    if isinstance(error, ConnectionError | EOFError) or error is None:
        return "CONNECTION_CLOSED", "the client closed the connection during the handshake"
    return type(error).__name__, str(error)


def log_failed_handshake(peer: Any, error: BaseException | None, *, listener: str) -> None:
    """One WARNING line: a scanner with old TLS, or a port probe, is not an error of the daemon."""
    reason, words = handshake_problem(error)
    log.warning(
        "tls handshake failed",
        extra={"peer": peer_address(peer), "listener": listener, "reason": reason, "error": words},
    )
