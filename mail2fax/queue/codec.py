"""How recipients, options and per-recipient results are kept as JSON text in the store."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from mail2fax.models import Cover, FaxOptions, Recipient, RecipientResult, Resolution


def recipients_to_json(recipients: tuple[Recipient, ...]) -> str:
    return json.dumps([{"number": r.number, "name": r.name} for r in recipients])


def recipients_from_json(text: str) -> tuple[Recipient, ...]:
    return tuple(Recipient(item["number"], item.get("name")) for item in json.loads(text))


def options_to_json(options: FaxOptions) -> str:
    data: dict[str, Any] = {
        "resolution": options.resolution.value,
        "cover": {"kind": options.cover.kind, "index": options.cover.index, "name": options.cover.name},
        "send_at": options.send_at.isoformat() if options.send_at else None,
    }
    return json.dumps(data)


def options_from_json(text: str) -> FaxOptions:
    data = json.loads(text)
    cover = data.get("cover") or {}
    send_at = data.get("send_at")
    return FaxOptions(
        resolution=Resolution(data.get("resolution", Resolution.HIGH.value)),
        cover=Cover(kind=cover.get("kind", "account"), index=cover.get("index"), name=cover.get("name")),
        send_at=datetime.fromisoformat(send_at) if send_at else None,
    )


def results_to_json(results: tuple[RecipientResult, ...]) -> str:
    return json.dumps([{"number": r.number, "status": r.status, "error_code": r.error_code} for r in results])


def results_from_json(text: str) -> tuple[RecipientResult, ...]:
    return tuple(
        RecipientResult(item["number"], item["status"], item.get("error_code")) for item in json.loads(text)
    )


def column_value(name: str, value: Any) -> Any:
    """A value for one of the job columns a transition may update, as the store keeps it."""
    if name == "results":
        return results_to_json(value)
    if isinstance(value, datetime):
        return value.timestamp()
    return value
