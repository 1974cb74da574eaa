"""Text from data (definitions, comments, reasons, targets, op output) made safe to show on a terminal.

Such text may hold escape sequences that would set the window title (OSC 0), write the clipboard
(OSC 52) or clear the screen (CSI 2J). `visible` replaces every control character with a visible form,
so what reaches the terminal is printable text and the sequence reads as what it is: ESC shows as
``^[`` (so CSI 2J reads ``^[[2J``), the other C0 controls as ``^@``…``^_``, DEL as ``^?`` and the C1
controls (U+0080–U+009F) as ``\\x80``…``\\x9f``. The result holds no control character but those kept,
and `visible` of it changes nothing more.

Invisible characters that change how a line reads are shown too, as ``\\u202e``: the bidirectional
overrides, embeddings, isolates and marks (a name with U+202E reverses the rest of its line on a terminal
that does bidi, so "deploy-prod" can read as another name), zero-width spaces and word joiners and the
byte-order mark (two names that look alike), and the line and paragraph separators (which some
programs take for line breaks). The zero-width joiners stay: emoji and several scripts need them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["counted", "is_visible", "visible"]

_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b\u200e\u200f\u2028-\u202e\u2060\u2066-\u2069\ufeff]")


def _shown(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x20:
        return "^" + chr(code + 0x40)
    if code == 0x7F:
        return "^?"
    if code <= 0x9F:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def visible(text: str, keep: str = "") -> str:
    """`text` with every C0/C1 control character, DEL and invisible character that changes how a line
    reads shown visibly, except the characters of `keep` (say "\\n" for text of several lines, "\\n\\t"
    for a log)."""
    if keep:
        return _CONTROLS.sub(lambda match: match.group() if match.group() in keep else _shown(match), text)
    return _CONTROLS.sub(_shown, text)


def is_visible(text: str, keep: str = "") -> bool:
    """Whether `text` holds no control character but those of `keep`."""
    return all(char in keep for char in _CONTROLS.findall(text))


def counted(n: int, singular: str, plural: str | None = None) -> str:
    """`n` with its noun in English, as the engine's audit and notification texts say it: "1 job",
    "3 jobs" ("job(s)" reads as lazy). The i18n layer sits above the engine; these texts are English."""
    return f"{n} {singular if n == 1 else plural or singular + 's'}"


def trapped_op_text(trap: Mapping[str, Any] | None) -> str | None:
    """A trap's op (a job's `trap` JSON) as the dashboard names it: `check [n2]` for a target's op, so the
    operator knows which host to look at, `check` for a job-wide one; None without one."""
    if not trap or trap.get("op") is None:
        return None
    return f"{trap['op']} [{trap['target']}]" if trap.get("target") else str(trap["op"])
