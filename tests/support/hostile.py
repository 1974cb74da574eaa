"""Data that tries to drive the terminal: escape sequences, C1 controls, other control characters and
Rich markup, to put in job names, types, targets, op names, comments and op output (issue 14, item 5)."""

from __future__ import annotations

import json
import re

from jobtui.engine.domain.text import visible

OSC_TITLE = "\x1b]0;pwned\x07"  # sets the window title
OSC_CLIPBOARD = "\x1b]52;c;cHduZWQ=\x07"  # writes the clipboard
CSI_CLEAR = "\x1b[2J"  # clears the screen
C1 = "\x9b31m\x9d0;t\x9c"  # 8-bit CSI, OSC and ST
CONTROLS = "\x07\x08\x0b\x0c\x0e\x7f\r"  # bell, backspace, VT, FF, SO, DEL, carriage return (no NUL)
MARKUP = "[/][link=http://x]y[/link][bold]x"
BIDI = "\u202eorp-yolped\u202c\u2066x\u2069\u200b\ufeff"  # reversed text, isolates, invisible ones
# What draws as nothing, so that two names read alike: soft hyphen, grapheme joiner, Mongolian vowel
# separator, zero-width (non-)joiners and marks, invisible operators, deprecated format characters, a
# variation selector on a letter, tags, Hangul fillers.
INVISIBLE = (
    "\u00ad\u034f\u180e\u200c\u200d\u200e\u2061\u2064\u206a\u206f"
    "e\ufe0f\U000e0041\U000e0100\u115f\u1160\u3164\uffa0"
)

PAYLOADS = {
    "osc-title": OSC_TITLE,
    "osc-clipboard": OSC_CLIPBOARD,
    "csi-clear": CSI_CLEAR,
    "c1": C1,
    "controls": CONTROLS,
    "markup": MARKUP,
    "invisible": INVISIBLE,
    "all": OSC_TITLE + OSC_CLIPBOARD + CSI_CLEAR + C1 + CONTROLS + MARKUP + BIDI,
}

# Every C0 control but line feed, DEL, the C1 controls, and the invisible characters that change how a
# line reads (format characters, line and paragraph separators, default ignorable ones: see
# jobtui/engine/domain/text.py). The payloads join and vary no emoji, so none of them may stay.
CONTROL_CHARS = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\xad\u034f\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2"
    "\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u2028-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f"
    "\ufeff\uffa0\ufff0-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3"
    "\U0001d173-\U0001d17a\U000e0000-\U000e0fff]"
)


def controls_in(output: bytes | str, tab: bool = False) -> list[str]:
    """The control characters a terminal would obey in `output`, but line feeds (and tabs with `tab`).
    Bytes must be UTF-8: a stray byte of 0x80–0x9f would be a C1 control to some terminals."""
    text = output.decode("utf-8") if isinstance(output, bytes) else output
    return CONTROL_CHARS.findall(text.replace("\t", "") if tab else text)


def toml_string(text: str) -> str:
    """`text` as a TOML basic string (JSON's escapes are TOML's, but past U+FFFF: JSON's surrogate pairs
    are no characters to TOML)."""
    return '"' + "".join(f"\\U{ord(c):08x}" if ord(c) > 0xFFFF else json.dumps(c)[1:-1] for c in text) + '"'


def hostile_definition(payload: str, run: str = "true", approval: bool = False) -> str:
    """A definition whose name, type, target and op name all carry `payload`."""
    return (
        f"name = {toml_string('n' + payload)}\n"
        f"type = {toml_string('t' + payload)}\n"
        f"targets = [{toml_string('h' + payload)}]\n"
        + ("approval = true\n" if approval else "")
        + f"[[run]]\nname = {toml_string('o' + payload)}\nrun = {toml_string(run)}\nper_target = true\n"
    )


def shown(text: str) -> str:
    """How `text` reads once neutralised."""
    return visible(text)


# An op that writes a window title, a clipboard write and a screen clear to its log.
HOSTILE_OUTPUT_RUN = r"printf 'out\033]0;pwned\007\033]52;c;cHduZWQ=\007\033[2J\233 end\n'"
HOSTILE_OUTPUT = b"out\x1b]0;pwned\x07\x1b]52;c;cHduZWQ=\x07\x1b[2J\x9b end\n"
