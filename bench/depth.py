"""Intake against queue depth: the same 8-session load with 0, 10,000 and 100,000 jobs queued."""

from __future__ import annotations

from dataclasses import dataclass

from bench.intake import IntakeRound
from bench.procs import SINGLE
from bench.stats import median, percentile, spread


@dataclass
class DepthRound:
    queued: int
    round_number: int
    intake: IntakeRound


def report(rounds: list[DepthRound], depths: tuple[int, ...]) -> list[str]:
    lines = [
        "### Intake against queue depth (8 sessions, small mails)",
        "",
        "The queue is filled before the daemon starts (`bench/fill.py`): jobs from the same sender as "
        "the load, created over the last hour, all due; RingCentral's limits (10 a minute) keep them "
        'queued. Median over rounds (min-max); "vs empty" pairs each round with the same round\'s '
        "empty queue.",
        "",
        "| queued jobs | system | mails/s | p50 ms | p99 ms | server CPU ms/mail | mails/s vs empty |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    systems = sorted({r.intake.system for r in rounds}, key=("before", SINGLE, "mail2fax").index)
    for queued in depths:
        for system in systems:
            these = [r for r in rounds if r.queued == queued and r.intake.system == system]
            if not these:
                continue
            empty = {
                r.round_number: r.intake.rate for r in rounds if r.queued == 0 and r.intake.system == system
            }
            pairs = [r.intake.rate / empty[r.round_number] for r in these if r.round_number in empty]
            ratio = f"{median(pairs):.2f} ({min(pairs):.2f}-{max(pairs):.2f})" if pairs and queued else ""
            lines.append(
                f"| {queued:,} | {system} | {spread([r.intake.rate for r in these], 0)} "
                f"| {spread([percentile(r.intake.latencies, 0.5) for r in these], 2, 1000)} "
                f"| {spread([percentile(r.intake.latencies, 0.99) for r in these], 2, 1000)} "
                f"| {spread([r.intake.cpu_per_mail for r in these], 2, 1000)} | {ratio} |"
            )
    return lines
