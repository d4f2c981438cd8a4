"""One log line is one event, whatever a stranger sends: the daemon's real output, text and JSON."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import smtplib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mail2fax import logs
from tests.capture import CaptureRelay
from tests.daemon_process import DaemonProcess, environment
from tests.mailbuilder import mail
from tests.raw_smtp import RawSMTP
from tests.samples.other import pdf_bytes
from tests.smtp_client import queued_job

EVENT_START = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) \S+: ")
FORGED_TEXT = "2026-01-01 00:00:00,000 INFO mail2fax.store: job state changed job=forged0000 state=sent"
FORGED_JSON = '{"time": "2026-01-01T00:00:00.000+00:00", "level": "INFO", "job": "forged0000"}'
# Every character that ends a line somewhere: str.splitlines, journald, a terminal, a log shipper.
LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"


def q_encoded(text: str) -> str:
    """``text`` as the body of an RFC 2047 Q encoded word: every byte but letters and digits escaped."""
    return "".join(chr(b) if chr(b).isascii() and chr(b).isalnum() else f"={b:02X}" for b in text.encode())


def events_in(output: str, fmt: str) -> list[str | dict[str, object]]:
    """Split the daemon's output into events, failing on any line that is neither an event nor part of one."""
    events: list[str | dict[str, object]] = []
    for line in output.splitlines():  # splits at every Unicode line boundary, not only at \n
        if fmt == "json":
            entry = json.loads(line)
            assert {"time", "level", "logger", "message"} <= entry.keys(), line
            events.append(entry)
        elif EVENT_START.match(line):
            events.append(line)
        else:
            assert line[:1].isspace() and events, f"a line that is no event: {line!r}"
    return events


# -- the formatter, for any input --------------------------------------------------------------

hostile_text = st.text(
    st.one_of(st.characters(), st.sampled_from(LINE_BREAKS + "\x1b\x00\u202e\ud800\"'=\\ ")), max_size=40
)


@given(message=hostile_text, value=hostile_text, problem=hostile_text)
@settings(max_examples=300, deadline=None)
@pytest.mark.parametrize("fmt", ["text", "json"])
def test_any_value_stays_inside_its_event(fmt: str, message: str, value: str, problem: str) -> None:
    formatter = logs.formatter(fmt)
    plain = logging.LogRecord("mail2fax.test", logging.INFO, __file__, 1, "sender=%s", (message,), None)
    plain.__dict__.update({"job": value, "peer": value, "detail": [value, 3]})
    try:
        raise ValueError(problem)
    except ValueError as exc:
        failed = logging.LogRecord(
            "mail2fax.test", logging.ERROR, __file__, 1, "failed", (), (type(exc), exc, exc.__traceback__)
        )
    for record in (plain, failed):
        output = formatter.format(record)
        events = events_in(output, fmt)
        assert len(events) == 1, output
        assert not any(char in output for char in LINE_BREAKS[1:]), output
    shown = events_in(formatter.format(plain), fmt)[0]
    if fmt == "json":
        assert isinstance(shown, dict)
        assert shown["message"] == "sender=" + logs.escape(message)
        assert shown["job"] == logs.escape(value)
    else:
        assert isinstance(shown, str)
        assert "\n" not in shown
        assert shown.index("job=") < shown.index("peer=")


def test_escapes_read_like_python_literals() -> None:
    assert logs.escape("a\nb\r\tc\x1b[31m\u2028\u202e\ud83d\U000e0001") == (
        "a\\nb\\r\\tc\\x1b[31m\\u2028\\u202e\\ud83d\\U000e0001"
    )
    assert logs.escape("José <ü@example.com>") == "José <ü@example.com>"


def test_text_keeps_the_job_and_state_shape_and_json_has_fields() -> None:
    record = logging.LogRecord("mail2fax.store", logging.INFO, __file__, 1, "job state changed", (), None)
    record.__dict__.update({"attempt": 1, "state": "failed", "job": "9f2c41d07a3b", "detail": "Line busy"})
    text = logs.formatter("text").format(record)
    assert text.endswith(
        ' INFO mail2fax.store: job state changed job=9f2c41d07a3b state=failed attempt=1 detail="Line busy"'
    )
    entry = json.loads(logs.formatter("json").format(record))
    assert entry["message"] == "job state changed"
    assert (entry["job"], entry["state"], entry["attempt"], entry["detail"]) == (
        "9f2c41d07a3b",
        "failed",
        1,
        "Line busy",
    )


# -- the running daemon ------------------------------------------------------------------------


def send_with_smtplib(port: int, sender: str) -> tuple[int, bytes]:
    """Python's own SMTP client sends the encoded-word sender as it is; the reply to DATA (or MAIL).

    The mail asks for no status mail: what a status mail makes of such a sender is not this test's subject.
    """
    raw = bytes(
        mail(
            sender="alice@example.com",
            headers={"Auto-Submitted": "auto-generated"},
            attachments=[("a.pdf", pdf_bytes(), "application/pdf")],
        )
    )
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.ehlo("client.test")
        code, text = client.mail(sender)
        if code != 250:
            return code, text
        code, text = client.rcpt("14155551212@fax.local")
        if code != 250:
            return code, text
        return client.data(raw)


@pytest.mark.parametrize("fmt", ["text", "json"])
async def test_a_sender_cannot_forge_log_lines(tmp_path: Path, relay: CaptureRelay, fmt: str) -> None:
    forged_sender = (
        f'"=?utf-8?q?a{q_encoded(chr(10) + FORGED_TEXT + chr(0x2028) + FORGED_JSON)}?="@example.com'
    )
    forged_user = f"scanner\u2028{FORGED_TEXT}\n{FORGED_JSON}"
    env = environment(
        tmp_path / "data",
        relay.port,
        MAIL2FAX_LOG_FORMAT=fmt,
        MAIL2FAX_SMTP__ALLOW_PLAIN_AUTH_FROM_TRUSTED="true",
    )
    daemon = DaemonProcess(env, tmp_path)
    port = await daemon.start()
    try:
        code, reply = await asyncio.to_thread(send_with_smtplib, port, forged_sender)
        if code == 250:
            await daemon.wait_for_line(queued_job(reply.decode()))
        client = await RawSMTP.connect(port)
        await client.ehlo()
        assert (await client.auth_plain(forged_user, "wrong")).code == 535
        await client.close()
        await daemon.wait_for_line("smtp auth failed")
    finally:
        await daemon.terminate()

    output = daemon.log_text()
    events = events_in(output, fmt)
    if fmt == "json":
        assert not any(isinstance(e, dict) and e.get("job") == "forged0000" for e in events)
        failed = [
            e for e in events if isinstance(e, dict) and str(e["message"]).startswith("smtp auth failed")
        ]
        assert [e["user"] for e in failed] == [logs.escape(forged_user[:64])]
        senders = [e["sender"] for e in events if isinstance(e, dict) and e["message"] == "job queued"]
    else:
        assert not any(line.startswith(FORGED_TEXT[:23]) for line in output.splitlines())
        assert f'user="scanner\\u2028{FORGED_TEXT[:10]}' in output
        senders = [line for line in output.splitlines() if "job queued" in line]
    if code == 250:
        # Accepted: the store logged the sender that aiosmtpd decoded, with its line break escaped.
        assert len(senders) == 1
        assert f"a\\n{FORGED_TEXT}\\u2028{{" in str(senders[0]).replace('\\"', '"')
