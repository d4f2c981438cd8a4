"""API efficiency against the test suite's RingCentral emulator, with the real submit and track stages.

* tracking: with N outstanding faxes, the requests one ``TrackStage.run_once`` makes, by kind;
* pacing: N queued faxes submitted by ``SubmitStage`` under a Heavy limit of L per W seconds,
  the emulator enforcing the same limit: 429s and the submission rate reached.
"""

from __future__ import annotations

import asyncio
import math
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from mail2fax.backends.ringcentral import FAX_PATH, RingCentralBackend
from mail2fax.models import Document, FaxRequest, JobState, Recipient
from mail2fax.queue.base import Store
from mail2fax.queue.sqlite import SqliteStore
from mail2fax.settings import Settings
from mail2fax.stages.alerts import OperatorAlerts
from mail2fax.stages.doorbell import Doorbell
from mail2fax.stages.submit import SubmitStage
from mail2fax.stages.track import TrackStage
from tests.emulator import RingCentralEmulator
from tests.emulator.ringcentral import DEFAULT_LIMITS
from tests.samples.other import pdf_bytes

UNLIMITED = 1_000_000


def utcnow() -> datetime:
    return datetime.now(UTC)


def _settings(rc: RingCentralEmulator, data_dir: Path, **ringcentral: Any) -> Settings:
    return Settings(
        _env_file=None,
        backend="ringcentral",
        data_dir=data_dir,
        ringcentral={
            "server_url": rc.base_url,
            "client_id": "test-client",
            "client_secret": "test-secret",
            "jwt": "test-jwt",
            **ringcentral,
        },
    )


def _kind(method: str, path: str) -> str:
    if path.startswith("/restapi/oauth/"):
        return "token"
    if method == "GET" and path.endswith("/message-store"):
        return "list page"
    if method == "GET" and "/message-store/" in path:
        return "single read"
    if method == "POST" and path.endswith("/fax"):
        return "fax submission"
    return f"{method} {path}"


# A job parked during a benchmark is logged; nobody is mailed.
QUIET = OperatorAlerts(
    None, from_address="mail2fax@bench.test", operator=None, clock=lambda: datetime.now(UTC)
)


async def _enqueue(store: Store, count: int) -> None:
    document = Document("order.pdf", "application/pdf", pdf_bytes(1, "api benchmark"))
    for index in range(count):
        request = FaxRequest(
            sender="scanner@bench.test",
            recipients=(Recipient("+14155551212"),),
            cover_text="",
            documents=(document,),
            message_id=f"<api-{index}@bench.test>",
        )
        await store.enqueue(request, backend="ringcentral", lifetime=86400, now=utcnow())


def _submit_stage(store: Store, backend: RingCentralBackend, settings: Settings) -> SubmitStage:
    return SubmitStage(
        store,
        backend,
        settings=settings.submit,
        retry=settings.retry,
        wakeup=Doorbell(),
        submitted=Doorbell(),
        finished=Doorbell(),
        clock=utcnow,
        alerts=QUIET,
    )


async def _submit_all(stage: SubmitStage, store: Store) -> None:
    while await store.due(utcnow(), 1):
        await stage.run_once()


@dataclass
class TrackingResult:
    outstanding: int
    cold: Counter[str] = field(default_factory=Counter)
    warm: list[Counter[str]] = field(default_factory=list)

    @property
    def expected(self) -> int:
        return 1 + math.ceil(self.outstanding / 1000)

    @property
    def pages(self) -> int:
        return math.ceil(self.outstanding / 1000)


async def tracking(outstanding: int, data_root: Path, warm_cycles: int = 3) -> TrackingResult:
    """Submit ``outstanding`` faxes, then count the requests of tracking cycles, cold and warm."""
    result = TrackingResult(outstanding)
    data_dir = Path(tempfile.mkdtemp(prefix="mail2fax-api-", dir=data_root))
    try:
        async with RingCentralEmulator() as rc, httpx.AsyncClient(timeout=30) as client:
            for group in ("Heavy", "Light", "Auth"):
                rc.set_limit(group, UNLIMITED, 60)
            fast = _settings(rc, data_dir, heavy_limit=UNLIMITED, light_limit=UNLIMITED)
            fast = fast.model_copy(update={"submit": fast.submit.model_copy(update={"batch": 1000})})
            store = await SqliteStore.open(fast.database_path, fast.spool_dir)
            try:
                await _enqueue(store, outstanding)
                setup = RingCentralBackend(fast.ringcentral, client)
                await _submit_all(_submit_stage(store, setup, fast), store)
                await setup.aclose()
                tracked = await store.in_states([JobState.SUBMITTED])
                assert len(tracked) == outstanding, f"{len(tracked)} of {outstanding} faxes submitted"
                # Measure with the production limits and a backend that has no token yet.
                for group, (limit, window) in DEFAULT_LIMITS.items():
                    rc.set_limit(group, limit, window)
                settings = _settings(rc, data_dir)
                backend = RingCentralBackend(settings.ringcentral, client)
                stage = TrackStage(
                    store,
                    backend,
                    settings=settings.track,
                    retry=settings.retry,
                    wakeup=Doorbell(),
                    finished=Doorbell(),
                    clock=utcnow,
                    alerts=QUIET,
                )
                for cycle in range(1 + warm_cycles):
                    before = len(rc.requests)
                    finished = await stage.run_once()
                    assert finished == 0
                    kinds = Counter(_kind(r.method, r.path) for r in rc.requests[before:])
                    if cycle == 0:
                        result.cold = kinds
                    else:
                        result.warm.append(kinds)
                await backend.aclose()
            finally:
                await store.close()
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    return result


@dataclass
class PacingResult:
    faxes: int
    limit: int
    window: float
    elapsed: float
    starts: list[float]
    rejected: int
    submitted: int

    @property
    def rate(self) -> float:
        """Requests per window after the first full window: (N - L) · W / (t_N - t_L)."""
        span = self.starts[-1] - self.starts[self.limit - 1]
        return (len(self.starts) - self.limit) * self.window / span if span > 0 else math.nan

    @property
    def busiest_window(self) -> int:
        """The most requests that started within any ``window`` seconds (client clock)."""
        best = 0
        for index, start in enumerate(self.starts):
            best = max(best, sum(1 for other in self.starts[index:] if other - start < self.window))
        return best


async def pacing(faxes: int, limit: int, window: float, data_root: Path) -> PacingResult:
    data_dir = Path(tempfile.mkdtemp(prefix="mail2fax-api-", dir=data_root))
    starts: list[float] = []

    async def stamp(request: httpx.Request) -> None:
        if request.method == "POST" and request.url.path.endswith(FAX_PATH):
            starts.append(time.monotonic())

    hooks: dict[str, list[Callable[..., Any]]] = {"request": [stamp]}
    try:
        async with (
            RingCentralEmulator() as rc,
            httpx.AsyncClient(timeout=30, event_hooks=hooks) as client,
        ):
            rc.set_limit("Heavy", limit, window)
            settings = _settings(rc, data_dir, heavy_limit=limit, limit_window=window)
            store = await SqliteStore.open(settings.database_path, settings.spool_dir)
            try:
                await _enqueue(store, faxes)
                backend = RingCentralBackend(settings.ringcentral, client)
                stage = _submit_stage(store, backend, settings)
                began = time.monotonic()
                await _submit_all(stage, store)
                elapsed = time.monotonic() - began
                submitted = len(await store.in_states([JobState.SUBMITTED]))
                await backend.aclose()
            finally:
                await store.close()
            rejected = rc.count_429("Heavy")
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    return PacingResult(faxes, limit, window, elapsed, [s - starts[0] for s in starts], rejected, submitted)


async def run(
    data_root: Path, *, quick: bool, window: float = 2.0
) -> tuple[list[TrackingResult], PacingResult]:
    sizes = (10, 100) if quick else (10, 100, 1000, 2500)
    results = [await tracking(n, data_root) for n in sizes]
    paced = await pacing(30 if quick else 100, 10, window, data_root)
    return results, paced


def report(results: list[TrackingResult], paced: PacingResult) -> list[str]:
    lines = [
        "### API efficiency (RingCentral emulator, real submit and track stages)",
        "",
        "Requests made by one `TrackStage.run_once` with N outstanding faxes (listing `perPage=1000`). "
        "*Cold*: the first cycle of a backend with no access token yet; *warm*: the following cycles.",
        "",
        "| outstanding N | issue's 1 + ⌈N/1000⌉ | cold cycle | warm cycles | list pages (⌈N/1000⌉) |",
        "|---:|---:|---|---|---:|",
    ]
    for result in results:

        def shown(kinds: Counter[str]) -> str:
            total = sum(kinds.values())
            detail = ", ".join(
                f"{count} {kind}{'' if count == 1 else 's'}" for kind, count in sorted(kinds.items())
            )
            return f"{total} ({detail})"

        warm = sorted({shown(kinds) for kinds in result.warm})
        lines.append(
            f"| {result.outstanding} | {result.expected} | {shown(result.cold)} | {'; '.join(warm)} "
            f"| {result.pages} |"
        )
    lines += [
        "",
        f"Pacing: {paced.faxes} queued faxes, Heavy limit {paced.limit} per {paced.window:g} s in the "
        "emulator and in the backend's RatePacer.",
        "",
        "| submitted | 429s | elapsed | rate after the first window (per window) | of the limit "
        "| most starts in any window |",
        "|---:|---:|---:|---:|---:|---:|",
        f"| {paced.submitted}/{paced.faxes} | {paced.rejected} | {paced.elapsed:.1f} s | {paced.rate:.2f} "
        f"| {paced.rate / paced.limit:.0%} | {paced.busiest_window} |",
    ]
    return lines


if __name__ == "__main__":
    import sys

    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.gettempdir())
    tracked, paced_result = asyncio.run(run(root, quick=True))
    print("\n".join(report(tracked, paced_result)))
