"""A real SMTP client for the tests that reports every reply instead of raising on refusals."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import aiosmtplib


@dataclass
class Reply:
    code: int
    text: str

    def __str__(self) -> str:
        return f"{self.code} {self.text}"


def queued_job(text: str) -> str:
    """The job id in a ``250`` reply (``2.0.0 Queued as 9f2c41d07a3b (3 pages)``)."""
    found = re.search(r"[Qq]ueued as (\w+)", text)
    assert found is not None, text
    return found[1]


@dataclass
class Transaction:
    mail: Reply
    rcpts: list[Reply] = field(default_factory=list)
    data: Reply | None = None

    @property
    def accepted(self) -> bool:
        return self.data is not None and self.data.code == 250

    @property
    def final(self) -> Reply:
        """The reply that decided the transaction: DATA's, or the first refusal before it."""
        if self.data is not None:
            return self.data
        if self.mail.code >= 400:
            return self.mail
        return next(reply for reply in self.rcpts if reply.code >= 400)


async def deliver(
    port: int,
    raw: bytes,
    *,
    sender: str = "alice@example.com",
    recipients: list[str],
    host: str = "127.0.0.1",
    timeout: float = 30.0,
) -> Transaction:
    client = aiosmtplib.SMTP(hostname=host, port=port, timeout=timeout, start_tls=False)
    await client.connect()
    try:
        await client.ehlo()
        mail = await client.execute_command(b"MAIL", f"FROM:<{sender}>".encode())
        transaction = Transaction(Reply(mail.code, mail.message))
        if mail.code >= 400:
            return transaction
        for recipient in recipients:
            reply = await client.execute_command(b"RCPT", f"TO:<{recipient}>".encode())
            transaction.rcpts.append(Reply(reply.code, reply.message))
        if not any(reply.code < 400 for reply in transaction.rcpts):
            return transaction
        try:
            data = await client.data(raw)
            transaction.data = Reply(data.code, data.message)
        except aiosmtplib.SMTPResponseException as exc:
            transaction.data = Reply(exc.code, exc.message)
        return transaction
    finally:
        try:
            await client.quit()
        except aiosmtplib.SMTPException:
            client.close()
