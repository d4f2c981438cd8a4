"""A condition that lasts, logged once when it starts and once when it ends, not at every occurrence.

A fax service that is down, a relay that refuses mail, a full disk: the stage that meets one
calls :meth:`Outage.failing` each time and :meth:`Outage.working` after each success, and the
log shows two lines per outage, however many cycles or jobs it spans.
"""

from __future__ import annotations

import logging
from typing import Any


class Outage:
    def __init__(self, log: logging.Logger, *, ended: str, **facts: Any) -> None:
        """``ended`` is the message logged when it is over; ``facts`` go on both lines."""
        self._log = log
        self._ended = ended
        self._facts = facts
        self.cause: str | None = None

    def failing(
        self,
        cause: BaseException | str,
        message: str,
        *,
        level: int = logging.WARNING,
        exc_info: BaseException | None = None,
        **facts: Any,
    ) -> bool:
        """Note one failure; log ``message`` only when this starts the outage. True if it did."""
        described = f"{type(cause).__name__}: {cause}" if isinstance(cause, BaseException) else cause
        started = self.cause is None
        self.cause = described
        if started:
            self._log.log(
                level, message, extra={**self._facts, **facts, "error": described}, exc_info=exc_info
            )
        return started

    def working(self) -> bool:
        """Note a success; log the end of the outage if one was going on. True if one ended."""
        if self.cause is None:
            return False
        self._log.warning(self._ended, extra={**self._facts, "after": self.cause})
        self.cause = None
        return True
