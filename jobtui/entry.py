"""The `jobtui` command's entry point.

It imports nothing but the CLI, and only inside its own handler: loading the CLI takes a noticeable
moment (the database layer is imported on first use, but argument parsing and the command registry come
first), and Ctrl-C in that moment must end the command as quietly as Ctrl-C at any later one (exit 130,
no traceback), which a console script importing `jobtui.cli` at its top cannot do.
"""

from __future__ import annotations

EXIT_INTERRUPTED = 130


def main() -> int:
    try:
        from jobtui.cli import main as cli_main
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    return cli_main()
