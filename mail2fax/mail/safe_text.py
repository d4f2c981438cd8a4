"""Outside text made safe to repeat: in an SMTP reply (printable ASCII) or a mail header (one line)."""

from __future__ import annotations

import unicodedata

# Characters that end or hide a line in some reader: controls, format characters (bidi overrides,
# zero-width joiners), and the Unicode line and paragraph separators.
_INVISIBLE = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})


def for_reply(text: str, limit: int = 64) -> str:
    """Printable ASCII fit for an SMTP reply: accents dropped, each run of white space (line
    breaks included) one space, any other character ``?``; cut with ``...`` past ``limit``."""
    decomposed = unicodedata.normalize("NFKD", text[: limit * 4])
    kept = "".join(c for c in decomposed if not unicodedata.combining(c))
    spaced = " ".join("".join(" " if c.isspace() else c for c in kept).split())
    shown = "".join(c if " " <= c <= "~" else "?" for c in spaced)
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


def in_angles(address: str) -> str:
    """An envelope address for a reply: ``<…>``, whether or not it came with its brackets."""
    bare = address[1:-1] if address.startswith("<") and address.endswith(">") else address
    return f"<{for_reply(bare)}>"


def one_line(text: str | None, limit: int | None = None) -> str:
    """Text for a mail header or one line of a body: any script, but no control, format or
    separator character; each run of white space one space; cut with ``...`` past ``limit``."""
    if not text:
        return ""
    visible = "".join(
        " " if c.isspace() else c for c in text if c.isspace() or unicodedata.category(c) not in _INVISIBLE
    )
    line = " ".join(visible.split())
    if limit is not None and len(line) > limit:
        return line[: limit - 3].rstrip() + "..."
    return line
