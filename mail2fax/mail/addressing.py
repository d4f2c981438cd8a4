"""Recipient addresses to fax numbers: ``14155551212@fax.local`` becomes ``+14155551212``.

The local part is the number, written however people write numbers (``+1 415 555 1212``,
``(415)555-1212``, ``415.555.1212``); numbers without a country code are read in the
configured default region. An address outside the fax domains is refused as relaying.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, ValidationResult

from mail2fax.errors import RecipientRefused
from mail2fax.mail.safe_text import for_reply
from mail2fax.models import Recipient

_NUMBER_CHARS = frozenset("0123456789+-.() /")
_MAX_LOCAL = 64

_REASONS = {
    ValidationResult.TOO_SHORT: "too short",
    ValidationResult.TOO_LONG: "too long",
    ValidationResult.INVALID_LENGTH: "wrong number of digits",
    ValidationResult.INVALID_COUNTRY_CODE: "unknown country code",
    ValidationResult.IS_POSSIBLE_LOCAL_ONLY: "a local number without area code",
}


def parse_recipient(address: str, *, fax_domains: Sequence[str], default_region: str) -> Recipient:
    """The fax number an RCPT address stands for, or RecipientRefused saying why not."""
    text = " ".join(address.split())
    if text.startswith("<") and text.endswith(">"):
        text = text[1:-1].strip()
    if not text:
        raise _bad_address("the recipient address is empty")
    local, at, domain = text.rpartition("@")
    if not at or not local:
        raise _bad_address(f"<{for_reply(text)}> is not a fax address; write the number before the @")
    domain = domain.strip().rstrip(".").lower()
    allowed = [d.strip().rstrip(".").lower() for d in fax_domains]
    if domain not in allowed:
        example = allowed[0] if allowed else "the fax domain"
        raise RecipientRefused(
            f"relaying to {for_reply(domain) or 'that domain'} is denied: only NUMBER@{example} is faxed",
            code=550,
            enhanced="5.7.1",
        )
    number = _unquote(local.strip())
    region = default_region.strip().upper()
    return Recipient(number=_to_e164(number, region))


def format_number(e164: str) -> str:
    """A number in international format for people (``+1 415-555-1212``); as given if unreadable."""
    try:
        parsed = phonenumbers.parse(e164, None)
    except NumberParseException:
        return e164
    return str(phonenumbers.format_number(parsed, PhoneNumberFormat.INTERNATIONAL))


def _to_e164(local: str, region: str) -> str:
    shown = for_reply(local)
    number = unicodedata.normalize("NFKC", local).strip()
    if not number:
        raise _bad_address("the fax number is empty")
    if len(number) > _MAX_LOCAL:
        raise _bad_address(f"{shown} is too long to be a fax number")
    if not set(number) <= _NUMBER_CHARS or "+" in number[1:]:
        raise _bad_address(f"{shown} is not a fax number: use only digits, an optional leading + and - . ( )")
    if not any(c.isdigit() for c in number):
        raise _bad_address(f"{shown} is not a fax number: it has no digits")
    attempts = [(number, region)]
    if not number.startswith("+"):
        digits = number.lstrip("-.() /")
        attempts.append(("+" + digits, region))
        if digits.startswith("00"):
            attempts.append(("+" + digits[2:], region))  # 00 is the international prefix in most places
    first_reason = ""
    for candidate, hint in attempts:
        reason = _problem(candidate, hint)
        if reason is None:
            parsed = phonenumbers.parse(candidate, hint)
            return str(phonenumbers.format_number(parsed, PhoneNumberFormat.E164))
        first_reason = first_reason or reason
    where = "" if number.startswith("+") else f" for region {for_reply(region)}"
    raise _bad_address(f"{shown} is not a valid fax number{where}: {first_reason}")


def _problem(candidate: str, region: str) -> str | None:
    """Why ``candidate`` is no dialable number, or None if it is one."""
    try:
        parsed = phonenumbers.parse(candidate, region or None)
    except NumberParseException as exc:
        return {
            NumberParseException.INVALID_COUNTRY_CODE: "unknown country code",
            NumberParseException.TOO_SHORT_NSN: "too short",
            NumberParseException.TOO_SHORT_AFTER_IDD: "too short",
            NumberParseException.TOO_LONG: "too long",
        }.get(exc.error_type, "not a number")
    if parsed.extension:
        return "a fax cannot dial an extension"
    possible = phonenumbers.is_possible_number_with_reason(parsed)
    if possible != ValidationResult.IS_POSSIBLE:
        return _REASONS.get(possible, "not a possible number")
    if not phonenumbers.is_valid_number(parsed):
        return "no such number in that country's numbering plan"
    return None


def _unquote(local: str) -> str:
    """The local part without RFC 5321 quoting: ``"+1 415 555 1212"`` or ``"1\\-415"``."""
    if len(local) >= 2 and local.startswith('"') and local.endswith('"'):
        inner = local[1:-1]
        out, escaped = [], False
        for char in inner:
            if escaped or char != "\\":
                out.append(char)
                escaped = False
            else:
                escaped = True
        return "".join(out)
    return local


def _bad_address(reason: str) -> RecipientRefused:
    return RecipientRefused(reason, code=553, enhanced="5.1.3")
