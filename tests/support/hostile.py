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

PAYLOADS = {
    "osc-title": OSC_TITLE,
    "osc-clipboard": OSC_CLIPBOARD,
    "csi-clear": CSI_CLEAR,
    "c1": C1,
    "controls": CONTROLS,
    "markup": MARKUP,
    "all": OSC_TITLE + OSC_CLIPBOARD + CSI_CLEAR + C1 + CONTROLS + MARKUP + BIDI,
}

# Every C0 control but line feed, DEL, the C1 controls, and the invisible characters that change how a
# line reads (bidi overrides and isolates, zero-width spaces: see jobtui/engine/domain/text.py).
CONTROL_CHARS = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200b\u200e\u200f\u2028-\u202e\u2060\u2066-\u2069\ufeff]"
)


def controls_in(output: bytes | str, tab: bool = False) -> list[str]:
    """The control characters a terminal would obey in `output`, but line feeds (and tabs with `tab`).
    Bytes must be UTF-8: a stray byte of 0x80–0x9f would be a C1 control to some terminals."""
    text = output.decode("utf-8") if isinstance(output, bytes) else output
    return CONTROL_CHARS.findall(text.replace("\t", "") if tab else text)


def toml_string(text: str) -> str:
    """`text` as a TOML basic string (JSON's escapes are TOML's)."""
    return json.dumps(text)


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
