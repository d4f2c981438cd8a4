"""addressing: recipient addresses to E.164 fax numbers, and the refusals at RCPT."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mail2fax.errors import RecipientRefused
from mail2fax.mail.addressing import format_number, parse_recipient
from mail2fax.models import Recipient

DOMAINS = ["fax.local", "fax.example.com"]


def parse(address: str, region: str = "US") -> Recipient:
    return parse_recipient(address, fax_domains=DOMAINS, default_region=region)


@pytest.mark.parametrize(
    "local",
    [
        "14155551212",
        "+14155551212",
        "4155551212",
        "1-415-555-1212",
        "+1-415-555-1212",
        "(415)555-1212",
        "(415) 555-1212",
        "415.555.1212",
        "1.415.555.1212",
        "415/555-1212",
        "0014155551212",
        '"+1 415 555 1212"',
        '"415 555 1212"',
        "１４１５５５５１２１２",  # full-width digits
    ],
)
def test_us_numbers_in_every_common_spelling(local: str) -> None:
    assert parse(f"{local}@fax.local") == Recipient(number="+14155551212", name=None)


@pytest.mark.parametrize(
    ("address", "region", "number"),
    [
        ("+4930901820@fax.local", "US", "+4930901820"),
        ("4930901820@fax.local", "US", "+4930901820"),  # not a US number: read as international
        ("004930901820@fax.local", "US", "+4930901820"),
        ("030901820@fax.local", "DE", "+4930901820"),
        ("030-901820@fax.local", "DE", "+4930901820"),
        ("004930901820@fax.local", "DE", "+4930901820"),
        ("14155551212@fax.local", "DE", "+14155551212"),
        ("+442071838750@fax.local", "US", "+442071838750"),
        ("02071838750@fax.local", "GB", "+442071838750"),
        ("+33142685300@fax.local", "US", "+33142685300"),
    ],
)
def test_international_and_regional_numbers(address: str, region: str, number: str) -> None:
    assert parse(address, region).number == number


@pytest.mark.parametrize(
    "address",
    [
        "<14155551212@fax.local>",
        "  14155551212@fax.local  ",
        "< 14155551212@fax.local >",
        "14155551212@FAX.LOCAL",
        "14155551212@Fax.Local.",
        "14155551212@fax.example.com",
    ],
)
def test_brackets_whitespace_and_domain_case_do_not_matter(address: str) -> None:
    assert parse(address).number == "+14155551212"


@pytest.mark.parametrize(
    "address",
    ["14155551212@example.com", "14155551212@fax.local.evil.com", "14155551212@sub.fax.local", "x@gmail.com"],
)
def test_other_domains_are_refused_as_relaying(address: str) -> None:
    with pytest.raises(RecipientRefused) as caught:
        parse(address)
    assert (caught.value.code, caught.value.enhanced) == (550, "5.7.1")
    assert "relaying" in caught.value.reason and "denied" in caught.value.reason
    assert "fax.local" in caught.value.reason


@pytest.mark.parametrize(
    ("address", "words"),
    [
        ("123@fax.local", "123 is not a valid fax number for region US: too short"),
        ("12345678901234567@fax.local", "for region US: too long"),
        ("10555551212@fax.local", "for region US: no such number"),
        ("+999123456@fax.local", "+999123456 is not a valid fax number: unknown country code"),
        ("+1@fax.local", "not a valid fax number"),
        ("john@fax.local", "john is not a fax number"),
        ("1-800-FLOWERS@fax.local", "is not a fax number"),
        ("4155551212;ext=12@fax.local", "is not a fax number"),
        ("++14155551212@fax.local", "is not a fax number"),
        ("1+4155551212@fax.local", "is not a fax number"),
        ("---@fax.local", "it has no digits"),
        ('""@fax.local', "the fax number is empty"),
        ("1" * 80 + "@fax.local", "too long to be a fax number"),
        ("@fax.local", "is not a fax address"),
        ("fax.local", "is not a fax address"),
        ("", "the recipient address is empty"),
        ("<>", "the recipient address is empty"),
        ("   ", "the recipient address is empty"),
    ],
)
def test_bad_numbers_are_refused_saying_why(address: str, words: str) -> None:
    with pytest.raises(RecipientRefused) as caught:
        parse(address)
    assert (caught.value.code, caught.value.enhanced) == (553, "5.1.3")
    assert words in caught.value.reason
    assert caught.value.reply.startswith("553 5.1.3 ")


def test_a_refusal_shows_non_ascii_and_control_characters_safely() -> None:
    with pytest.raises(RecipientRefused) as caught:
        parse("zwölf\r\n250 ok@fax.local")
    assert caught.value.reason.isascii()
    assert "\r" not in caught.value.reason and "\n" not in caught.value.reason


def test_a_refusal_for_a_foreign_domain_shows_it_safely() -> None:
    with pytest.raises(RecipientRefused) as caught:
        parse("14155551212@exämple.com\r\nX")
    assert caught.value.reason.isascii()
    assert caught.value.code == 550


def test_unknown_or_empty_region_reads_only_international_numbers() -> None:
    assert parse("+14155551212@fax.local", "").number == "+14155551212"
    assert parse("14155551212@fax.local", "").number == "+14155551212"
    with pytest.raises(RecipientRefused):
        parse("4155551212@fax.local", "")


def test_quoted_local_part_with_escapes() -> None:
    assert parse('"1\\-415-555-1212"@fax.local').number == "+14155551212"
    assert parse('"4155551212"@fax.local').number == "+14155551212"
    with pytest.raises(RecipientRefused):
        parse('"a@b"@fax.local')


@pytest.mark.parametrize(
    ("e164", "shown"),
    [
        ("+14155551212", "+1 415-555-1212"),
        ("+4930901820", "+49 30 901820"),
        ("+442071838750", "+44 20 7183 8750"),
        ("not a number", "not a number"),
        ("", ""),
    ],
)
def test_format_number(e164: str, shown: str) -> None:
    assert format_number(e164) == shown


def outcome(address: str, region: str = "US") -> Recipient | RecipientRefused:
    try:
        return parse_recipient(address, fax_domains=DOMAINS, default_region=region)
    except RecipientRefused as exc:
        return exc


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80), st.sampled_from(["US", "DE", "GB", "", "XX", "us"]))
def test_any_address_gives_a_recipient_or_a_refusal(address: str, region: str) -> None:
    result = outcome(address, region)
    if isinstance(result, RecipientRefused):
        assert result.code in (550, 553)
        assert result.reason.isascii() and "\n" not in result.reason
    else:
        assert result.number.startswith("+") and result.number[1:].isdigit()


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet='0123456789+-.() /"\\', max_size=30))
def test_any_number_like_local_part_gives_a_recipient_or_a_refusal(local: str) -> None:
    result = outcome(f"{local}@fax.local")
    if isinstance(result, RecipientRefused):
        assert result.code == 553
    else:
        assert result.number.startswith("+")
