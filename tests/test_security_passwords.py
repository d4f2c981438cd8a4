"""Password hashes, the users file and the hash-password command."""

from __future__ import annotations

import getpass
from pathlib import Path

import pytest

from mail2fax.commands.security import hash_password_command
from mail2fax.errors import ConfigError
from mail2fax.smtp.passwords import (
    DEFAULT_N,
    MIN_N,
    hash_password,
    load_users,
    parse_hash,
    parse_users_file,
    verify_password,
)


def test_a_hash_verifies_its_password_and_nothing_else() -> None:
    encoded = hash_password("correct horse", n=MIN_N)
    assert verify_password("correct horse", encoded)
    assert verify_password(b"correct horse", encoded)
    assert not verify_password("correct hors", encoded)
    assert not verify_password("", encoded)


def test_the_hash_describes_itself_and_salts_each_time() -> None:
    first, second = hash_password("pw", n=MIN_N), hash_password("pw", n=MIN_N)
    scheme, n, r, p, salt, _ = first.split("$")
    assert (scheme, n, r, p) == ("scrypt", str(MIN_N), "8", "1")
    assert first != second
    assert salt != second.split("$")[4]
    assert parse_hash(first).key != parse_hash(second).key


def test_non_ascii_passwords_are_hashed_as_utf8() -> None:
    encoded = hash_password("Grüße-ß€", n=MIN_N)
    assert verify_password("Grüße-ß€".encode(), encoded)
    assert not verify_password("Grusse-ss", encoded)


@pytest.mark.parametrize(
    ("encoded", "complaint"),
    [
        ("", "not a scrypt hash"),
        ("plain-text-password", "not a scrypt hash"),
        ("bcrypt$1$2$3$AAAA$BBBB", "not a scrypt hash"),
        ("scrypt$abc$8$1$AAAAAAAAAAA=$" + "A" * 44, "malformed"),
        ("scrypt$1024$8$1$not*base64$" + "A" * 44, "malformed"),
        ("scrypt$1000$8$1$AAAAAAAAAAA=$" + "A" * 44, "power of two"),
        ("scrypt$2$8$1$AAAAAAAAAAA=$" + "A" * 44, "power of two"),
        ("scrypt$1048576$32$1$AAAAAAAAAAA=$" + "A" * 44, "256 MiB"),
        ("scrypt$1024$8$1$AAAA$" + "A" * 44, "too short a salt"),
        ("scrypt$1024$8$1$AAAAAAAAAAA=$AAAA", "too short a salt or a key"),
    ],
)
def test_malformed_hashes_are_refused_saying_why(encoded: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        parse_hash(encoded)
    assert not verify_password("anything", encoded)


def test_users_file_with_comments_blank_lines_and_addresses(tmp_path: Path) -> None:
    scanner, alice = hash_password("scan", n=MIN_N), hash_password("wonder", n=MIN_N)
    text = f"# fax users\n\nscanner:{scanner}\n   alice@example.com : {alice}  \n# end\n"
    users = parse_users_file(text, source="users")
    assert sorted(users) == ["alice@example.com", "scanner"]
    assert users["scanner"].matches(b"scan")
    assert users["alice@example.com"].matches(b"wonder")
    assert not users["alice@example.com"].matches(b"scan")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("# ok\nscanner\n", "users line 2: expected user:hash"),
        (":scrypt$1$2$3$4$5\n", "users line 1: expected user:hash"),
        ("scanner:plaintext\n", "users line 1: not a scrypt hash"),
        ("a:{h}\na:{h}\n", "users line 2: user 'a' appears twice"),
    ],
)
def test_users_file_problems_name_the_line(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_users_file(text.format(h=hash_password("x", n=MIN_N)), source="users")


def test_users_come_from_settings_and_file_but_never_both(tmp_path: Path) -> None:
    path = tmp_path / "users"
    path.write_text(f"bob:{hash_password('b', n=MIN_N)}\n")
    users = load_users({"alice": hash_password("a", n=MIN_N)}, path)
    assert sorted(users) == ["alice", "bob"]
    with pytest.raises(ConfigError, match="'bob' is also in MAIL2FAX_AUTH__USERS"):
        load_users({"bob": hash_password("a", n=MIN_N)}, path)
    with pytest.raises(ConfigError, match="MAIL2FAX_AUTH__USERS_FILE: cannot read"):
        load_users({}, tmp_path / "missing")
    with pytest.raises(ConfigError, match="MAIL2FAX_AUTH__USERS: user 'carol'"):
        load_users({"carol": "secret"}, None)


def test_hash_password_command_with_a_given_password() -> None:
    encoded = hash_password_command("scanner-password")
    assert encoded.startswith(f"scrypt${DEFAULT_N}$8$1$")
    assert verify_password("scanner-password", encoded)
    assert "scanner-password" not in encoded
    with pytest.raises(ConfigError, match="empty password"):
        hash_password_command("")


def test_hash_password_command_asks_twice_without_echo(monkeypatch: pytest.MonkeyPatch) -> None:
    # The terminal is the operating-system edge: getpass stands in for a person typing.
    answers = iter(["typed-secret", "typed-secret", "one", "other"])
    prompts: list[str] = []

    def typed(prompt: str = "Password: ", stream: object = None) -> str:
        prompts.append(prompt)
        return next(answers)

    monkeypatch.setattr(getpass, "getpass", typed)
    assert verify_password("typed-secret", hash_password_command(None))
    assert prompts == ["Password: ", "Same password again: "]
    with pytest.raises(ConfigError, match="differ"):
        hash_password_command(None)
