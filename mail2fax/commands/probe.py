"""``mail2fax test-backend``: check the backend's settings without sending a fax."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from typing import Any

from mail2fax.commands import CommandError, Report
from mail2fax.commands.context import open_backend
from mail2fax.commands.render import table
from mail2fax.settings import Settings


async def test_backend(settings: Settings) -> Report:
    if settings.backend == "dry-run":
        return _dry_run(settings)
    if settings.backend == "faxout":
        raise CommandError(
            "the FaxOut API cannot check credentials without sending a fax; send one test fax "
            "with `mail2fax send` and read its outcome with `mail2fax queue show`"
        )
    async with open_backend(settings) as backend:
        probe = getattr(backend, "probe", None)
        if probe is None:
            raise CommandError(f"the {settings.backend} backend cannot be tested")
        found: dict[str, Any] = dict(await probe())
    may_send, why = may_send_faxes(found)
    found["may_send_faxes"] = may_send
    found["may_send_faxes_reason"] = why
    return Report(_ringcentral_text(found), {"backend": settings.backend, **found})


def _dry_run(settings: Settings) -> Report:
    outbox = settings.outbox_dir
    try:
        outbox.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=outbox):
            pass
    except OSError as exc:
        raise CommandError(f"dry-run: cannot write to the outbox {outbox}: {exc}") from exc
    text = (
        "backend: dry-run (nothing is faxed and nothing needs credentials)\n"
        f"faxes are written to {outbox}, which is writable"
    )
    return Report(text, {"backend": "dry-run", "outbox": str(outbox), "may_send_faxes": True})


def may_send_faxes(probe: Mapping[str, Any]) -> tuple[bool, str]:
    """Whether the extension can send faxes, judged from what the probe read, and why."""
    stated = probe.get("may_send_faxes")
    if isinstance(stated, bool):
        return stated, str(probe.get("may_send_faxes_reason") or "as RingCentral reports")
    status = probe.get("status")
    if status is not None and status != "Enabled":
        return False, f"the extension's status is {status}, not Enabled"
    features = probe.get("service_features")
    if isinstance(features, Mapping):
        for name in ("FaxSending", "Fax"):
            if features.get(name) is False:
                return False, f"the extension's {name} feature is disabled"
    if status == "Enabled":
        return True, "the extension is enabled"
    return False, "RingCentral did not say whether the extension is enabled"


def _seconds(value: object) -> str:
    return f"{value:g}s" if isinstance(value, int | float) else "?"


def _ringcentral_text(found: Mapping[str, Any]) -> str:
    name = found.get("name") or "?"
    lines = [
        f"RingCentral at {found.get('server_url')}: logged in ({found.get('grant')} grant)",
        f"extension {found.get('extension_number') or '?'} ({name}), id {found.get('extension_id') or '?'}, "
        f"status {found.get('status') or '?'}",
        f"may send faxes: {'yes' if found['may_send_faxes'] else 'NO'} ({found['may_send_faxes_reason']})",
        "rate limits (as configured, narrowed by what RingCentral reported):",
    ]
    limits = found.get("rate_limits")
    rows = []
    if isinstance(limits, Mapping):
        for group, state in limits.items():
            if not isinstance(state, Mapping):
                continue
            server = state.get("server") or {}
            said = " ".join(f"{k}={v}" for k, v in server.items()) if isinstance(server, Mapping) else ""
            rows.append(
                [
                    str(group),
                    str(state.get("limit", "?")),
                    _seconds(state.get("window")),
                    _seconds(state.get("wait", 0)),
                    str(state.get("penalties", 0)),
                    said or "-",
                ]
            )
    headers = ["GROUP", "LIMIT", "WINDOW", "WAIT", "429s", "RINGCENTRAL SAYS"]
    lines.extend("  " + line for line in table(headers, rows).split("\n"))
    return "\n".join(lines)
