"""What the benchmark ran on: machine, operating system, Python and the versions that matter."""

from __future__ import annotations

import os
import platform
import sqlite3
import subprocess
import sys
from importlib import metadata
from pathlib import Path

PACKAGES = ("aiosmtpd", "aiosqlite", "python-magic", "httpx", "pydantic", "uvloop")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _libmagic() -> str:
    try:
        import magic

        return str(magic.version())  # type: ignore[no-untyped-call,unused-ignore]
    except (ImportError, AttributeError, OSError):
        return "unknown"


def _git(root: Path) -> str:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "mail2fax"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + (" (mail2fax/ has uncommitted changes)" if dirty else "")


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def describe(root: Path, loop: str, data_root: Path) -> list[tuple[str, str]]:
    return [
        ("CPU", f"{_cpu_model()}, {os.cpu_count()} logical cores"),
        ("memory", _memory()),
        ("OS", f"{platform.system()} {platform.release()}"),
        ("Python", f"{platform.python_implementation()} {sys.version.split()[0]}"),
        ("event loop", loop),
        ("SQLite", sqlite3.sqlite_version),
        ("libmagic", _libmagic()),
        *((package, _version(package)) for package in PACKAGES),
        ("mail2fax commit", _git(root)),
        ("data directories on", str(data_root)),
    ]
