"""options: resolution, cover page and send time from X-Fax-* headers and subject tags."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mail2fax.errors import ConfigError, InvalidOption
from mail2fax.mail.options import VALID_COVER_INDEXES, parse_cover, parse_options
from mail2fax.models import Cover, FaxOptions, Resolution

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def options(
    headers: Mapping[str, str] | None = None,
    subject: str = "Invoice",
    *,
    resolution: Resolution = Resolution.HIGH,
    cover: str | None = None,
    now: datetime = NOW,
) -> tuple[FaxOptions, str]:
    return parse_options(headers or {}, subject, default_resolution=resolution, default_cover=cover, now=now)


def test_defaults_come_from_the_settings() -> None:
    assert options() == (FaxOptions(Resolution.HIGH, Cover(kind="account"), None), "Invoice")
    chosen, _ = options(resolution=Resolution.LOW, cover="3")
    assert chosen == FaxOptions(Resolution.LOW, Cover(kind="index", index=3), None)


# --- resolution -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"), [("high", Resolution.HIGH), ("LOW", Resolution.LOW), (" Low ", Resolution.LOW)]
)
def test_resolution_header(value: str, expected: Resolution) -> None:
    assert (
        options(
            {"x-fax-resolution": value},
            resolution=Resolution.HIGH if expected is Resolution.LOW else Resolution.LOW,
        )[0].resolution
        is expected
    )


def test_resolution_tags() -> None:
    assert options(subject="[low] Invoice") == (FaxOptions(resolution=Resolution.LOW), "Invoice")
    assert options(subject="[HIGH] Invoice", resolution=Resolution.LOW)[0].resolution is Resolution.HIGH


def test_the_header_wins_over_the_tag() -> None:
    chosen, subject = options({"x-fax-resolution": "high"}, "[low] Invoice")
    assert chosen.resolution is Resolution.HIGH
    assert subject == "Invoice"  # the tag is still removed


def test_a_bad_resolution_header_is_refused() -> None:
    with pytest.raises(InvalidOption) as caught:
        options({"x-fax-resolution": "medium"})
    assert caught.value.reply == '550 5.5.4 X-Fax-Resolution: "medium" is neither high nor low'


def test_an_empty_header_counts_as_absent() -> None:
    assert options({"x-fax-resolution": " ", "x-fax-cover": "", "x-fax-send-at": ""})[0] == FaxOptions()


def test_header_names_are_matched_in_any_case() -> None:
    assert options({"X-Fax-Resolution": "low"})[0].resolution is Resolution.LOW


# --- cover page -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "cover"),
    [
        ("none", Cover(kind="none")),
        ("NONE", Cover(kind="none")),
        ("default", Cover(kind="default")),
        ("0", Cover(kind="none")),
        ("1", Cover(kind="index", index=1)),
        ("13", Cover(kind="index", index=13)),
        ("15", Cover(kind="index", index=15)),
        ("28", Cover(kind="index", index=28)),
        ("Confidential", Cover(kind="name", name="Confidential")),
        ("My Cover_2.v1", Cover(kind="name", name="My Cover_2.v1")),
    ],
)
def test_cover_header(value: str, cover: Cover) -> None:
    assert options({"x-fax-cover": value})[0].cover == cover


@pytest.mark.parametrize(
    "value",
    ["14", "29", "-1", "100", "+30", "9" * 5000, "\u0663", "Café", "a/b", "<script>", "x" * 65, "..."],
)
def test_impossible_covers_are_refused(value: str) -> None:
    with pytest.raises(InvalidOption) as caught:
        options({"x-fax-cover": value})
    assert caught.value.reply.startswith("550 5.5.4 X-Fax-Cover: ")
    assert caught.value.reason.isascii()


def test_ringcentral_cover_indexes() -> None:
    assert sorted(VALID_COVER_INDEXES) == [*range(14), *range(15, 29)]


def test_nocover_tag_and_precedence() -> None:
    assert options(subject="[nocover] Invoice", cover="3") == (
        FaxOptions(cover=Cover(kind="none")),
        "Invoice",
    )
    chosen, _ = options({"x-fax-cover": "5"}, "[nocover] Invoice")
    assert chosen.cover == Cover(kind="index", index=5)


def test_default_cover_setting() -> None:
    assert options(cover="none")[0].cover == Cover(kind="none")
    assert options(cover="default")[0].cover == Cover(kind="default")
    assert options(cover="Company")[0].cover == Cover(kind="name", name="Company")
    assert options(cover="")[0].cover == Cover(kind="account")


def test_a_broken_cover_setting_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="MAIL2FAX_COVER"):
        options(cover="14")


def test_parse_cover_checks_a_setting() -> None:
    assert parse_cover(" 7 ") == Cover(kind="index", index=7)
    with pytest.raises(ValueError, match="0-13 or 15-28"):
        parse_cover("14")


# --- send later -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "utc"),
    [
        ("2026-12-01T09:00:00+01:00", datetime(2026, 12, 1, 8, 0, tzinfo=UTC)),
        ("2026-12-01T09:00Z", datetime(2026, 12, 1, 9, 0, tzinfo=UTC)),
        ("2026-12-01 09:00 +01:00", datetime(2026, 12, 1, 8, 0, tzinfo=UTC)),
        ("2026-12-01 09:00 -0500", datetime(2026, 12, 1, 14, 0, tzinfo=UTC)),
        ("2026-12-01 09:00 UTC", datetime(2026, 12, 1, 9, 0, tzinfo=UTC)),
        ("2026-12-01 9:00 Europe/Berlin", datetime(2026, 12, 1, 8, 0, tzinfo=UTC)),
        ("2026-07-01 09:00:30 Europe/Berlin", datetime(2026, 7, 1, 7, 0, 30, tzinfo=UTC)),
        ("2026-07-01 09:00 America/New_York", datetime(2026, 7, 1, 13, 0, tzinfo=UTC)),
        ("Tue, 1 Dec 2026 09:00:00 +0100", datetime(2026, 12, 1, 8, 0, tzinfo=UTC)),
        ("1 Dec 2026 09:00 GMT", datetime(2026, 12, 1, 9, 0, tzinfo=UTC)),
    ],
)
def test_send_at_header_formats(value: str, utc: datetime) -> None:
    send_at = options({"x-fax-send-at": value})[0].send_at
    assert send_at == utc
    assert send_at is not None and send_at.tzinfo is UTC


def test_send_at_tag() -> None:
    chosen, subject = options(subject="[at 2026-12-01 09:00 Europe/Berlin] Invoice 12")
    assert chosen.send_at == datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    assert subject == "Invoice 12"
    chosen, _ = options(subject="[AT 2026-12-01 09:00 +01:00] Invoice")
    assert chosen.send_at == datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def test_send_at_header_wins_over_the_tag_even_a_broken_one() -> None:
    chosen, subject = options({"x-fax-send-at": "2026-07-01T00:00Z"}, "[at 2026-99-99 09:00 UTC] x")
    assert chosen.send_at == datetime(2026, 7, 1, tzinfo=UTC)
    assert subject == "x"


@pytest.mark.parametrize(
    "value",
    ["2026-06-01T11:00Z", "2026-06-01T12:00Z", "2026-06-01T12:00:59Z", "2020-01-01 00:00 UTC"],
)
def test_past_or_imminent_times_mean_send_now(value: str) -> None:
    assert options({"x-fax-send-at": value})[0].send_at is None


def test_just_beyond_a_minute_is_scheduled() -> None:
    assert options({"x-fax-send-at": "2026-06-01T12:01:01Z"})[0].send_at == NOW + timedelta(seconds=61)


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("tomorrow", '"tomorrow" is not a date and time with a zone'),
        ("2026-12-01 09:00", "is not a date and time with a zone"),
        ("2026-12-01T09:00", "is not a date and time with a zone"),
        ("2026-12-01", "is not a date and time with a zone"),
        ("2026-12-01 09:00 Mars/Olympus", "is not a date and time with a zone"),
        ("2026-12-01 09:00 ../../etc/passwd", "is not a date and time with a zone"),
        ("2026-12-01 09:00 +25:00", "is not a date and time with a zone"),
        ("Tue, 1 Dec 2026 09:00:00 -0000", "is not a date and time with a zone"),
        ("2027-06-01T12:00:01Z", "more than a year ahead"),
        ("2099-01-01 09:00 UTC", "more than a year ahead"),
        ("9999-12-31 23:59 -12:00", "out of range"),
    ],
)
def test_impossible_send_times_are_refused(value: str, words: str) -> None:
    with pytest.raises(InvalidOption) as caught:
        options({"x-fax-send-at": value})
    assert caught.value.reason.startswith("X-Fax-Send-At: ")
    assert words in caught.value.reason
    assert (caught.value.code, caught.value.enhanced) == (550, "5.5.4")


def test_exactly_a_year_ahead_is_allowed() -> None:
    assert options({"x-fax-send-at": "2027-06-01T12:00Z"})[0].send_at == datetime(2027, 6, 1, 12, tzinfo=UTC)


def test_a_broken_send_at_tag_is_refused() -> None:
    with pytest.raises(InvalidOption, match=r"subject tag \[at 2026-13-01 09:00 UTC\]"):
        options(subject="[at 2026-13-01 09:00 UTC] Invoice")


def test_a_naive_now_is_read_as_utc() -> None:
    chosen, _ = options({"x-fax-send-at": "2026-06-02T12:00Z"}, now=NOW.replace(tzinfo=None))
    assert chosen.send_at == datetime(2026, 6, 2, 12, tzinfo=UTC)


def test_a_leap_day_now() -> None:
    leap = datetime(2028, 2, 29, 12, 0, tzinfo=UTC)
    assert options({"x-fax-send-at": "2029-02-28T11:00Z"}, now=leap)[0].send_at is not None


# --- tags -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "rest", "expected"),
    [
        ("[low][nocover] Invoice", "Invoice", FaxOptions(Resolution.LOW, Cover(kind="none"))),
        ("  [ Low ]   [NOCOVER]Invoice  ", "Invoice", FaxOptions(Resolution.LOW, Cover(kind="none"))),
        ("[nocover] [high] [low] x", "x", FaxOptions(Resolution.LOW, Cover(kind="none"))),
        ("[PATCH] [low] fix", "[PATCH] [low] fix", FaxOptions()),
        ("[low] [PATCH] fix", "[PATCH] fix", FaxOptions(Resolution.LOW)),
        ("Invoice [low]", "Invoice [low]", FaxOptions()),
        ("[at the office] notes", "[at the office] notes", FaxOptions()),
        ("[AT&T] bill", "[AT&T] bill", FaxOptions()),
        ("[low]", "", FaxOptions(Resolution.LOW)),
        ("[low", "[low", FaxOptions()),
        ("", "", FaxOptions()),
        ("[[low]] x", "[[low]] x", FaxOptions()),
    ],
)
def test_only_leading_known_tags_are_read_and_removed(subject: str, rest: str, expected: FaxOptions) -> None:
    assert options(subject=subject) == (expected, rest)


def test_refusals_quote_values_safely() -> None:
    with pytest.raises(InvalidOption) as caught:
        options({"x-fax-send-at": "zwölf\r\nUhr" + "x" * 200})
    assert caught.value.reason.isascii()
    assert "\r" not in caught.value.reason
    assert len(caught.value.reason) < 200


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["x-fax-resolution", "x-fax-cover", "x-fax-send-at"]), st.text(max_size=40)
    ),
    st.text(max_size=60),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(9998, 1, 1), timezones=st.just(UTC)),
)
def test_any_input_gives_options_or_an_invalid_option(
    headers: dict[str, str], subject: str, now: datetime
) -> None:
    try:
        chosen, rest = options(headers, subject, now=now)
    except InvalidOption as exc:
        reason = exc.reason
    else:
        reason = ""
        assert subject.endswith(rest) or rest == subject.strip()
        if chosen.send_at is not None:
            assert chosen.send_at.tzinfo is UTC and chosen.send_at > now
    assert reason.isascii() and "\n" not in reason


TAG = (
    r"\[(high|low|nocover|at 20[0-9]{2}-[01][0-9]-[0-3][0-9] [0-2][0-9]:[0-5][0-9] [A-Za-z/_+:0-9-]{1,20})\]"
)


@settings(max_examples=200, deadline=None)
@given(st.from_regex(rf"\A({TAG} ?){{0,4}}[^\[]{{0,20}}\Z"))
def test_tag_runs(subject: str) -> None:
    try:
        _, rest = options(subject=subject)
    except InvalidOption as exc:
        reason = exc.reason
    else:
        reason = "subject tag [at "
        assert not rest.startswith(("[high]", "[low]", "[nocover]"))
    assert "subject tag [at " in reason
