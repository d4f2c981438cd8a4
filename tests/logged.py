"""Log records as the daemon writes them, for tests that read what an operator would read."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from mail2fax import logs


def rendered(records: Iterable[logging.LogRecord], fmt: str = "text") -> str:
    """The records formatted exactly as ``mail2fax serve`` writes them with MAIL2FAX_LOG_FORMAT=fmt."""
    formatter = logs.formatter(fmt)
    return "\n".join(formatter.format(record) for record in records)
