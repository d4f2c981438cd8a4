"""The number policy: countries, number types and prefix lists, each refusal naming its rule."""

from __future__ import annotations

import phonenumbers
import pytest

from mail2fax.errors import ConfigError, RecipientRefused
from mail2fax.mail.number_policy import NumberPolicy, normalise_prefix
from mail2fax.settings import DEFAULT_BLOCKED_TYPES

US_LANDLINE = "+12015550123"
US_TOLL_FREE = "+18002345678"
US_PREMIUM = "+19002345678"
CA_LANDLINE = "+15062345678"
GB_LANDLINE = "+442071838750"
GB_PREMIUM = "+449012345678"
GB_PERSONAL = "+447012345678"
GB_UAN = "+445512345678"
FR_SHARED_COST = "+33884012345"
INTERNATIONAL_FREEPHONE = "+80012345678"


def policy(countries: list[str] | None = None, **rules: list[str]) -> NumberPolicy:
    return NumberPolicy.build(
        countries=countries or ["US"],
        blocked_types=rules.pop("blocked", list(DEFAULT_BLOCKED_TYPES)),
        **rules,
    )


def refusal(rules: NumberPolicy, number: str) -> str:
    with pytest.raises(RecipientRefused) as caught:
        rules.check(number)
    assert caught.value.code == 550
    assert caught.value.enhanced == "5.7.1"
    assert number in caught.value.reply
    return caught.value.reply


def test_the_sample_numbers_are_what_the_tests_say() -> None:
    kinds = phonenumbers.PhoneNumberType
    for number, region, kind in [
        (US_PREMIUM, "US", kinds.PREMIUM_RATE),
        (GB_PREMIUM, "GB", kinds.PREMIUM_RATE),
        (GB_PERSONAL, "GB", kinds.PERSONAL_NUMBER),
        (GB_UAN, "GB", kinds.UAN),
        (FR_SHARED_COST, "FR", kinds.SHARED_COST),
        (CA_LANDLINE, "CA", kinds.FIXED_LINE_OR_MOBILE),
    ]:
        parsed = phonenumbers.parse(number)
        assert (phonenumbers.region_code_for_number(parsed), phonenumbers.number_type(parsed)) == (
            region,
            kind,
        )


def test_ordinary_numbers_of_the_default_country_pass() -> None:
    rules = policy()
    rules.check(US_LANDLINE)
    rules.check(US_TOLL_FREE)


def test_other_countries_are_refused_by_default_naming_the_setting() -> None:
    reply = refusal(policy(), GB_LANDLINE)
    assert reply.startswith("550 5.7.1 ")
    assert "in GB" in reply
    assert "only US may be faxed" in reply
    assert "MAIL2FAX_ALLOWED_COUNTRIES" in reply


def test_numbers_sharing_a_country_code_are_told_apart() -> None:
    assert "in CA" in refusal(policy(), CA_LANDLINE)
    policy(["US", "CA"]).check(CA_LANDLINE)


def test_non_geographic_numbers_belong_to_no_country() -> None:
    assert "not in any country" in refusal(policy(["US", "GB"]), INTERNATIONAL_FREEPHONE)


def test_allowed_countries_open_other_countries() -> None:
    rules = policy(["us", " gb "])
    rules.check(GB_LANDLINE)
    rules.check(US_LANDLINE)


@pytest.mark.parametrize(
    ("number", "words"),
    [
        (US_PREMIUM, "premium-rate"),
        (GB_PREMIUM, "premium-rate"),
        (GB_PERSONAL, "personal"),
        (GB_UAN, "universal access (UAN)"),
        (FR_SHARED_COST, "shared-cost"),
    ],
)
def test_costly_number_types_are_blocked_by_default(number: str, words: str) -> None:
    reply = refusal(policy(["US", "GB", "FR"]), number)
    assert f"it is a {words} number" in reply
    assert "MAIL2FAX_BLOCKED_NUMBER_TYPES" in reply


def test_blocked_types_are_configurable() -> None:
    rules = policy(["US", "GB"], blocked=["toll_free", "Premium-Rate"])
    assert "toll-free" in refusal(rules, US_TOLL_FREE)
    refusal(rules, US_PREMIUM)
    rules.check(GB_PERSONAL)
    policy(["US"], blocked=[]).check(US_PREMIUM)


def test_denied_prefixes_are_refused_first() -> None:
    rules = policy(["US", "GB"], denied_prefixes=["+1201", "0044 20"])
    reply = refusal(rules, US_LANDLINE)
    assert "numbers starting +1201 are blocked (MAIL2FAX_DENIED_PREFIXES)" in reply
    assert "+4420" in refusal(rules, GB_LANDLINE)
    rules.check(US_TOLL_FREE)


def test_allowed_prefixes_narrow_and_do_not_override_other_rules() -> None:
    rules = policy(["US"], allowed_prefixes=["+1800", "1-900"])
    rules.check(US_TOLL_FREE)
    reply = refusal(rules, US_LANDLINE)
    assert "only numbers starting +1800, +1900 may be faxed (MAIL2FAX_ALLOWED_PREFIXES)" in reply
    # +1900 is allowed by prefix, but premium-rate numbers stay blocked.
    assert "MAIL2FAX_BLOCKED_NUMBER_TYPES" in refusal(rules, US_PREMIUM)
    both = policy(["US"], allowed_prefixes=["+1"], denied_prefixes=["+1201"])
    assert "MAIL2FAX_DENIED_PREFIXES" in refusal(both, US_LANDLINE)


@pytest.mark.parametrize(
    ("text", "prefix"),
    [
        ("+1900", "+1900"),
        ("1900", "+1900"),
        ("001900", "+1900"),
        ("+1 (900) 5", "+19005"),
        ("44-20", "+4420"),
    ],
)
def test_prefixes_are_written_many_ways(text: str, prefix: str) -> None:
    assert normalise_prefix(text, setting="X") == prefix


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ({"countries": ["USA"]}, "MAIL2FAX_ALLOWED_COUNTRIES: USA is not a country code"),
        ({"countries": ["US"], "blocked": ["EXPENSIVE"]}, "MAIL2FAX_BLOCKED_NUMBER_TYPES: 'EXPENSIVE'"),
        ({"countries": ["US"], "allowed_prefixes": ["+1-abc"]}, "MAIL2FAX_ALLOWED_PREFIXES: '\\+1-abc'"),
        ({"countries": ["US"], "denied_prefixes": ["+"]}, "MAIL2FAX_DENIED_PREFIXES"),
    ],
)
def test_bad_rules_stop_the_start_naming_the_setting(rules: dict[str, list[str]], message: str) -> None:
    countries = rules.pop("countries")
    with pytest.raises(ConfigError, match=message):
        policy(countries, **rules)
