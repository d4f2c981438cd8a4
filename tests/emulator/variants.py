"""The shapes RingCentral documents for one and the same answer, for the emulator to choose from.

RingCentral's API reference allows several shapes where the emulator used to give one: a
message-store record's ``to[].phoneNumber`` is "usually plain number like 18661234567. But
sometimes … formatted, for example (866)123-4567"; a record or a create answer may lack
``coverPageText`` (RingCentral's own SDK sample shows a create answer without it although the
request sent one); a new fax appears in listings after an undocumented delay; refresh tokens are
issued only when the app enables them; invalid credentials (``OAU-140``) are answered ``401`` in
the error table although the token endpoint declares ``400`` for its errors. A test picks one
shape for each with :meth:`Variants.random`, from a seed it logs, so a failure can be replayed.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from typing import Literal

import phonenumbers

NumberStyle = Literal["e164", "plain", "national", "mixed"]
NUMBER_STYLES: tuple[NumberStyle, ...] = ("e164", "plain", "national", "mixed")


@dataclass(slots=True)
class Variants:
    """Which documented shape the emulator uses where RingCentral allows several.

    ``number_style`` is how message-store records write recipients' numbers: ``e164`` as sent
    (``+14155551212``), ``plain`` (``14155551212``), ``national`` (``(415)555-1212``), or
    ``mixed`` (one of the three at random, per record). ``cover_text`` says whether records and
    create answers carry ``coverPageText``. ``listing_delay`` is how many seconds a new fax takes
    to appear in listings. ``refresh_tokens`` says whether logins return a refresh token, and
    ``access_ttl`` is the ``expires_in`` they return. ``bad_credentials_status`` is the status of
    an ``OAU-140`` answer.
    """

    number_style: NumberStyle = "e164"
    cover_text: bool = True
    listing_delay: float = 0.0
    refresh_tokens: bool = True
    access_ttl: float = 3600
    bad_credentials_status: int = 400

    @classmethod
    def random(cls, rng: random.Random, *, max_listing_delay: float = 0.0) -> Variants:
        return cls(
            number_style=rng.choice(NUMBER_STYLES),
            cover_text=rng.random() < 0.5,
            listing_delay=round(rng.uniform(0.0, max_listing_delay), 2),
            refresh_tokens=rng.random() < 0.5,
            access_ttl=rng.choice((3600, 7199)),
            bad_credentials_status=rng.choice((400, 401)),
        )

    def describe(self) -> str:
        return ", ".join(f"{key}={value}" for key, value in asdict(self).items())

    def record_number(self, number: str, rng: random.Random) -> str:
        """``number`` (E.164, as sent) the way a message-store record writes it."""
        style = rng.choice(NUMBER_STYLES[:3]) if self.number_style == "mixed" else self.number_style
        return written(number, style)


def written(number: str, style: NumberStyle) -> str:
    if style == "e164" or not number.startswith("+"):
        return number
    if style == "plain":
        return number[1:]
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return number
    national = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
    # The reference's example is "(866)123-4567": no space after the area code.
    return national.replace(") ", ")")
