"""The operator's commands (``mail2fax queue …``, ``send``, ``test-backend``): their logic.

Each command is an async function that takes the settings and its arguments and returns a
:class:`Report`: what to print for a person, and the same facts as data for ``--json``. The
argparse wiring, printing and exit codes live in :mod:`mail2fax.cli`. The commands open the
same SQLite queue as the running daemon, which is safe: every write is one short transaction
and each state change is checked against the state it leaves.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from typing import Any

from mail2fax.errors import Mail2FaxError


@dataclass(frozen=True, slots=True)
class Report:
    """A command's result: ``text`` for people, ``data`` for ``--json``, and what failed.

    ``errors`` holds one line for each part of the command that failed (a bulk move that could
    not move some jobs); the command then exits 1 after printing the rest.
    """

    text: str
    data: Any
    errors: tuple[str, ...] = ()


class CommandError(Mail2FaxError):
    """An operator asked for something that cannot be done (for example cancelling a sent fax)."""


def operator_name() -> str:
    """Who runs the command, for the job's history."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"
