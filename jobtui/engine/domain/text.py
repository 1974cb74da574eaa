"""Text from data (definitions, comments, reasons, targets, op output) made safe to show on a terminal.

Such text may hold escape sequences that would set the window title (OSC 0), write the clipboard
(OSC 52) or clear the screen (CSI 2J). `visible` replaces every control character with a visible form,
so what reaches the terminal is printable text and the sequence reads as what it is: ESC shows as
``^[`` (so CSI 2J reads ``^[[2J``), the other C0 controls as ``^@``…``^_``, DEL as ``^?`` and the C1
controls (U+0080–U+009F) as ``\\x80``…``\\x9f``. The result holds no control character but those kept,
and `visible` of it changes nothing more.

Invisible characters that change how a line reads are shown too, as ``\\u202e`` (``\\U000e0041`` past
U+FFFF): every format character (Unicode category Cf: the bidirectional overrides, embeddings, isolates
and marks, so a name with U+202E cannot reverse the rest of its line on a terminal that does bidi and read
as another name; zero-width spaces, word joiners, the soft hyphen, the byte-order mark, tags), the line
and paragraph separators (which some programs take for line breaks), and the other characters Unicode
says to draw as nothing (default ignorable: the combining grapheme joiner, the Hangul fillers, variation
selectors, the unassigned code points of U+E0000–U+E0FFF), so two names that look alike read apart.

Two kinds of them are what emoji and several scripts are written with, so they stay where they do that
and nowhere else: a zero-width joiner or non-joiner (U+200D, U+200C) between two characters it can join
(not ASCII: emoji, their skin tones and variation selectors, letters and marks of scripts without case,
as in 👩‍💻, a Persian word or a Devanagari half form), and a variation selector after a character it can
vary (an emoji such as ⚠️ or ℹ️, a keycap 1️⃣, a CJK ideograph). Private-use characters and code points
unassigned in Python's Unicode tables are left alone: a terminal draws them (with its font, or as a box),
and the emoji Unicode added after those tables are among them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

__all__ = ["VisibleStream", "counted", "is_visible", "name_problem", "visible"]

# Cc, Cf (as of Unicode 15, a test holds it to Python's tables), Zl, Zp and the default ignorable code points.
_CONTROLS = re.compile(
    "[\x00-\x1f\x7f-\x9f\xad\u034f\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u115f\u1160"
    "\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u2028-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0"
    "\ufff0-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0000-\U000e0fff]"
)
_JOINERS = "\u200c\u200d"
_SELECTORS = re.compile("[\u180b-\u180d\u180f\ufe00-\ufe0f\U000e0100-\U000e01ef]")
# Cased letters are left out of both: a Latin, Greek or Cyrillic name is where a look-alike misleads.
_JOINED = frozenset({"Lo", "Lm", "Mn", "Mc", "So", "Sk"})
_SELECTED = frozenset({"Lo", "So", "Sm", "Po", "Pd"})  # ‼️ is Po, 〰️ Pd
_KEYCAP = "\u20e3"


def _shown(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x20:
        return "^" + chr(code + 0x40)
    if code == 0x7F:
        return "^?"
    if code <= 0x9F:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def _joins(char: str) -> bool:
    return not char.isascii() and unicodedata.category(char) in _JOINED and not _CONTROLS.match(char)


def _stays(text: str, at: int) -> bool:
    """Whether the invisible character at `at` is a joiner or a variation selector doing its work there.
    What decides is never itself shown otherwise, so `visible` of what `visible` gave changes nothing."""
    char = text[at]
    if char in _JOINERS:
        if not 0 < at < len(text) - 1 or not _joins(text[at + 1]):
            return False
        before = text[at - 1]
        return _stays(text, at - 1) if _CONTROLS.match(before) else _joins(before)
    if _SELECTORS.match(char) and at > 0:
        base = text[at - 1]
        if base.isascii():
            return char == "\ufe0f" and base in "0123456789#*" and text[at + 1 : at + 2] == _KEYCAP
        return base == "\u2139" or (unicodedata.category(base) in _SELECTED and not _CONTROLS.match(base))
    return False


def visible(text: str, keep: str = "") -> str:
    """`text` with every C0/C1 control character, DEL and invisible character that changes how a line
    reads shown visibly, except the characters of `keep` (say "\\n" for text of several lines, "\\n\\t"
    for a log) and the joiners and variation selectors that emoji and scripts are written with."""

    def shown(match: re.Match[str]) -> str:
        if match.group() in keep or _stays(text, match.start()):
            return match.group()
        return _shown(match)

    return _CONTROLS.sub(shown, text)


class VisibleStream:
    """Text that arrives in pieces (a log read or shipped in chunks), shown as `visible` shows it whole,
    wherever the pieces were cut: a joiner or variation selector at a piece's start is judged with the
    end of the piece before (kept as `_before`), and one at a piece's end is held back until the next
    piece, or the end (`final`), says what follows it."""

    # How far back `_stays` may look: a joiner after a selector asks that selector's base.
    _CONTEXT = 2

    def __init__(self, keep: str = "") -> None:
        self._keep = keep
        self._before = ""  # the last characters shown, as they came
        self._held = ""  # a trailing joiner or selector, not shown yet

    def feed(self, text: str, final: bool = False) -> str:
        text = self._held + text
        end = len(text)
        if not final and text and (text[-1] in _JOINERS or _SELECTORS.match(text[-1])):
            end -= 1
        whole = self._before + text  # what `_stays` reads: before and after the part shown now
        start = len(self._before)
        parts = []
        at = start
        for match in _CONTROLS.finditer(whole, start, start + end):
            char = match.group()
            parts.append(whole[at : match.start()])
            parts.append(char if char in self._keep or _stays(whole, match.start()) else _shown(match))
            at = match.end()
        parts.append(whole[at : start + end])
        self._before = whole[: start + end][-self._CONTEXT :]
        self._held = text[end:]
        return "".join(parts)


def is_visible(text: str, keep: str = "") -> bool:
    """Whether `text` holds no control or invisible character but those of `keep` (and those `visible`
    leaves)."""
    return visible(text, keep) == text


def name_problem(name: str) -> str | None:
    """What keeps `name` (a user's, a project's) from being one a login or a job has, if anything: a name
    written with a space or a control character around it matches no other, silently."""
    if not name.strip():
        return "must not be empty"
    if name != name.strip():
        return "must not start or end with a space"
    if not is_visible(name):
        return "must not hold control or invisible characters"
    return None


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
