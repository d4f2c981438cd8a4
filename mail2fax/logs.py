"""Logging set up once, at the entry point, to stderr: text or JSON, one event per line.

Call sites use the standard ``logging`` module and pass the facts of an event as fields:
``log.info("job state changed", extra={"job": job.id, "state": "sent"})``. structlog's
``ProcessorFormatter`` renders every record, ours and the libraries' alike:

- text: ``2026-11-23 13:05:12,118 INFO mail2fax.store: job state changed job=9f2c41d07a3b state=sent``
  (the ``job`` field first, so ``grep job=…`` finds a job's story);
- JSON: ``{"time": …, "level": …, "logger": …, "message": …, "job": …, "state": …}``, a traceback
  in its ``exception`` field.

Any value may come from outside (a sender, a HELO name, an error text from a fax service), so
every message and field is escaped here, centrally: control characters, line and paragraph
separators and other invisible characters are written as ``\\n``, ``\\x1b``, ``\\u2028``.
One line of output is always one event. A traceback in text format continues on lines that
start with white space, never with a timestamp.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import structlog
from structlog.typing import EventDict, WrappedLogger

# Text format: these fields come first, in this order; the others follow as given.
LEADING_FIELDS = ("job", "state")
_META = ("time", "level", "logger", "event", "exception")
_BARE_VALUE = re.compile(r'[^\s"=]+')
_TRACEBACK_INDENT = "    "


def escape(text: str) -> str:
    """``text`` with every character that is not printable written as an escape, as ``repr`` does."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else _escaped(char) for char in text)


def _escaped(char: str) -> str:
    code = ord(char)
    if char in "\n\r\t":
        return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}[char]
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _escape_lines(text: str) -> str:
    """A traceback: its line breaks kept, everything else escaped."""
    return "\n".join(escape(line) for line in text.rstrip("\n").split("\n"))


def _safe(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return escape(value)
    if isinstance(value, list | tuple | set | frozenset):
        return [_safe(item) for item in value]
    return escape(str(value))


# What a LogRecord carries besides the fields a call site passed with ``extra``: its own
# attributes, and those that formatters add to it (another handler may have formatted it first).
_RECORD_ATTRIBUTES = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


def _add_fields(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    record: logging.LogRecord = event["_record"]
    for key, value in record.__dict__.items():
        if key not in _RECORD_ATTRIBUTES and not key.startswith("_"):
            event[key] = value
    return event


def _describe_record(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    record: logging.LogRecord = event["_record"]
    event["time"] = record.created
    event["level"] = record.levelname
    event["logger"] = record.name
    return event


def _escape_everything(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    for key, value in event.items():
        event[key] = _escape_lines(value) if key == "exception" else _safe(value)
    return event


def _fields(event: Mapping[str, Any]) -> Iterable[tuple[str, Any]]:
    for key in LEADING_FIELDS:
        if key in event:
            yield key, event[key]
    for key, value in event.items():
        if key not in _META and key not in LEADING_FIELDS:
            yield key, value


def _text_value(value: Any) -> str:
    if value is None:
        return "-"
    text = ",".join(str(item) for item in value) if isinstance(value, list) else str(value)
    if _BARE_VALUE.fullmatch(text):
        return text
    return '"' + text.replace('"', '\\"') + '"'


def render_text(_: WrappedLogger, __: str, event: EventDict) -> str:
    created = float(event["time"])
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(created)) + f",{int(created % 1 * 1000):03d}"
    words = [event["event"]] if event.get("event") else []
    words.extend(f"{key}={_text_value(value)}" for key, value in _fields(event))
    line = f"{stamp} {event['level']} {event['logger']}: {' '.join(words)}"
    if event.get("exception"):
        line += "\n" + "\n".join(_TRACEBACK_INDENT + part for part in event["exception"].split("\n"))
    return line


def render_json(_: WrappedLogger, __: str, event: EventDict) -> str:
    entry: dict[str, Any] = {
        "time": datetime.fromtimestamp(float(event["time"]), UTC).isoformat(timespec="milliseconds"),
        "level": event["level"],
        "logger": event["logger"],
        "message": event.get("event", ""),
    }
    entry.update(_fields(event))
    if event.get("exception"):
        entry["exception"] = event["exception"]
    return json.dumps(entry, ensure_ascii=False)


def formatter(fmt: str) -> logging.Formatter:
    """The formatter for ``MAIL2FAX_LOG_FORMAT`` (``text`` or ``json``)."""
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[_add_fields],
        processors=[
            _describe_record,
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            _escape_everything,
            render_json if fmt == "json" else render_text,
        ],
    )


def configure(level: str, fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(fmt))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # aiosmtpd logs every SMTP line at INFO, mail contents included; keep only its warnings.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
