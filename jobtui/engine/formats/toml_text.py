"""Reading the TOML files users write, safely: a size cap, regular files only, UTF-8 (a leading byte-order
mark allowed), and nesting that cannot exhaust the parser's recursion. Each failure is one line naming the
file; callers wrap it in their own error type."""

from __future__ import annotations

import os
import stat
import tomllib
from typing import Any

from jobtui.engine.errors import BadInput

# Definitions, envelopes and policies are hand-written text: a few KiB. Far above any real one, far below
# what would hurt to read (`submit /dev/zero` must not eat the memory).
MAX_FILE_BYTES = 4 << 20
BYTE_ORDER_MARK = "\ufeff"


class TomlFileError(BadInput, ValueError):
    """Why a TOML file cannot be used; str() is one line starting with the file's name."""


def read_text(path: str | os.PathLike[str]) -> str:
    source = os.fspath(path)
    try:
        # O_NONBLOCK: opening a FIFO waits for a writer, forever if none comes; so opened, it does not
        # wait, and is refused below like any file that is not regular. (No effect on a regular file.)
        fd = os.open(source, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
        with open(fd, "rb") as handle:
            regular = stat.S_ISREG(os.fstat(handle.fileno()).st_mode)
            data = handle.read(MAX_FILE_BYTES + 1) if regular else b""
    except IsADirectoryError as exc:  # open() refuses a folder's descriptor: as any file not regular
        raise TomlFileError(f"{source}: not a regular file (a folder)") from exc
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
        reason = getattr(exc, "strerror", None) or str(exc)
        raise TomlFileError(f"{source}: cannot read file: {reason}") from exc
    if not regular:
        raise TomlFileError(f"{source}: not a regular file")
    if len(data) > MAX_FILE_BYTES:
        raise TomlFileError(f"{source}: larger than {MAX_FILE_BYTES >> 20} MiB; not a jobtui file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TomlFileError(f"{source}: cannot read file: not UTF-8 text ({exc.reason})") from exc
    # Windows editors (Notepad, PowerShell's UTF8 encoding) start a UTF-8 file with a byte-order mark;
    # TOML does not allow one, so tomllib refuses line 1 of a file that is otherwise fine. One is the
    # encoding's signature, not content: drop it. (A second would be content, and stays an error.)
    return text.removeprefix(BYTE_ORDER_MARK)


def loads(text: str, source: str) -> dict[str, Any]:
    """Parse; `tomllib.TOMLDecodeError` passes through (callers point at its line), deep nesting does not
    crash."""
    try:
        return tomllib.loads(text)
    except RecursionError:
        raise TomlFileError(f"{source}: values nested too deeply") from None
