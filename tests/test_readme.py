"""README's settings table names every setting, and every variable it names exists."""

from __future__ import annotations

import re
from pathlib import Path

from mail2fax.environment import known_variables
from tests.test_deployment import settings_variables

README = Path(__file__).resolve().parent.parent / "README.md"


def table_variables() -> set[str]:
    text = README.read_text(encoding="utf-8")
    table = text[text.index("<!-- settings-table -->") : text.index("<!-- /settings-table -->")]
    names: set[str] = set()
    for cell in re.findall(r"^\| ([^|]+) \|", table, flags=re.MULTILINE):
        prefix = ""
        for name in re.findall(r"`([A-Z0-9_]+)`", cell):
            if name.startswith("MAIL2FAX_"):
                prefix = name.rsplit("__", 1)[0] if "__" in name else ""
                names.add(name)
            elif name.startswith("__") and prefix:
                names.add(prefix + name)
    return names


def leaf_settings() -> set[str]:
    """Every variable but the section names themselves (MAIL2FAX_SMTP is set through MAIL2FAX_SMTP__*)."""
    names = settings_variables()
    return {name for name in names if not any(other.startswith(name + "__") for other in names)}


def test_every_setting_is_in_the_readme_table() -> None:
    assert leaf_settings() - table_variables() == set()


def test_the_readme_names_no_setting_that_does_not_exist() -> None:
    mentioned = set(re.findall(r"MAIL2FAX_[A-Z_]+[A-Z]", README.read_text(encoding="utf-8")))
    # MAIL2FAX_RELAY_HOST is there on purpose: the example of a misspelling and its warning.
    test_only = {"MAIL2FAX_CRASH_SEED", "MAIL2FAX_VARIANT_SEED", "MAIL2FAX_RELAY_HOST"}
    assert mentioned - known_variables() - test_only == set()
