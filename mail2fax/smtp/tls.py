"""The TLS context of the SMTP listeners (STARTTLS and implicit TLS)."""

from __future__ import annotations

import ssl
import warnings


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
