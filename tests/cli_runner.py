"""Runs ``python -m mail2fax …`` as a real subprocess with the same settings as a test's daemon.

The settings are handed over as ``MAIL2FAX_*`` variables, the way an operator's shell or
systemd's EnvironmentFile would, and the subprocess is awaited with asyncio so that a daemon
running in the test's event loop keeps working while the command runs.
"""

from __future__ import annotations

import asyncio
import enum
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr

from mail2fax.settings import ENV_PREFIX, Settings

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        return json.loads(self.stdout)

    @property
    def error(self) -> str:
        """The one line a failing command writes to stderr."""
        lines = self.stderr.strip().splitlines()
        assert len(lines) == 1, f"expected one line on stderr, got: {self.stderr!r}"
        return lines[0]


def _plain(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    return str(value)


def _text(value: Any) -> str:
    value = _plain(value)
    if isinstance(value, list | dict):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def settings_environment(settings: Settings) -> dict[str, str]:
    """``settings`` as the MAIL2FAX_* variables that load_settings() reads back to the same values."""
    env: dict[str, str] = {}
    for name, field in Settings.model_fields.items():
        top = ENV_PREFIX + (field.alias or name).upper()
        value = getattr(settings, name)
        if isinstance(value, BaseModel):
            for sub_name, sub_field in type(value).model_fields.items():
                sub_value = getattr(value, sub_name)
                if sub_value is not None:
                    env[f"{top}__{(sub_field.alias or sub_name).upper()}"] = _text(sub_value)
        elif value is not None:
            env[top] = _text(value)
    return env


async def run_cli(
    settings: Settings | None,
    *args: str,
    env: dict[str, str] | None = None,
    stdin: bytes | None = None,
    cwd: Path | None = None,
    timeout: float = 30.0,
) -> Result:
    """Run ``mail2fax args…``; ``env`` adds to (or, with a None settings, is) the MAIL2FAX_* variables."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith(ENV_PREFIX)}
    environment["PYTHONPATH"] = str(ROOT)
    if settings is not None:
        environment.update(settings_environment(settings))
    environment.update(env or {})
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mail2fax",
        *args,
        env=environment,
        cwd=cwd or (settings.data_dir if settings is not None else ROOT),
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(stdin), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return Result(process.returncode, out.decode(), err.decode())
