"""The ``mail2fax`` command. The only module that reads argv and sets up logging."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from collections.abc import Sequence

from mail2fax import logs
from mail2fax.app import Daemon
from mail2fax.errors import ConfigError, Mail2FaxError
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
    print(json.dumps(masked(settings), indent=2, sort_keys=True))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mail2fax", description="SMTP to fax bridge for RingCentral")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="run the daemon in the foreground")
    commands.add_parser("check-config", help="validate the settings and print them, secrets masked")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
        if args.command == "serve":
            return _serve(settings)
        if args.command == "check-config":
            return _check_config(settings)
    except ConfigError as exc:
        print(f"mail2fax: configuration error: {exc}", file=sys.stderr)
        return 2
    except Mail2FaxError as exc:
        print(f"mail2fax: {exc}", file=sys.stderr)
        return 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
