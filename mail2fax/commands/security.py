"""What ``mail2fax hash-password`` does; the CLI parses argv and prints the result."""

from __future__ import annotations

import getpass

from mail2fax.errors import ConfigError
from mail2fax.smtp.passwords import hash_password


def hash_password_command(password: str | None) -> str:
    """The scrypt hash of ``password`` for ``MAIL2FAX_AUTH__USERS`` or the users file.

    With ``None`` the password is read twice from the terminal without echo. An empty password,
    or two that differ, raise ``ConfigError``; the password itself is never printed or logged.
    """
    if password is None:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Same password again: ") != password:
            raise ConfigError("the two passwords differ; nothing was hashed")
    if not password:
        raise ConfigError("an empty password cannot be used for SMTP AUTH")
    return hash_password(password)
