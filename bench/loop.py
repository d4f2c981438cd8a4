"""The one command line the benchmark's servers share: which event loop to run them on."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Coroutine
from typing import Any


def run_on_chosen_loop(description: str | None, serve: Callable[[], Coroutine[Any, Any, None]]) -> None:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    args = parser.parse_args()
    if args.loop == "uvloop":
        import uvloop  # type: ignore[import-not-found,unused-ignore]

        uvloop.run(serve())
    else:
        asyncio.run(serve())
