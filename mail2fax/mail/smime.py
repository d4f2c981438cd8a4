"""Signed and encrypted mail: the readable mail inside an opaque S/MIME signature, or a refusal.

An opaque-signed mail (``application/pkcs7-mime; smime-type=signed-data``, usually a part named
``smime.p7m``) carries the whole signed mail inside a PKCS#7 SignedData structure. It is read
with asn1crypto and faxed like a clear-signed mail; the signature is not verified (a fax
cannot carry it). Encrypted mail cannot be read here and is refused in words a sender knows.
"""

from __future__ import annotations

from email.message import Message

from asn1crypto import cms

from mail2fax.errors import UnfaxableDocument
from mail2fax.mail.payload import safe_read

ENCRYPTED = "encrypted mail cannot be faxed; send it unencrypted"
_PKCS7_TYPES = frozenset(("application/pkcs7-mime", "application/x-pkcs7-mime"))
_ENCRYPTED_CONTENT = frozenset(("enveloped_data", "authenticated_enveloped_data", "encrypted_data"))


def is_pkcs7_mime(part: Message, filename: str | None) -> bool:
    """Whether ``part`` is an S/MIME object (signed or encrypted), by type or by its usual name."""
    if part.get_content_type() in _PKCS7_TYPES:
        return True
    return bool(filename) and str(filename).strip().lower().endswith(".p7m")


def signed_content(data: bytes) -> bytes:
    """The MIME entity inside an opaque-signed S/MIME object; UnfaxableDocument otherwise."""
    try:
        info = cms.ContentInfo.load(data)
        kind = info["content_type"].native
        content = info["content"]["encap_content_info"]["content"].native if kind == "signed_data" else None
    except Exception as exc:  # asn1crypto reports broken DER in assorted ways
        raise UnfaxableDocument("the S/MIME signed part of the mail cannot be read") from exc
    if kind in _ENCRYPTED_CONTENT:
        raise UnfaxableDocument(ENCRYPTED)
    if not isinstance(content, bytes) or not content.strip():
        raise UnfaxableDocument("the S/MIME signed part of the mail carries no content")
    return content


def declared_encrypted(part: Message) -> bool:
    """An S/MIME part that says it is encrypted (``smime-type=enveloped-data``)."""
    smime_type = safe_read(lambda: part.get_param("smime-type"))
    return isinstance(smime_type, str) and smime_type.strip().lower() in (
        "enveloped-data",
        "authenveloped-data",
    )
