"""The ``mail2fax`` command. The only module that reads argv and sets up logging.

Exit status: 0 done, 1 the command failed (one line on stderr says why), 2 the settings or the
command line are wrong.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from mail2fax import logs, preflight
from mail2fax.app import Daemon
from mail2fax.commands import Report, health, moves, preview, probe, queue, send, store
from mail2fax.commands.arguments import build_parser
from mail2fax.commands.security import hash_password_command
from mail2fax.environment import Loaded, load
from mail2fax.errors import ConfigError, Mail2FaxError
from mail2fax.models import JobState
from mail2fax.settings import masked

log = logging.getLogger("mail2fax")

# Whatever the caller's umask, what mail2fax creates (queue, spool, outbox) is the owner's alone.
PRIVATE_UMASK = 0o077


def _event_loop_runner() -> Callable[[Coroutine[Any, Any, None]], None]:
    """uvloop's runner when it is installed, else asyncio's (chosen outside any ``except``)."""
    try:
        import uvloop  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return asyncio.run
    runner: Callable[[Coroutine[Any, Any, None]], None] = uvloop.run
    return runner


def _serve(loaded: Loaded) -> int:
    """Run the daemon. A start-up failure is one log line naming the problem, in either log format."""
    settings = loaded.settings
    logs.configure(settings.log_level, settings.log_format)
    for variable in loaded.unknown:
        log.warning("%s", variable)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        daemon = Daemon(settings)
        loop.add_signal_handler(signal.SIGHUP, daemon.reload)
        await daemon.run(stop)

    try:
        _event_loop_runner()(main())
    except ConfigError as exc:
        log.critical("cannot start: configuration error: %s", exc)
        return 2
    except Mail2FaxError as exc:
        log.critical("cannot start: %s", exc)
        return 1
    return 0


def _check_config(loaded: Loaded) -> int:
    warnings = [str(variable) for variable in loaded.unknown]
    warnings += preflight.check(loaded.settings)
    for warning in warnings:
        print(f"mail2fax: warning: {warning}", file=sys.stderr)
    print(json.dumps(masked(loaded.settings), indent=2, sort_keys=True))
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


async def _operate(args: argparse.Namespace, loaded: Loaded) -> Report:
    """Run one operator command and return its Report."""
    settings = loaded.settings
    if args.command == "health":
        return await health.health(settings, external=args.external, wait=args.timeout)
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
    if args.command == "store":
        return await store.copy_store(settings, args.source, args.target)
    if args.command == "render":
        return await preview.render_mail(settings, args.mail, args.output)
    action = args.queue_command
    if action == "list":
        states = [JobState(state) for state in args.state] if args.state else None
        return await queue.list_jobs(settings, states, args.limit, every=args.all)
    if action == "show":
        return await queue.show_job(settings, args.job)
    if action in moves.MOVES:
        return await moves.move_jobs(
            settings,
            action,
            args.jobs,
            [JobState(state) for state in args.state or ()],
            every=args.all,
            force=getattr(args, "force", False),
        )
    if action == "flush":
        return await queue.flush(settings)
    if action == "purge":
        return await queue.purge_jobs(settings, args.older_than)
    if action == "bridges":
        return await queue.list_bridges(settings)
    raise AssertionError(f"unhandled command {args.command} {action}")


def _print(report: Report, as_json: bool) -> None:
    if as_json:
        print(json.dumps(report.data, indent=2, ensure_ascii=False))
    elif report.text:
        print(report.text)
    for error in report.errors:
        print(f"mail2fax: {error}", file=sys.stderr)


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "queue" and args.queue_command in moves.MOVES:
        if not (args.jobs or args.state or args.all):
            parser.error(f"queue {args.queue_command}: name one or more JOBs, or use --state or --all")
        if args.jobs and (args.state or args.all):
            parser.error(f"queue {args.queue_command}: name JOBs or use --state/--all, not both")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    if args.command == "hash-password":
        return _hash_password(args)
    os.umask(PRIVATE_UMASK)
    try:
        # Rendering a mail sends nothing, so it works without a fax backend configured.
        loaded = load(args.env_file, backend="dry-run") if args.command == "render" else load(args.env_file)
        if args.command == "serve":
            return _serve(loaded)
        if args.command == "check-config":
            return _check_config(loaded)
        # The reason for a failure is the one line printed below; -v shows the work behind it.
        logs.configure("INFO" if args.verbose else "CRITICAL", loaded.settings.log_format)
        report = asyncio.run(_operate(args, loaded))
    except ConfigError as exc:
        print(f"mail2fax: configuration error: {exc}", file=sys.stderr)
        return 2
    except Mail2FaxError as exc:
        print(f"mail2fax: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("mail2fax: interrupted", file=sys.stderr)
        return 130
    _print(report, getattr(args, "json", False))
    return 1 if report.errors else 0


if __name__ == "__main__":
    sys.exit(main())
