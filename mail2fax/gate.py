"""Who may send faxes to which numbers, and how many."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from mail2fax.settings import Settings
from mail2fax.stages.intake import Gate
from mail2fax.store import Store


def build_gate(settings: Settings, store: Store, clock: Callable[[], datetime]) -> Gate:
    return Gate()
