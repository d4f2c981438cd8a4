"""The ``mail2fax`` command. The only module that reads argv and sets up logging.

Exit status: 0 done, 1 the command failed (one line on stderr says why), 2 the settings or the
command line are wrong.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from mail2fax import logs
from mail2fax.app import Daemon, check_settings
from mail2fax.commands import Report, preview, probe, queue, send, store
from mail2fax.commands.queue import parse_duration
from mail2fax.commands.security import hash_password_command
from mail2fax.errors import ConfigError, Mail2FaxError
from mail2fax.models import JobState
from mail2fax.settings import Settings, load_settings, masked


def _serve(settings: Settings) -> int:
    logs.configure(settings.log_level, settings.log_format)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await Daemon(settings).run(stop)

    try:
        import uvloop  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        asyncio.run(main())
    else:
        uvloop.run(main())
    return 0


def _check_config(settings: Settings) -> int:
    check_settings(settings)
    print(json.dumps(masked(settings), indent=2, sort_keys=True))
    return 0


def _hash_password(args: argparse.Namespace) -> int:
    password = None
    if args.stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    try:
        print(hash_password_command(password))
    except ConfigError as exc:
        print(f"mail2fax: {exc}", file=sys.stderr)
        return 1
    return 0


async def _operate(args: argparse.Namespace, settings: Settings) -> Report:
    """Run one operator command and return its Report."""
    if args.command == "send":
        return await send.send_fax(
            settings,
            numbers=args.to,
            files=args.files,
            cover_text=args.cover,
            sender=args.sender,
            resolution=args.resolution,
            send_at=args.send_at,
        )
    if args.command == "test-backend":
        return await probe.test_backend(settings)
    if args.command == "render":
        return await preview.render_mail(settings, args.mail, args.output)
    if args.command == "store":
        return await store.copy_store(settings, args.source, args.target)
    action = args.queue_command
    if action == "list":
        states = [JobState(state) for state in args.state] if args.state else None
        return await queue.list_jobs(settings, states, args.limit)
    if action == "show":
        return await queue.show_job(settings, args.job)
    if action == "retry":
        return await queue.retry_job(settings, args.job, force=args.force)
    if action == "hold":
        return await queue.hold_job(settings, args.job)
    if action == "release":
        return await queue.release_job(settings, args.job)
    if action == "cancel":
        return await queue.cancel_job(settings, args.job)
    if action == "purge":
        return await queue.purge_jobs(settings, args.older_than)
    raise AssertionError(f"unhandled command {args.command} {action}")


def _print(report: Report, as_json: bool) -> None:
    if as_json:
        print(json.dumps(report.data, indent=2, ensure_ascii=False))
    else:
        print(report.text)


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
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mail2fax", description="SMTP to fax bridge for RingCentral")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="operator commands: log what they do to stderr"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("serve", help="run the daemon in the foreground")
    commands.add_parser("check-config", help="validate the settings and print them, secrets masked")

    as_json = argparse.ArgumentParser(add_help=False)
    as_json.add_argument("--json", action="store_true", help="print JSON for scripts instead of text")

    jobs = commands.add_parser("queue", help="list, inspect and steer jobs (safe while the daemon runs)")
    actions = jobs.add_subparsers(dest="queue_command", required=True, metavar="ACTION")
    listing = actions.add_parser("list", parents=[as_json], help="list jobs, newest first")
    listing.add_argument(
        "--state",
        action="append",
        choices=[state.value for state in JobState],
        metavar="STATE",
        help="only jobs in this state (repeat for several): " + ", ".join(s.value for s in JobState),
    )
    listing.add_argument("--limit", type=_limit, default=100, help="at most this many jobs (100)")
    show = actions.add_parser(
        "show", parents=[as_json], help="one job: recipients, documents, history, errors, fax id"
    )
    show.add_argument("job", metavar="JOB", help="the job id")
    retry = actions.add_parser(
        "retry", parents=[as_json], help="queue a failed, unknown, cancelled, deferred or held job again now"
    )
    retry.add_argument("job", metavar="JOB")
    retry.add_argument(
        "--force", action="store_true", help="also retry an unknown job (its fax may have gone out)"
    )
    for name, words in (
        ("hold", "stop a queued or deferred job until it is released"),
        ("release", "let a held job go out now"),
        ("cancel", "cancel a job that has not gone out (a scheduled fax is deleted at RingCentral)"),
    ):
        action = actions.add_parser(name, parents=[as_json], help=words)
        action.add_argument("job", metavar="JOB")
    purge = actions.add_parser("purge", parents=[as_json], help="forget finished jobs older than a duration")
    purge.add_argument(
        "--older-than",
        type=_duration,
        required=True,
        metavar="DURATION",
        help="finished longer ago than this: 30d, 12h, 90m, 45s",
    )

    sending = commands.add_parser(
        "send", parents=[as_json], help="queue a fax without SMTP and print its job id"
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
        parents=[as_json],
        help="show what a mail would be faxed as (documents, types, pages) and write them to a directory",
    )
    rendering.add_argument("mail", type=Path, metavar="MAIL.eml", help="the mail, as sent (RFC 5322)")
    rendering.add_argument(
        "--output",
        type=Path,
        metavar="DIR",
        help="where to write the documents, in fax order (default: MAIL.fax next to where you are)",
    )

    stores = commands.add_parser("store", help="move the queue between stores")
    store_actions = stores.add_subparsers(dest="store_command", required=True, metavar="ACTION")
    copying = store_actions.add_parser(
        "copy",
        parents=[as_json],
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
        parents=[as_json],
        help="log in to the fax service and report what it allows, without sending anything",
    )
    hashing = commands.add_parser("hash-password", help="print the hash of an SMTP AUTH password")
    hashing.add_argument(
        "--stdin", action="store_true", help="read the password from the first line of standard input"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "hash-password":
        return _hash_password(args)
    try:
        # Rendering a mail sends nothing, so it works without a fax backend configured.
        settings = load_settings(**({"backend": "dry-run"} if args.command == "render" else {}))
        if args.command == "serve":
            return _serve(settings)
        if args.command == "check-config":
            return _check_config(settings)
        # The reason for a failure is the one line printed below; -v shows the work behind it.
        logs.configure("INFO" if args.verbose else "CRITICAL", settings.log_format)
        report = asyncio.run(_operate(args, settings))
    except ConfigError as exc:
        print(f"mail2fax: configuration error: {exc}", file=sys.stderr)
        return 2
    except Mail2FaxError as exc:
        print(f"mail2fax: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("mail2fax: interrupted", file=sys.stderr)
        return 130
    _print(report, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
