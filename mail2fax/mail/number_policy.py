"""Which fax numbers may be dialled. Pure: phonenumbers decides, nothing here does I/O.

Every rule only narrows; a number must pass all of them, checked in this order, and the refusal
(``550 5.7.1`` at RCPT) names the first rule it failed and the setting behind it:

1. ``MAIL2FAX_DENIED_PREFIXES``: a number starting with one of these is refused.
2. ``MAIL2FAX_ALLOWED_PREFIXES``: when set, a number must start with one of these.
3. ``MAIL2FAX_ALLOWED_COUNTRIES``: the number's country (by its own digits, so +1 numbers are
   told apart into US, CA, …); by default only ``MAIL2FAX_DEFAULT_REGION``.
4. ``MAIL2FAX_BLOCKED_NUMBER_TYPES``: premium-rate, shared-cost, personal numbers and UAN by default.

Prefixes are written with the country code, as ``+1900`` (``1900`` and ``001900`` mean the same).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import phonenumbers
from phonenumbers import PhoneNumberType

from mail2fax.errors import ConfigError, RecipientRefused
from mail2fax.settings import Settings

_TYPE_NAMES: dict[str, int] = {
    name: getattr(PhoneNumberType, name) for name in dir(PhoneNumberType) if name.isupper()
}
_TYPE_WORDS = {value: name.lower().replace("_", "-") for name, value in _TYPE_NAMES.items()}
_TYPE_WORDS.update(
    {
        PhoneNumberType.PREMIUM_RATE: "premium-rate",
        PhoneNumberType.SHARED_COST: "shared-cost",
        PhoneNumberType.PERSONAL_NUMBER: "personal",
        PhoneNumberType.UAN: "universal access (UAN)",
        PhoneNumberType.UNKNOWN: "unknown-type",
    }
)
_PREFIX = re.compile(r"\+?[0-9]{1,15}")


def normalise_prefix(text: str, *, setting: str) -> str:
    """``+1 (900)`` → ``+1900``; ``001900`` → ``+1900``. ``ConfigError`` for anything else."""
    compact = re.sub(r"[\s().-]", "", text)
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if not _PREFIX.fullmatch(compact) or compact in ("+", ""):
        raise ConfigError(f"{setting}: {text!r} is not a number prefix like +1900")
    return compact if compact.startswith("+") else "+" + compact


@dataclass(frozen=True, slots=True)
class NumberPolicy:
    countries: frozenset[str]
    blocked_types: frozenset[int]
    allowed_prefixes: tuple[str, ...] = ()
    denied_prefixes: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> NumberPolicy:
        """The policy the settings give: allowed countries, blocked number types, the prefix lists."""
        return cls.build(
            countries=settings.effective_allowed_countries,
            blocked_types=settings.blocked_number_types,
            allowed_prefixes=settings.allowed_prefixes,
            denied_prefixes=settings.denied_prefixes,
        )

    @classmethod
    def build(
        cls,
        *,
        countries: Iterable[str],
        blocked_types: Iterable[str],
        allowed_prefixes: Iterable[str] = (),
        denied_prefixes: Iterable[str] = (),
    ) -> NumberPolicy:
        """A policy from the settings' words; ``ConfigError`` names the setting of a bad entry."""
        regions = frozenset(country.strip().upper() for country in countries)
        unknown = sorted(region for region in regions if region not in phonenumbers.SUPPORTED_REGIONS)
        if unknown:
            raise ConfigError(
                f"MAIL2FAX_ALLOWED_COUNTRIES: {', '.join(unknown)} is not a country code (e.g. US, CA, GB)"
            )
        types: set[int] = set()
        for name in blocked_types:
            key = name.strip().upper().replace("-", "_")
            if key not in _TYPE_NAMES:
                choices = ", ".join(sorted(_TYPE_NAMES))
                raise ConfigError(f"MAIL2FAX_BLOCKED_NUMBER_TYPES: {name!r} is not one of {choices}")
            types.add(_TYPE_NAMES[key])
        return cls(
            countries=regions,
            blocked_types=frozenset(types),
            allowed_prefixes=tuple(
                normalise_prefix(p, setting="MAIL2FAX_ALLOWED_PREFIXES") for p in allowed_prefixes
            ),
            denied_prefixes=tuple(
                normalise_prefix(p, setting="MAIL2FAX_DENIED_PREFIXES") for p in denied_prefixes
            ),
        )

    def check(self, number: str) -> None:
        """Pass silently, or raise ``RecipientRefused`` naming the rule. ``number`` is E.164."""
        for prefix in self.denied_prefixes:
            if number.startswith(prefix):
                raise RecipientRefused(
                    f"Faxes to {number} are not allowed: numbers starting {prefix} are blocked "
                    "(MAIL2FAX_DENIED_PREFIXES)"
                )
        if self.allowed_prefixes and not number.startswith(self.allowed_prefixes):
            raise RecipientRefused(
                f"Faxes to {number} are not allowed: only numbers starting "
                f"{', '.join(self.allowed_prefixes)} may be faxed (MAIL2FAX_ALLOWED_PREFIXES)"
            )
        try:
            parsed = phonenumbers.parse(number, None)
        except phonenumbers.NumberParseException:
            raise RecipientRefused(f"Faxes to {number} are not allowed: not a number in E.164 form") from None
        region = phonenumbers.region_code_for_number(parsed)
        if region not in self.countries:
            where = f"in {region}" if region and region != "001" else "not in any country"
            allowed = ", ".join(sorted(self.countries)) or "none"
            raise RecipientRefused(
                f"Faxes to {number} are not allowed: the number is {where}, and only {allowed} may be "
                "faxed (MAIL2FAX_ALLOWED_COUNTRIES)"
            )
        kind = phonenumbers.number_type(parsed)
        if kind in self.blocked_types:
            raise RecipientRefused(
                f"Faxes to {number} are not allowed: it is a {_TYPE_WORDS.get(kind, 'blocked')} number "
                "(MAIL2FAX_BLOCKED_NUMBER_TYPES)"
            )
