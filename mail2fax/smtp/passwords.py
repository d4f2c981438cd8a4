"""Password hashes for SMTP AUTH users: scrypt from the standard library, and the users file.

A hash is one self-describing string, so its cost can be raised later without breaking old ones::

    scrypt$<n>$<r>$<p>$<salt, base64>$<key, base64>

The users file has one ``user:hash`` line per user; blank lines and lines starting with ``#``
are ignored. Pure code: nothing here touches the network, and the file is read only when asked.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mail2fax.errors import ConfigError

SCHEME = "scrypt"
# 32 MiB and about a tenth of a second per check: costly to guess, cheap enough for a scanner.
DEFAULT_N = 2**15
DEFAULT_R = 8
DEFAULT_P = 1
MIN_N = 2**10
MAX_N = 2**20
MAX_MEMORY = 256 * 1024 * 1024
SALT_BYTES = 16
KEY_BYTES = 32


@dataclass(frozen=True, slots=True)
class PasswordHash:
    """A parsed scrypt hash: the cost parameters, the salt and the derived key."""

    n: int
    r: int
    p: int
    salt: bytes
    key: bytes = b""

    def derive(self, password: bytes) -> bytes:
        """The scrypt key of ``password`` with this hash's salt and cost (CPU work: run it off the loop)."""
        memory = 128 * self.r * (self.n + self.p + 2) + 65536
        return hashlib.scrypt(
            password,
            salt=self.salt,
            n=self.n,
            r=self.r,
            p=self.p,
            maxmem=memory,
            dklen=len(self.key) or KEY_BYTES,
        )

    def matches(self, password: bytes) -> bool:
        return hmac.compare_digest(self.derive(password), self.key)

    def encode(self) -> str:
        salt = base64.b64encode(self.salt).decode("ascii")
        key = base64.b64encode(self.key).decode("ascii")
        return f"{SCHEME}${self.n}${self.r}${self.p}${salt}${key}"


def hash_password(password: str, *, n: int = DEFAULT_N, r: int = DEFAULT_R, p: int = DEFAULT_P) -> str:
    """A new hash of ``password`` with a random salt, in the ``scrypt$n$r$p$salt$key`` form."""
    _check_cost(n, r, p)
    unsalted = PasswordHash(n, r, p, secrets.token_bytes(SALT_BYTES))
    key = unsalted.derive(password.encode("utf-8"))
    return PasswordHash(n, r, p, unsalted.salt, key).encode()


def parse_hash(encoded: str) -> PasswordHash:
    """Read a hash made by :func:`hash_password`; ``ValueError`` says what is wrong with it."""
    parts = encoded.strip().split("$")
    if len(parts) != 6 or parts[0] != SCHEME:
        raise ValueError("not a scrypt hash of the form scrypt$n$r$p$salt$key (see `mail2fax hash-password`)")
    try:
        n, r, p = (int(part) for part in parts[1:4])
        salt = base64.b64decode(parts[4], validate=True)
        key = base64.b64decode(parts[5], validate=True)
    except (ValueError, binascii.Error):
        raise ValueError("the scrypt hash has a malformed number or base64 field") from None
    _check_cost(n, r, p)
    if len(salt) < 8 or not 16 <= len(key) <= 128:
        raise ValueError("the scrypt hash has too short a salt or a key of the wrong length")
    return PasswordHash(n, r, p, salt, key)


def verify_password(password: str | bytes, encoded: str) -> bool:
    """Whether ``password`` matches the hash; a malformed hash matches nothing."""
    try:
        parsed = parse_hash(encoded)
    except ValueError:
        return False
    data = password.encode("utf-8") if isinstance(password, str) else password
    return parsed.matches(data)


def _check_cost(n: int, r: int, p: int) -> None:
    if not MIN_N <= n <= MAX_N or n & (n - 1):
        raise ValueError(f"scrypt n must be a power of two from {MIN_N} to {MAX_N}")
    if not 1 <= r <= 32 or not 1 <= p <= 16:
        raise ValueError("scrypt r must be 1 to 32 and p 1 to 16")
    if 128 * r * n > MAX_MEMORY:
        raise ValueError("scrypt n and r together would need more than 256 MiB per check")


def decoy_hash() -> PasswordHash:
    """A hash no password matches, with the default cost: checked for unknown users, so that
    a wrong user name takes as long to refuse as a wrong password."""
    return PasswordHash(DEFAULT_N, DEFAULT_R, DEFAULT_P, secrets.token_bytes(SALT_BYTES), bytes(KEY_BYTES))


def parse_users_file(text: str, *, source: str) -> dict[str, PasswordHash]:
    """The users of a ``user:hash`` file. ``ConfigError`` names the line of the first problem."""
    users: dict[str, PasswordHash] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        # The hash never holds a colon, so the last one separates it from the user name.
        user, colon, encoded = line.rpartition(":")
        user = user.strip()
        if not colon or not user:
            raise ConfigError(f"{source} line {number}: expected user:hash")
        if user in users:
            raise ConfigError(f"{source} line {number}: user {user!r} appears twice")
        try:
            users[user] = parse_hash(encoded)
        except ValueError as exc:
            raise ConfigError(f"{source} line {number}: {exc}") from None
    return users


def load_users(inline: Mapping[str, str], users_file: Path | None) -> dict[str, PasswordHash]:
    """Every SMTP AUTH user, from the settings and the users file. A user may not be in both."""
    users: dict[str, PasswordHash] = {}
    for user, encoded in inline.items():
        try:
            users[user] = parse_hash(encoded)
        except ValueError as exc:
            raise ConfigError(f"MAIL2FAX_AUTH__USERS: user {user!r}: {exc}") from None
    if users_file is not None:
        try:
            text = Path(users_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"MAIL2FAX_AUTH__USERS_FILE: cannot read {users_file}: {exc}") from None
        source = f"MAIL2FAX_AUTH__USERS_FILE {users_file}"
        for user, parsed in parse_users_file(text, source=source).items():
            if user in users:
                raise ConfigError(f"{source}: user {user!r} is also in MAIL2FAX_AUTH__USERS")
            users[user] = parsed
    return users
