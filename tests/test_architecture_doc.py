"""docs/architecture.md shows the table of moves exactly as models.TRANSITIONS has it."""

from __future__ import annotations

import re
from pathlib import Path

from mail2fax.models import TRANSITIONS

DOC = Path(__file__).resolve().parent.parent / "docs" / "architecture.md"


def documented_moves() -> list[tuple[str, str, str, str]]:
    text = DOC.read_text(encoding="utf-8")
    table = text[text.index("<!-- moves -->") : text.index("<!-- /moves -->")]
    rows = re.findall(r"^\| ([a-z]+) \| ([a-z]+) \| ([a-z ()]+) \| ([^|]+) \|$", table, flags=re.MULTILINE)
    return [
        (source, target, actor, why.strip()) for source, target, actor, why in rows[1:]
    ]  # past the header


def test_the_documented_moves_are_the_enforced_moves() -> None:
    enforced = [
        (
            move.source.value,
            move.target.value,
            move.actor.value + (" (forced)" if move.forced else ""),
            move.why,
        )
        for move in TRANSITIONS
    ]
    assert documented_moves() == enforced
