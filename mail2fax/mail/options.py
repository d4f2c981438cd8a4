"""Fax options chosen in a mail: resolution, cover page and a later send time.

Each option comes from an ``X-Fax-*`` header, else from a tag at the start of the subject,
else from the settings:

    X-Fax-Resolution: high | low             [high] [low]
    X-Fax-Cover: none | default | 0-28 | name  [nocover]
    X-Fax-Send-At: RFC 5322 or ISO 8601 date  [at 2026-12-01 09:00 Europe/Berlin]
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mail2fax.errors import ConfigError, InvalidOption
from mail2fax.mail.safe_text import for_reply
from mail2fax.models import Cover, FaxOptions, Resolution

SEND_NOW_WINDOW = timedelta(seconds=60)
# RingCentral's cover pages: 0 (none), 1-13 (en-US) and 15-28 (other languages).
VALID_COVER_INDEXES = frozenset(range(29)) - {14}

_TAG = re.compile(r"\s*\[([^\[\]]*)\]")
_AT_TAG = re.compile(r"(?i)at\s+([0-9].*)")
_COVER_NAME = re.compile(r"[A-Za-z0-9 _.-]{1,64}")
_NUMBER = re.compile(r"[+-]?[0-9]+")
_LOCAL = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})[T ]+([0-9]{1,2}:[0-9]{2}(?::[0-9]{2})?)\s*(.*)")
_OFFSET = re.compile(r"([+-])([0-9]{2}):?([0-9]{2})")
_ZONE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_+-]*(?:/[A-Za-z0-9_+-]+)*")


def parse_options(
    fax_headers: Mapping[str, str],
    subject: str,
    *,
    default_resolution: Resolution,
    default_cover: str | None,
    now: datetime,
) -> tuple[FaxOptions, str]:
    """The options for this mail and its subject without the leading option tags."""
    headers = {name.strip().lower(): value.strip() for name, value in fax_headers.items()}
    tags, rest = _leading_tags(subject)
    now = now if now.tzinfo else now.replace(tzinfo=UTC)

    resolution = default_resolution
    cover = _default_cover(default_cover)
    when: tuple[str, str] | None = None  # the text and where it came from
    for tag in tags:
        if tag in ("high", "low"):
            resolution = Resolution(tag.capitalize())
        elif tag == "nocover":
            cover = Cover(kind="none")
        else:
            when = (tag, f"the subject tag [at {for_reply(tag)}]")

    value = headers.get("x-fax-resolution", "").lower()
    if value:
        if value not in ("high", "low"):
            raise InvalidOption(f'X-Fax-Resolution: "{for_reply(value)}" is neither high nor low')
        resolution = Resolution(value.capitalize())
    if value := headers.get("x-fax-cover", ""):
        cover = _cover_or_refuse(value, "X-Fax-Cover")
    if value := headers.get("x-fax-send-at", ""):
        when = (value, "X-Fax-Send-At")

    send_at = _send_at(*when, now) if when else None
    return FaxOptions(resolution=resolution, cover=cover, send_at=send_at), rest


def parse_cover(value: str) -> Cover:
    """A cover-page choice: none, default, an index 0-28 (0 = none, not 14) or a plain name.

    Raises ValueError saying what is wrong; use it to check the MAIL2FAX_COVER setting.
    """
    text = value.strip()
    if text.lower() == "none":
        return Cover(kind="none")
    if text.lower() == "default":
        return Cover(kind="default")
    if _NUMBER.fullmatch(text):
        index = int(text) if len(text) <= 6 else -1
        if index not in VALID_COVER_INDEXES:
            raise ValueError(f'"{for_reply(text)}" is not a cover page index (0-13 or 15-28)')
        return Cover(kind="none") if index == 0 else Cover(kind="index", index=index)
    if _COVER_NAME.fullmatch(text) and text.strip(" ._-"):
        return Cover(kind="name", name=text)
    raise ValueError(
        f'"{for_reply(text)}" is not a cover page: use none, default, an index or a plain ASCII name'
    )


def _default_cover(setting: str | None) -> Cover:
    if setting is None or not setting.strip():
        return Cover(kind="account")
    try:
        return parse_cover(setting)
    except ValueError as exc:
        raise ConfigError(f"MAIL2FAX_COVER: {exc}") from None


def _cover_or_refuse(value: str, source: str) -> Cover:
    try:
        return parse_cover(value)
    except ValueError as exc:
        raise InvalidOption(f"{source}: {exc}") from None


def _leading_tags(subject: str) -> tuple[list[str], str]:
    """The option tags at the start of ``subject`` and what follows them.

    A tag is "high", "low", "nocover" (lower-cased) or, for [at ...], the time it names.
    """
    tags: list[str] = []
    position = 0
    while match := _TAG.match(subject, position):
        tag = " ".join(match[1].split())
        if tag.lower() in ("high", "low", "nocover"):
            tags.append(tag.lower())
        elif at := _AT_TAG.fullmatch(tag):
            tags.append(at[1])
        else:
            break  # [PATCH], [EXT] and the like belong to the subject
        position = match.end()
    return tags, subject[position:].strip()


def _send_at(text: str, source: str, now: datetime) -> datetime | None:
    """``text`` as an aware UTC time; None when it is due within a minute (send now)."""
    when = _parse_when(text)
    if when is None:
        raise InvalidOption(f'{source}: "{for_reply(text)}" is not a date and time with a zone')
    try:
        when = when.astimezone(UTC)
    except (OverflowError, ValueError):
        raise InvalidOption(f'{source}: "{for_reply(text)}" is out of range') from None
    if when > _one_year(now):
        raise InvalidOption(f'{source}: "{for_reply(text)}" is more than a year ahead')
    if when <= now + SEND_NOW_WINDOW:
        return None
    return when


def _parse_when(text: str) -> datetime | None:
    """An aware datetime from ISO 8601, "date time zone" or RFC 5322; None if it has no zone."""
    text = " ".join(text.split())
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        parsed = None
    if parsed is None and (local := _LOCAL.fullmatch(text)):
        parsed = _with_zone(local[1], local[2], local[3])
    if parsed is None:
        try:
            parsed = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            parsed = None
    if parsed is None or parsed.tzinfo is None or parsed.utcoffset() is None:
        return None
    return parsed


def _with_zone(date: str, time: str, zone: str) -> datetime | None:
    try:
        naive = datetime.fromisoformat(f"{date}T{time.zfill(5) if len(time) == 4 else time}")
    except ValueError:
        return None
    tz = _zone(zone)
    return naive.replace(tzinfo=tz) if tz is not None else None


def _zone(name: str) -> timezone | ZoneInfo | None:
    if name.upper() in ("UTC", "Z", "GMT"):
        return UTC
    offset = _OFFSET.fullmatch(name)
    if offset:
        minutes = int(offset[2]) * 60 + int(offset[3])
        if minutes >= 24 * 60:
            return None
        return timezone(timedelta(minutes=-minutes if offset[1] == "-" else minutes))
    if not _ZONE_NAME.fullmatch(name) or ".." in name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def _one_year(now: datetime) -> datetime:
    try:
        return now.replace(year=now.year + 1)
    except ValueError:  # 29 February, or the end of the calendar
        return now + timedelta(days=365) if now.year < 9999 else now


def check_cover_for_backend(cover: Cover, backend: str, *, source: str = "X-Fax-Cover") -> None:
    """RingCentral's REST API chooses cover pages by number, FaxOut by name: refuse the other kind."""
    if cover.kind == "name" and backend != "faxout":
        raise InvalidOption(
            f"{source}: {cover.name!r} is a cover page name; the RingCentral REST API takes "
            "a cover page number (1-13, 15-28), none or default"
        )
    if cover.kind == "index" and backend == "faxout":
        raise InvalidOption(
            f"{source}: {cover.index} is a cover page number; FaxOut takes a cover page name, none or default"
        )
