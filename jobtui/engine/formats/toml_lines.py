"""Where things are in a TOML text, so that every file format can report `FILE:LINE: field: message`.

tomllib does not report where a value came from, so errors are pinned to a line by scanning the raw
text. It is best effort: when unsure the line number is left out rather than pointing at the wrong place.
"""

from __future__ import annotations

import re
import tomllib

# One part of a key: bare, "basic" (with escapes) or 'literal'.
_KEY_PART = r"""(?:[A-Za-z0-9_\-]+|"(?:[^"\\]|\\.)*"|'[^']*')"""
_KEY_PATH = rf"{_KEY_PART}(?:\s*\.\s*{_KEY_PART})*"
_ARRAY_HEADER = re.compile(rf"^\s*\[\[\s*({_KEY_PATH})\s*\]\]\s*(?:#.*)?$")
_TABLE_HEADER = re.compile(rf"^\s*\[\s*({_KEY_PATH})\s*\]\s*(?:#.*)?$")
_ASSIGNMENT = re.compile(rf"^\s*({_KEY_PATH})\s*=")

# A section is None for the top level, (name, 0) for the table [name], (name, n) for the n-th [[name]]
# (1-based), and (name, n, sub, ...) for a table below one of those ([roles.ops] is ("roles", 0, "ops"),
# [run.env] under the second [[run]] is ("run", 2, "env")).
Section = tuple[str | int, ...] | None

# Arrays of tables below a table ([[a.b]]) are in no jobtui format: their keys are not tracked, rather
# than filed under the wrong item.
_UNTRACKED: Section = ("", -1)


def _key_parts(path: str) -> list[str]:
    """The parts of a dotted key as TOML reads them (quotes removed, escapes decoded)."""
    parts: list[str] = []
    for part in re.findall(_KEY_PART, path):
        if part[:1] in "\"'":
            try:
                part = next(iter(tomllib.loads(f"{part} = 0")))
            except tomllib.TOMLDecodeError:
                part = part[1:-1]
        parts.append(part)
    return parts


class Locator:
    """The line of each key (and of each table's header) in a TOML text."""

    def __init__(self, text: str) -> None:
        self._keys: dict[Section, dict[str, int]] = {None: {}}
        self._headers: dict[Section, int] = {}
        self._array_counts: dict[str, int] = {}
        self._scan(text)

    def _scan(self, text: str) -> None:
        current: Section = None
        in_multiline: str | None = None
        for lineno, line in enumerate(text.splitlines(), start=1):
            if in_multiline is not None:
                if line.count(in_multiline) % 2 == 1:
                    in_multiline = None
                continue
            header = _ARRAY_HEADER.match(line) or _TABLE_HEADER.match(line)
            if header is not None:
                path = _key_parts(header.group(1))
                if header.re is _ARRAY_HEADER:
                    if len(path) > 1:
                        self._note(None, path[:1], lineno)
                        current = _UNTRACKED
                        continue
                    self._array_counts[path[0]] = self._array_counts.get(path[0], 0) + 1
                current = self._note(None, path, lineno)
                self._headers.setdefault(current, lineno)
                continue
            assignment = _ASSIGNMENT.match(line)
            if assignment is not None and current != _UNTRACKED:
                self._note(current, _key_parts(assignment.group(1)), lineno)
            for quote in ('"""', "'''"):
                if line.count(quote) % 2 == 1:
                    in_multiline = quote
                    break

    def _note(self, section: Section, path: list[str], lineno: int) -> Section:
        """Record each part of a dotted key (or header) as a key of the table it is in (the first time
        it is seen: that is where it is defined); the section the whole path names."""
        for part in path:
            self._keys.setdefault(section, {}).setdefault(part, lineno)
            section = (part, self._array_counts.get(part, 0)) if section is None else (*section, part)
        return section

    def key(self, section: Section, key: str) -> int | None:
        """The line where `key` of `section` is written (for a table, its header), or None."""
        return self._keys.get(section, {}).get(key)

    def header(self, section: Section) -> int | None:
        """The line of the section's own header ([name] or [[name]]), or None."""
        return self._headers.get(section)


def located(source: str, line: int | None, message: str) -> str:
    """One problem as one line: `SOURCE:LINE: message` (`SOURCE: message` when the line is unknown).
    Text echoed from the file may hold line breaks: they are shown escaped, so that one problem never
    reads as two."""
    where = f"{source}:{line}" if line is not None else source
    return f"{where}: {message}".replace("\r", "\\r").replace("\n", "\\n")
