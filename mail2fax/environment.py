"""Where the settings come from: the environment and one env file, and the names that are not settings.

The env file is ``--env-file PATH``, else ``MAIL2FAX_ENV_FILE``, else ``.env`` in the working
directory when there is one. Variables in the environment win over the file. Every
``MAIL2FAX_*`` name in either place that is not a setting is reported with the closest real
name, so a misspelt variable is never silently ignored.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from typing import Any

from dotenv import dotenv_values
from pydantic import BaseModel

from mail2fax.errors import ConfigError
from mail2fax.settings import ENV_PREFIX, Settings, load_settings

ENV_FILE_VARIABLE = "MAIL2FAX_ENV_FILE"
DEFAULT_ENV_FILE = Path(".env")
# Settings that are maps take one variable per key as well: MAIL2FAX_AUTH__USERS__<user>.
MAP_PREFIXES = ("MAIL2FAX_AUTH__USERS__",)


def setting_variables() -> frozenset[str]:
    """Every variable the settings read: top-level fields and SECTION__FIELD."""
    names: set[str] = set()
    for name, field in Settings.model_fields.items():
        top = ENV_PREFIX + (field.alias or name).upper()
        names.add(top)
        section = field.annotation
        if isinstance(section, type) and issubclass(section, BaseModel):
            for sub_name, sub_field in section.model_fields.items():
                names.add(f"{top}__{(sub_field.alias or sub_name).upper()}")
    return frozenset(names)


def known_variables() -> frozenset[str]:
    """The settings' variables and the one that names the env file."""
    return setting_variables() | {ENV_FILE_VARIABLE}


@dataclass(frozen=True, slots=True)
class UnknownVariable:
    name: str
    where: str
    closest: str | None

    def __str__(self) -> str:
        hint = f"; did you mean {self.closest}?" if self.closest else ""
        return f"{self.name} ({self.where}) is not a mail2fax setting and is ignored{hint}"


def unknown_variables(names: Iterable[str], where: str) -> list[UnknownVariable]:
    """The ``MAIL2FAX_*`` names among ``names`` that no setting reads, each with its closest match."""
    known = known_variables()
    found = []
    for name in sorted({name.upper() for name in names if name.upper().startswith(ENV_PREFIX)}):
        if name in known or name.startswith(MAP_PREFIXES):
            continue
        matches = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        found.append(UnknownVariable(name, where, matches[0] if matches else None))
    return found


@dataclass(frozen=True, slots=True)
class Loaded:
    """The checked settings, the env file they were read with, and the names that are not settings."""

    settings: Settings
    env_file: Path | None
    unknown: list[UnknownVariable]


def choose_env_file(given: Path | None, environ: Mapping[str, str]) -> tuple[Path | None, bool]:
    """The env file to read, and whether the operator named it (then it must exist)."""
    if given is not None:
        return given, True
    named = environ.get(ENV_FILE_VARIABLE, "").strip()
    if named:
        return Path(named), True
    return (DEFAULT_ENV_FILE, False) if DEFAULT_ENV_FILE.is_file() else (None, False)


def _file_names(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"env file {path}: cannot read it: {reason}") from None
    return [name for name in dotenv_values(stream=StringIO(text)) if name]


def load(
    env_file: Path | None = None, *, environ: Mapping[str, str] | None = None, **overrides: Any
) -> Loaded:
    """Read the settings from the environment and the env file; ConfigError names what is wrong.

    ``overrides`` are settings given by the command itself, which win over both.
    """
    environ = os.environ if environ is None else environ
    path, named = choose_env_file(env_file, environ)
    unknown = unknown_variables(environ, "in the environment")
    if path is not None:
        if named and not path.is_file():
            raise ConfigError(f"env file {path}: no such file")
        unknown += unknown_variables(_file_names(path), f"in {path}")
    try:
        settings = load_settings(_env_file=path, **overrides)
    except ConfigError as exc:
        raise ConfigError(_with_hint(str(exc), unknown)) from None
    return Loaded(settings, path, unknown)


def _with_hint(message: str, unknown: list[UnknownVariable]) -> str:
    """A missing or bad variable is often a misspelt one: say so in the same line."""
    for variable in unknown:
        if variable.closest and message.startswith(variable.closest):
            return f"{message} ({variable.name} is set {variable.where}: a misspelling?)"
    for variable in unknown:
        if message.startswith(variable.name) and variable.closest:
            return f"{message}; did you mean {variable.closest}?"
    return message
