"""A real SMTP server on 127.0.0.1 that captures the status mails the daemon sends to its relay."""

from __future__ import annotations

import asyncio
import email
import email.policy
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from aiosmtpd.smtp import SMTP


@dataclass
class CapturedMail:
    envelope_from: str
    recipients: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"]).strip()

    @property
    def body(self) -> str:
        part = self.message.get_body(("plain",))
        assert part is not None
        return str(part.get_content())  # type: ignore[attr-defined]


class CaptureRelay:
    """Captures every mail; ``refuse`` makes it answer a temporary error to simulate an outage."""

    def __init__(self) -> None:
        self.mails: list[CapturedMail] = []
        self.refuse: str | None = None
        self.refused = 0
        self._changed = asyncio.Condition()
        self._server: asyncio.Server | None = None
        self.port = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse:
            self.refused += 1
            return self.refuse
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        async with self._changed:
            self.mails.append(CapturedMail(envelope.mail_from, list(envelope.rcpt_tos), message))
            self._changed.notify_all()
        return "250 2.0.0 captured"

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: SMTP(self, hostname="relay.test", data_size_limit=None), "127.0.0.1", 0
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def wait_for(self, count: int, timeout: float = 15.0) -> list[CapturedMail]:
        """Wait until at least ``count`` mails have arrived; return them all."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: len(self.mails) >= count)
        return list(self.mails)

    async def __aenter__(self) -> CaptureRelay:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
