"""Big scans: 1 and 4 concurrent mails of about 28 MB, with a small mail sent on another session meanwhile."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from bench.mails import SmallMails, big_scan
from bench.procs import Server
from bench.smtp_load import Session
from bench.stats import percentile, spread

MiB = 1024 * 1024
PROBE_GAP = 0.01  # seconds between the small mails of the probe session
SETTLE = 1.0  # seconds after the warm-up, for the daemon's first submission (and its imports) to end


@dataclass
class ScanRound:
    system: str
    concurrent: int
    mail_bytes: int
    idle_rss: int
    peak_rss: int
    big: list[float]
    upload: float
    probe: list[float]


async def scans_round(
    server: Server, concurrent: int, pdf: bytes, small: SmallMails, tag: str, repeat: int = 1
) -> ScanRound:
    """Send ``concurrent`` big mails at once (``repeat`` times on each session, one after the
    other) while a probe session keeps sending small mails."""
    scans = [big_scan(f"{tag}-big-{index}", pdf) for index in range(concurrent * repeat)]
    probe = await Session.open(server.port)
    bigs = await asyncio.gather(*(Session.open(server.port) for _ in range(concurrent)))
    probe_times: list[float] = []
    done = asyncio.Event()
    try:
        for index in range(3):
            await probe.send(small.make(f"{tag}-warm-{index}"))
        await asyncio.sleep(SETTLE)
        idle = server.status()["VmRSS"]

        async def keep_probing() -> None:
            index = 0
            while not done.is_set():
                probe_times.append(await probe.send(small.make(f"{tag}-probe-{index}")))
                index += 1
                await asyncio.sleep(PROBE_GAP)

        prober = asyncio.create_task(keep_probing())
        began = time.perf_counter()

        async def send_big(session: Session, index: int) -> list[float]:
            return [await session.send(data) for data in scans[index::concurrent]]

        per_session = await asyncio.gather(*(send_big(session, index) for index, session in enumerate(bigs)))
        times = [seconds for each in per_session for seconds in each]
        upload = time.perf_counter() - began
        done.set()
        await prober
        peak = server.status()["VmHWM"]
    finally:
        await asyncio.gather(probe.close(), *(session.close() for session in bigs))
    return ScanRound(server.name, concurrent, len(scans[0]), idle, peak, list(times), upload, probe_times)


def report(rounds: list[ScanRound], concurrency: tuple[int, ...]) -> list[str]:
    size = rounds[0].mail_bytes / MiB if rounds else 0
    lines = [
        f"### Big scans: {size:.1f} MiB mails (a 20 MiB PDF in base64)",
        "",
        "Median over rounds (min-max). Peak RSS is the server process's VmHWM over the round (a fresh "
        "process each round); *upload+250* is from the first byte of the big mails to the last 250; "
        "each big session sends its mails one after the other (2 each in the default run); the probe "
        "sends small mails on another session, 10 ms apart, for as long as the big ones take.",
        "",
        "| big mails at once | system | idle RSS MiB | peak RSS MiB | big time-to-250 s "
        "| upload+250 s | probe mails | probe p50 ms | probe p99 ms | probe max ms | peak RSS vs bare |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for concurrent in concurrency:
        peaks: dict[str, list[float]] = {}
        for system in ("bare", "before", "mail2fax"):
            these = [r for r in rounds if r.system == system and r.concurrent == concurrent]
            if not these:
                continue
            peaks[system] = [r.peak_rss / MiB for r in these]
            ratio = ""
            if system != "bare" and "bare" in peaks:
                pairs = [m / b for m, b in zip(peaks[system], peaks["bare"], strict=False)]
                ratio = spread(pairs, 2)
            lines.append(
                f"| {concurrent} | {system} | {spread([r.idle_rss / MiB for r in these], 0)} "
                f"| {spread(peaks[system], 0)} | {spread([max(r.big) for r in these], 2)} "
                f"| {spread([r.upload for r in these], 2)} | {spread([len(r.probe) for r in these], 0)} "
                f"| {spread([percentile(r.probe, 0.5) for r in these], 1, 1000)} "
                f"| {spread([percentile(r.probe, 0.99) for r in these], 1, 1000)} "
                f"| {spread([max(r.probe, default=0.0) for r in these], 1, 1000)} | {ratio} |"
            )
    return lines
