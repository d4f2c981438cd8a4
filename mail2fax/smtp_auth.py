"""SMTP AUTH for the listener: users, password checks and the options aiosmtpd needs."""

from __future__ import annotations

from typing import Any

from mail2fax.settings import Settings


def session_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for each SMTP session that configure authentication."""
    return {}
