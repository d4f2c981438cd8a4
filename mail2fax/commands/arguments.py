"""The command line of ``mail2fax``: every command, its arguments and its help."""

from __future__ import annotations

import argparse
from datetime import timedelta
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import NoReturn

from mail2fax.commands.moves import MOVES
from mail2fax.commands.queue import parse_duration
from mail2fax.models import JobState


def package_version() -> str:
    try:
        return version("mail2fax")
    except PackageNotFoundError:
        return "unknown"


MOST_JOBS_LISTED = 1_000_000


def _duration(text: str) -> timedelta:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number")
    if value > MOST_JOBS_LISTED:
        raise argparse.ArgumentTypeError(f"{text!r} is more than {MOST_JOBS_LISTED}")
    return value


class _Parser(argparse.ArgumentParser):
    """argparse, with a mistake on the command line reported in one line (and exit status 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _common(*, top: bool) -> argparse.ArgumentParser:
    """The options every command takes, before or after its name.

    Below the top level they default to SUPPRESS, so that a subcommand without them does not
    overwrite what was given before its name.
    """
    common = _Parser(add_help=False)
    default: dict[str, object] = {} if top else {"default": argparse.SUPPRESS}
    common.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="operator commands: log what they do to stderr",
        **default,  # type: ignore[arg-type]
    )
    common.add_argument(
        "--env-file",
        type=Path,
        metavar="PATH",
        help="read MAIL2FAX_* settings from this file (default: $MAIL2FAX_ENV_FILE, else ./.env)",
        **default,  # type: ignore[arg-type]
    )
    return common


STATE_NAMES = [state.value for state in JobState]


def _add_moves(
    actions: argparse._SubParsersAction[argparse.ArgumentParser], parents: list[argparse.ArgumentParser]
) -> None:
    for move in MOVES.values():
        action = actions.add_parser(move.name, parents=parents, help=move.help)
        action.add_argument("jobs", nargs="*", metavar="JOB", help="job ids")
        choose = action.add_mutually_exclusive_group()
        choose.add_argument(
            "--state",
            action="append",
            choices=[state.value for state in move.sources],
            metavar="STATE",
            help="every job in this state (repeat for several): "
            + ", ".join(state.value for state in move.sources),
        )
        choose.add_argument("--all", action="store_true", help=f"every job that can be {move.past}")
        if move.name == "retry":
            action.add_argument(
                "--force", action="store_true", help="also retry unknown jobs (their fax may have gone out)"
            )


def build_parser() -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = _Parser(
        prog="mail2fax", description="SMTP to fax bridge for RingCentral", parents=[_common(top=True)]
    )
    parser.add_argument("--version", action="version", version=f"mail2fax {package_version()}")
    common = _common(top=False)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("serve", parents=[common], help="run the daemon in the foreground")
    commands.add_parser(
        "check-config",
        parents=[common],
        help="run every check serve runs at start, and print the settings with secrets masked",
    )
    health = commands.add_parser(
        "health",
        parents=[common],
        help="exit 0 if the running daemon answers SMTP (and /healthz says ok), else 1",
    )
    health.add_argument(
        "--external",
        action="store_true",
        help="knock at this host's own network address (as other hosts do), not the listen address",
    )
    health.add_argument("--timeout", type=float, default=5.0, metavar="SECONDS", help="per check (5)")

    as_json: argparse.ArgumentParser = _Parser(add_help=False)
    as_json.add_argument("--json", action="store_true", help="print JSON for scripts instead of text")
    parents = [common, as_json]

    jobs = commands.add_parser(
        "queue", parents=[common], help="list, inspect and steer jobs (safe while the daemon runs)"
    )
    actions = jobs.add_subparsers(dest="queue_command", required=True, metavar="ACTION")
    listing = actions.add_parser("list", parents=parents, help="list open jobs, newest first")
    shown = listing.add_mutually_exclusive_group()
    shown.add_argument(
        "--state",
        action="append",
        choices=STATE_NAMES,
        metavar="STATE",
        help="only jobs in this state (repeat for several): " + ", ".join(STATE_NAMES),
    )
    shown.add_argument("--all", action="store_true", help="finished jobs too")
    listing.add_argument("--limit", type=_limit, default=100, help="at most this many jobs (100)")
    show = actions.add_parser(
        "show", parents=parents, help="one job: recipients, documents, history, errors, fax id"
    )
    show.add_argument("job", metavar="JOB", help="the job id")
    _add_moves(actions, parents)
    actions.add_parser("flush", parents=parents, help="make deferred jobs and postponed status mails due now")
    actions.add_parser(
        "bridges", parents=parents, help="the daemons sharing a PostgreSQL queue, from their heartbeats"
    )
    purge = actions.add_parser(
        "purge", parents=parents, help="forget finished jobs older than a duration whose sender was told"
    )
    purge.add_argument(
        "--older-than",
        type=_duration,
        required=True,
        metavar="DURATION",
        help="finished longer ago than this: 30d, 12h, 90m, 45s",
    )

    sending = commands.add_parser(
        "send", parents=parents, help="queue a fax without SMTP and print its job id"
    )
    sending.add_argument(
        "--to", action="append", required=True, metavar="NUMBER", help="fax number (repeat for several)"
    )
    sending.add_argument("--cover", default="", metavar="TEXT", help="cover page text")
    sending.add_argument(
        "--from",
        dest="sender",
        default="",
        metavar="ADDRESS",
        help="mail the outcome to this address (default: no status mail)",
    )
    sending.add_argument("--resolution", choices=["high", "low"], help="fax resolution")
    sending.add_argument(
        "--send-at",
        metavar="WHEN",
        help="send later, e.g. '2026-12-01 09:00 Europe/Berlin' (as the X-Fax-Send-At header)",
    )
    sending.add_argument(
        "files",
        nargs="+",
        type=Path,
        metavar="FILE",
        help="documents to fax, in order (- reads one from standard input)",
    )

    rendering = commands.add_parser(
        "render",
        parents=parents,
        help="show what a mail would be faxed as (documents, types, pages) and write them to a directory",
    )
    rendering.add_argument("mail", type=Path, metavar="MAIL.eml", help="the mail, as sent (RFC 5322)")
    rendering.add_argument(
        "--output",
        type=Path,
        metavar="DIR",
        help="where to write the documents, in fax order (default: MAIL.fax next to where you are)",
    )

    stores = commands.add_parser("store", parents=[common], help="move the queue between stores")
    store_actions = stores.add_subparsers(dest="store_command", required=True, metavar="ACTION")
    copying = store_actions.add_parser(
        "copy",
        parents=parents,
        help="copy an SQLite queue (jobs, history, documents) into PostgreSQL; run it again after "
        "stopping the old daemon to bring over what changed",
    )
    copying.add_argument(
        "--from", dest="source", type=Path, metavar="SQLITE_PATH", help="default: the data directory's queue"
    )
    copying.add_argument(
        "--to", dest="target", metavar="URL", help="postgresql:// URL (default: MAIL2FAX_DATABASE_URL)"
    )

    commands.add_parser(
        "test-backend",
        parents=parents,
        help="log in to the fax service and report what it allows, without sending anything",
    )
    hashing = commands.add_parser(
        "hash-password", parents=[common], help="print the hash of an SMTP AUTH password"
    )
    hashing.add_argument(
        "--stdin", action="store_true", help="read the password from the first line of standard input"
    )
    return parser
