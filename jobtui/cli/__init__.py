"""`jobtui` on the command line: every monitor action as a command, with --json for scripts.

Exit codes (a contract): 0 done; 1 refused (not allowed now, or not permitted), reason on stderr;
2 bad input (usage, invalid file, unknown job id); 3 an internal error (a bug: the traceback is in a
crash log in the user's log folder, never on the terminal).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import os
import re
import signal
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from jobtui.engine.domain.engine_kinds import DAEMON_ENGINE
from jobtui.engine.domain.ids import MAX_ID, ascii_int
from jobtui.engine.domain.logread import StreamSplit
from jobtui.engine.domain.reachability import backoff_after
from jobtui.engine.domain.text import VisibleStream, visible
from jobtui.engine.domain.timeparse import format_duration
from jobtui.engine.errors import BadInput, JobtuiError, Refusal
from jobtui.engine.service.commands import CliArg, cli_commands, envelope_commands

EXIT_OK, EXIT_REFUSED, EXIT_BAD_INPUT, EXIT_CRASHED = 0, 1, 2, 3
EXIT_INTERRUPTED = 130  # Ctrl-C, as a shell reports a command ended by SIGINT
LOG_PIECE_BYTES = 1 << 20


class UsageError(BadInput):
    pass


def _say(text: str, *, err: bool = False) -> None:
    """Print human output: whatever data it holds (names, targets, comments, reasons, engine messages
    quoting them) reaches the terminal without a control character, so no escape sequence. Fields are
    made visible one by one where they are put in (a line break in a name shows as ^J there); this is
    the net under them. `--json` output does not go through here: it keeps the exact data."""
    shown = visible(text, keep="\n")
    if err:
        _tell(shown)
    else:
        print(shown)


def _tell(message: str) -> None:
    """A message on stderr. A stderr that cannot be written (`2>/dev/full`, a closed pipe) drops it, as a
    closed one does: the exit code still tells, and must stay the error's own (an exception raised here
    would escape main and exit 1)."""
    try:
        print(message, file=sys.stderr, flush=True)
    except OSError:
        _drop_stderr()


def _drop_stderr() -> None:
    """Send the rest of the process's stderr to /dev/null: the failed line is still in the stream's buffer,
    and the interpreter's last flush would fail on it again (and change the exit code)."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stderr.fileno())
        os.close(devnull)
        return
    sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - a stream with no file descriptor of its own


# `show --json` of a job with more tasks than this prints compact JSON.
COMPACT_JSON_TASKS = 1000

# How long a command waits for a database write lock held by another process (SQLite).
DEFAULT_LOCK_WAIT_S = 30.0


def _id_of(what: str) -> Callable[[str], int]:
    """An id argument of `what` (a job, an envelope): a number that fits the database's id column (a job
    id may be 0: the queue's audit trail)."""

    def parse(text: str) -> int:
        value = ascii_int(text)
        if value is None:
            raise argparse.ArgumentTypeError(f"invalid id: {text!r} ({what} number like 42, in digits 0-9)")
        if not 0 <= value <= MAX_ID:
            raise argparse.ArgumentTypeError(f"invalid id: {text} (from 0 to {MAX_ID})")
        return value

    return parse


_job_id = _id_of("a job")
_envelope_id = _id_of("an envelope")


def _count(low: int, high: int, what: str) -> Callable[[str], int]:
    """An argument counting something, from `low` to `high`: a count past any sane one (a typo, a script
    gone wrong) is bad input, never a machine's memory filled with threads or a disk with jobs."""

    def parse(text: str) -> int:
        value = ascii_int(text)
        if value is None:
            raise argparse.ArgumentTypeError(f"invalid {what}: {text!r} (a whole number, in digits 0-9)")
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"invalid {what}: {text} (from {low:,} to {high:,})")
        return value

    return parse


def _seconds(low: float, high: float, what: str) -> Callable[[str], float]:
    """An argument of seconds, from `low` to `high`: a plain decimal number. float() alone takes "inf",
    "nan", "1e999" and digits of any script; a daemon given `--lease inf` would never take a silent
    worker's jobs back, one given `--heartbeat nan` would write its heartbeat without pause."""

    def parse(text: str) -> float:
        plain = text.removeprefix("-")
        if not (plain.isascii() and plain.replace(".", "", 1).isdigit()):
            raise argparse.ArgumentTypeError(f"invalid {what}: {text!r} (a number of seconds, like 5 or 0.5)")
        value = float(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"invalid {what}: {text} (from {low:g} to {high:g} seconds)")
        return value

    return parse


MAX_WORKERS = 1024  # a thread and an op starter each
MAX_LISTED = 10_000_000
MAX_DEMO_JOBS = 10_000_000  # about 28 GB of SQLite
# A daemon's heartbeat: more often than this is a write storm; less often than hourly, never noticed.
MIN_HEARTBEAT_S, MAX_HEARTBEAT_S = 0.1, 3600.0
MAX_LEASE_S = 86400.0  # a day: a worker silent longer has lost its jobs by any measure


def _port(text: str) -> int:
    value = ascii_int(text)
    if value is None:
        raise argparse.ArgumentTypeError(f"invalid port: {text!r} (a whole number, in digits 0-9)")
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError(f"invalid port: {text} (from 1 to 65535)")
    return value


def _printable(text: str) -> str:
    """Text typed on the command line, as it may be shown: control characters visible (`visible`), and
    the bytes of an argument that is not UTF-8 (Python keeps them as lone surrogates, which no terminal
    encoding takes) as \\xNN."""
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate no byte of argv makes (main() called with such a string)
        raw = text.encode("utf-8", "backslashreplace")
    return visible(raw.decode("utf-8", "backslashreplace"))


class _Parser(argparse.ArgumentParser):
    def _get_value(self, action: argparse.Action, arg_string: str) -> Any:
        # Bytes of argv that are not UTF-8 arrive as lone surrogates, which neither the database nor a
        # terminal takes: refused here, naming the argument, before a command carries any of them. (A
        # subcommand's arguments pass here on their way to its parser, which names them.) `error` shows
        # the bytes as \xNN.
        if action.nargs != argparse.PARSER:
            try:
                arg_string.encode("utf-8")
            except UnicodeEncodeError:
                raise argparse.ArgumentError(action, f'not valid UTF-8 text ("{arg_string}")') from None
        return super()._get_value(action, arg_string)  # type: ignore[misc]

    def _parse_optional(self, arg_string: str) -> Any:
        # `reschedule 8 -2h`: argparse takes only a plain negative number (-2) for an argument, and read
        # -2h as an unknown option ("the following arguments are required: when"). No jobtui option starts
        # with a digit: such a word is an argument, and the date parser says what it makes of it.
        if arg_string[:1] == "-" and arg_string[1:2].isdigit():
            return None
        return super()._parse_optional(arg_string)  # type: ignore[misc]

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        # argparse quotes what was typed (`unrecognized arguments: …`, an invalid choice): an escape
        # sequence in it would drive the terminal.
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {_printable(message)}\n")


class _Version(argparse.Action):
    """`--version`: the installed distribution's version, looked up only when asked for."""

    def __init__(self, option_strings: Sequence[str], dest: str, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, *_args: object, **_kwargs: object) -> NoReturn:
        from importlib.metadata import PackageNotFoundError, version

        try:
            number = version("jobtui")
        except PackageNotFoundError:
            number = "unknown"
        print(f"jobtui {number}")
        parser.exit(EXIT_OK)


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--db",
        default=argparse.SUPPRESS,
        help="database URL (default $JOBTUI_DB or a SQLite file in the user data directory)",
    )
    common.add_argument(
        "--policy",
        default=argparse.SUPPRESS,
        help="permissions policy TOML (default $JOBTUI_POLICY; none = single-user mode); a database "
        "that stores a policy (jobtui policy install) ignores it",
    )
    common.add_argument(
        "--as",
        dest="as_user",
        default=argparse.SUPPRESS,
        metavar="USER",
        help="act as USER (needs action.admin.impersonate)",
    )
    json_flag = argparse.ArgumentParser(add_help=False)
    json_flag.add_argument("--json", action="store_true", help="print JSON")

    parser = _Parser(
        prog="jobtui",
        parents=[common],
        description="Job scheduler engine and terminal dashboard. Without a command, opens the dashboard.",
    )
    parser.add_argument("--version", action=_Version, help="print the version and exit")
    parser.add_argument("--readonly", action="store_true", help="dashboard: hide every action")
    parser.add_argument("--lang", choices=["en", "es"], default=None, help="dashboard language")
    parser.add_argument(
        "--view",
        choices=["jobs", "envelopes"],
        default=None,
        help='the view the dashboard opens on (default: "view" in the config file, else jobs)',
    )
    parser.add_argument(
        "--no-alerts",
        action="store_true",
        help="dashboard: no bell, desktop notification or toast when a job needs attention "
        "(default: [alerts] in the config file, else on)",
    )
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    def add(name: str, help_: str, *, with_json: bool = True) -> argparse.ArgumentParser:
        parents = [common, json_flag] if with_json else [common]
        parser: argparse.ArgumentParser = sub.add_parser(
            name,
            help=help_,
            parents=parents,  # type: ignore[arg-type]
            description=help_,
        )
        return parser

    p = add("daemon", "run the engine headless until SIGTERM/SIGINT", with_json=False)
    p.add_argument(
        "--workers",
        type=_count(1, MAX_WORKERS, "worker count"),
        default=2,
        help="concurrent jobs (default 2)",
    )
    p.add_argument(
        "--heartbeat",
        type=_seconds(MIN_HEARTBEAT_S, MAX_HEARTBEAT_S, "heartbeat"),
        default=5.0,
        metavar="S",
        help="seconds between heartbeats (5)",
    )
    p.add_argument(
        "--lease",
        type=_seconds(MIN_HEARTBEAT_S, MAX_LEASE_S, "lease"),
        default=30.0,
        metavar="S",
        help="a worker silent this long loses its jobs: they ABEND (30)",
    )
    p = add("submit", "submit a job definition file")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--at", help='when RUN may start (ISO 8601, "now", "+2h", "tomorrow 02:00")')
    p.add_argument("--max-start", dest="max_start", help="Max Start Date (absolute, or relative to --at)")
    p.add_argument(
        "--keep",
        action="store_true",
        help="keep earlier submissions of this definition for the same targets (default: they are REPLACED)",
    )
    p.add_argument("--envelope", metavar="NAME", help="chain the files, in order, into one envelope")
    add("envelopes", "list envelopes")
    add("workers", "list the engines serving the database (the dashboard's workers view)")
    p = add("envelope", "one envelope with its jobs and notifications")
    p.add_argument("id", type=_envelope_id)
    for command in envelope_commands():
        verb = command.envelope_cli
        assert verb is not None
        p = add(verb.verb, verb.help)
        p.add_argument("id", type=_envelope_id)
        for arg in verb.args:
            _add_cli_arg(p, arg)
    p = add(
        "host-gone",
        "declare a host gone for good: the ops a lost engine of it left no longer hold back retry, "
        "rerun and rollback of their jobs (refused while an engine of the host is live)",
    )
    p.add_argument("host")
    p.add_argument("--comment", help="why (kept in the audit trail)")
    p = add("jobs", "list jobs")
    p.add_argument("--status", action="append", default=[], metavar="CODE")
    p.add_argument("--project")
    p.add_argument("--all", action="store_true", help="include system jobs")
    p.add_argument(
        "--limit",
        type=_count(0, MAX_LISTED, "limit"),
        default=0,
        help="at most this many (newest first; 0: all)",
    )
    p = add("show", "one job with its tasks and steps")
    p.add_argument("id", type=_job_id)
    p = add("log", "print a job's log", with_json=False)
    p.add_argument("id", type=_job_id)
    p.add_argument("--follow", "-f", action="store_true", help="keep printing until the job ends")
    p.add_argument(
        "--raw",
        action="store_true",
        help="the exact bytes also to a terminal (to a pipe or file they always are; to a terminal, "
        "control characters show as ^[ and the like unless --raw)",
    )
    for command in cli_commands():
        verb = command.cli
        assert verb is not None
        p = add(verb.verb, verb.help)
        p.add_argument("id", type=_job_id)
        for arg in verb.args:
            _add_cli_arg(p, arg)
    p = add("queue", "show or change the queue")
    p.add_argument("what", nargs="?", default="status", choices=["status", "pause", "resume", "clear"])
    p.add_argument("--reason")
    p = add("settings", "show or change engine settings (pause_queue_on_failure, op_log_cap_mib)")
    p.add_argument("key", nargs="?")
    p.add_argument("value", nargs="?", help="true/false for switches, a number for op_log_cap_mib")
    p = add("policy", "install, show or remove the permissions policy stored in the database")
    what = p.add_subparsers(dest="what", metavar="{install,show,remove}", required=True, parser_class=_Parser)
    for name, help_ in (
        ("install", "store FILE's policy in the database (it then binds every command and dashboard)"),
        ("show", "print the stored policy exactly as installed"),
        ("remove", "remove the stored policy (single-user mode again)"),
    ):
        action: argparse.ArgumentParser = what.add_parser(
            name,
            help=help_,
            description=help_,
            parents=[common, json_flag],  # type: ignore[list-item]
        )
        if name == "install":
            action.add_argument("file", metavar="FILE", help="the policy TOML")
    p = add("audit", "a job's audit trail")
    p.add_argument("id", type=_job_id)
    p = add("demo", "fill a database with demo jobs and open the dashboard", with_json=False)
    p.add_argument(
        "--no-open",
        action="store_true",
        help="only fill the database (with --jobs: only the historical jobs, for load tests)",
    )
    p.add_argument(
        "--jobs",
        type=_count(0, MAX_DEMO_JOBS, "job count"),
        default=0,
        metavar="N",
        help="first bulk-load N historical jobs in every final and waiting status",
    )
    p = add("serve", "serve the dashboard to a browser (textual-serve)", with_json=False)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=_port, default=8000, help="port to listen on (default: 8000)")
    p.add_argument(
        "--public",
        action="store_true",
        help="allow an address other than loopback: whoever reaches the port acts as you",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    if sys.stderr is None:
        # Started with stderr closed (`2>&-`): print(file=None) would put error messages on stdout, which
        # scripts parse. They are dropped instead, and the exit code still tells.
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - for the rest of the process
    if sys.stdout is None:
        # Started with stdout closed (`>&-`): the output is not wanted, which is no failure.
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the rest of the process
    try:
        args = build_parser().parse_args(argv)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    stdout = sys.stdout
    if args.command not in STDOUT_AS_IS:
        sys.stdout = _StdoutTellingItsFailures(stdout)  # type: ignore[assignment]
    try:
        code = _dispatch(args)
        sys.stdout.flush()  # a full disk under `> file` is noticed here, not in the interpreter's exit
        return code
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK
    except OutputLost as exc:
        done = "" if args.command in READ_ONLY_COMMANDS else "; the command itself was carried out"
        _say(f"{args.command or 'jobtui'}: its output could not be written ({exc.strerror}){done}", err=True)
        return EXIT_BAD_INPUT
    except Exception as exc:
        explained = _failed(exc, args)
        return _crashed(exc, args) if explained is None else explained
    finally:
        sys.stdout = stdout


# Commands that hand the terminal to Textual, which writes to stdout as it sees fit, and the daemon, which
# writes nothing there.
STDOUT_AS_IS = frozenset({None, "serve", "daemon"})


class OutputLost(JobtuiError):
    """stdout refused what a command printed (a full disk under `> file`, an I/O error): told apart from
    the command's own file errors, because by then the command has been carried out and committed."""

    def __init__(self, error: OSError) -> None:
        super().__init__(error.strerror or str(error))
        self.strerror = error.strerror or str(error)


class _StdoutTellingItsFailures:
    """sys.stdout while a command runs: a failed write or flush raises OutputLost. A reader that went
    away (`| head`) stays a BrokenPipeError: the output was not wanted, nothing failed."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return int(self._stream.write(text))
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise OutputLost(exc) from exc

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise OutputLost(exc) from exc

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _crashed(exc: Exception, args: argparse.Namespace) -> int:
    """A bug: the traceback goes to a crash log, the user reads one line and the exit code says so."""
    from jobtui.crash import one_line, write_crash_log

    path = write_crash_log(exc)
    _say(f"{args.command or 'jobtui'}: internal error ({one_line(exc)}); details in {path or '-'}", err=True)
    return EXIT_CRASHED


def _failed(exc: Exception, args: argparse.Namespace) -> int | None:
    """Say in one line what went wrong and return the exit code (None: a bug, let it show). The error
    types are imported only now: the dashboard paints before SQLAlchemy and the engine are loaded."""
    from sqlalchemy.exc import DBAPIError

    from jobtui.engine.errors import JobtuiError, ReadFailed, Refusal, StoreError

    # By kind, not by class: a new refusal or bad-input error gets its exit code without a change here.
    if isinstance(exc, Refusal):
        _say(_from_command(str(exc), args), err=True)
        return EXIT_REFUSED
    if isinstance(exc, StoreError):
        _say(f"{_from_command(str(exc), args)}{_storage_hint(args)}", err=True)
        return EXIT_BAD_INPUT
    if isinstance(exc, DBAPIError | ReadFailed):
        # A database that cannot take the write (full or read-only disk, I/O error): say so in one line,
        # not a traceback. The transaction was rolled back whole: nothing of the command was written.
        reason = (str(exc.orig).strip().splitlines() or [type(exc.orig).__name__])[0]
        _say(
            f"{args.command or 'jobtui'}: database {_db_label(args)}: {reason}{_storage_hint(args)}", err=True
        )
        return EXIT_BAD_INPUT
    # A plain ValueError is a bug (exit 3, crash log), unless it only wraps bad input to say where it
    # was (the service's submit says which file a date that does not parse came from).
    if isinstance(exc, JobtuiError) or (isinstance(exc, ValueError) and isinstance(exc.__cause__, BadInput)):
        _say(_from_command(str(exc), args), err=True)
        return EXIT_BAD_INPUT
    if isinstance(exc, OSError):
        where = f": {exc.filename}" if exc.filename else ""
        _say(f"{args.command or 'jobtui'}: {exc.strerror or exc}{where}{_storage_hint(args)}", err=True)
        return EXIT_BAD_INPUT
    return None


# An error line says where it comes from: the command (`cancel: no job 7`, `jobs --project: ...`), or the
# file and line it is about (`deploy.toml:3: ...`, which editors jump to).
_FILE_LINE = re.compile(r"[^\s:][^:]*:[0-9]+: ")


def _from_command(message: str, args: argparse.Namespace) -> str:
    """`message` with each of its lines led by the command, as every command's own errors are, unless
    the line names the command already or a file the command read (`a.toml: cannot read file: ...`,
    `a.toml:3: ...`). A line about an option or a variable reads as one: `cancel --as bob: ...`,
    `jobs: $JOBTUI_LOCK_WAIT_S: ...`. Errors of the engine (the database's, "no envelope 5", a date that
    does not parse) do not know which command met them."""
    from jobtui.config import config_path

    command = args.command or "jobtui"
    files = [*(getattr(args, "files", None) or ()), getattr(args, "file", None), str(config_path())]
    files.append(getattr(args, "policy", None) or os.environ.get("JOBTUI_POLICY"))
    located = tuple(f"{file}:" for file in files if file)

    def led(line: str) -> str:
        if not line or line.startswith((f"{command}:", f"{command} ", *located)) or _FILE_LINE.match(line):
            return line
        return f"{command} {line}" if line.startswith("--") else f"{command}: {line}"

    return "\n".join(led(line) for line in message.split("\n"))


def _db_url(args: argparse.Namespace) -> str:
    from jobtui.engine.db.driver import default_db_url

    return str(getattr(args, "db", None) or default_db_url())


def _db_label(args: argparse.Namespace) -> str:
    """The database's URL as messages may show it: without its password."""
    from jobtui.engine.db.driver import printable_url

    return printable_url(_db_url(args))


def _storage_hint(args: argparse.Namespace) -> str:
    """What is wrong with the file system under a SQLite database, if that explains an error: read-only,
    full, or not writable by this user. Empty when nothing is visibly wrong (or not SQLite)."""
    folder = _sqlite_folder(args)
    if folder is None:
        return ""
    read_only = _read_only_reason(args)
    if read_only:
        return f" ({read_only})"
    try:
        fs = os.statvfs(folder)
    except OSError:
        return ""
    if fs.f_bavail * fs.f_frsize < 1 << 20:
        return f" (the file system holding {folder} is full)"
    return ""


def _read_only_reason(args: argparse.Namespace) -> str:
    """Why this process can never write the SQLite database (a read-only file system, a file or folder
    this user may not write), or "": a full disk may be freed, this will not."""
    folder = _sqlite_folder(args)
    if folder is None:
        return ""
    try:
        fs = os.statvfs(folder)
    except OSError:
        return ""
    if fs.f_flag & os.ST_RDONLY:
        return f"the file system holding {folder} is read-only"
    path = _sqlite_file(args)
    for item in (path, folder):
        if item is not None and item.exists() and not os.access(item, os.W_OK):
            return f"{item} is read-only for this user"
    return ""


def _sqlite_file(args: argparse.Namespace) -> Path | None:
    from jobtui.engine.db.driver import normalise_url, sqlite_path

    try:
        return sqlite_path(normalise_url(_db_url(args)))
    except Exception:
        return None


def _sqlite_folder(args: argparse.Namespace) -> Path | None:
    path = _sqlite_file(args)
    return None if path is None else path.parent


# The environment variables jobtui reads (the engine's own, such as $JOBTUI_OP_TOKEN, are set by it).
ENVIRONMENT = (
    "JOBTUI_DB",
    "JOBTUI_POLICY",
    "JOBTUI_CONFIG",
    "JOBTUI_KEYS",
    "JOBTUI_LOCK_WAIT_S",
    "JOBTUI_LOG_DIR",
    "JOBTUI_DEMO_SPEED",
)


def _check_environment() -> None:
    """Bytes of a variable that are not UTF-8 arrive as lone surrogates, as argv's do: a database path or
    a file name made of them would be used, shown or stored as something else. Refused, naming it."""
    for name in ENVIRONMENT:
        value = os.environ.get(name)
        if value is None:
            continue
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise UsageError(f'${name}: not valid UTF-8 text ("{_printable(value)}")') from None


def _dispatch(args: argparse.Namespace) -> int:
    _check_environment()
    command = args.command
    if getattr(args, "db", None) == "":
        # Read as no --db: $JOBTUI_DB's database or the default one was used (the dashboard's too), a
        # script's unset variable unnoticed (found by QA).
        raise UsageError(f"{command or 'jobtui'} --db: expected a database URL or file, not an empty string")
    if getattr(args, "db", None) is None and not os.environ.get("JOBTUI_DB", "-").strip():
        # Read as unset: the default database was used, a script's empty variable unnoticed (found by QA).
        raise UsageError(
            f"{command or 'jobtui'}: $JOBTUI_DB is empty: expected a database URL or file (unset it for the "
            "default database)"
        )
    if command is None:
        return _open_app(args)
    handler: Callable[[argparse.Namespace], int] = globals().get(
        f"_cmd_{command.replace('-', '_')}", _job_command
    )
    return handler(args)


# -- set-up shared by commands ---------------------------------------------------------------------------


# Commands that only read: on a SQLite file that does not exist they would create an empty database and
# report nothing, hiding a mistyped --db.
# How many held jobs a line of `jobtui workers` names (--json lists them all).
SHOWN_JOBS = 5

READ_ONLY_COMMANDS = frozenset({"jobs", "show", "log", "audit", "envelopes", "envelope", "workers"})


def _store(args: argparse.Namespace) -> Any:
    from jobtui.engine.db.driver import default_db_url, normalise_url, sqlite_path
    from jobtui.engine.db.store import Store

    url = getattr(args, "db", None) or default_db_url()
    path = sqlite_path(normalise_url(url))
    reading = (
        args.command in READ_ONLY_COMMANDS
        or (args.command == "policy" and args.what == "show")
        # `queue status` and `settings` alone read too: a mistyped --db read as an idle, healthy queue.
        or (args.command == "queue" and args.what == "status")
        or (args.command == "settings" and args.value is None)
    )
    if reading and path is not None and not path.exists():
        raise UsageError(f"{args.command}: no database at {path} (check --db or $JOBTUI_DB)")
    store = Store(url)
    if args.command != "daemon":
        # An operator's command gives up on a write lock held too long, saying by whom; engines wait.
        store.lock_wait_s = _lock_wait_s()
    return store


def _lock_wait_s() -> float:
    text = os.environ.get("JOBTUI_LOCK_WAIT_S", str(DEFAULT_LOCK_WAIT_S))
    # Plain decimals only: float() also takes "٣", "３", "1_0", " 3 ", "1e1" and "inf".
    if not re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", text):  # a negative one is out of range, said below
        raise UsageError(f'$JOBTUI_LOCK_WAIT_S: "{visible(text)}" is not a number of seconds (as 2 or 0.5)')
    seconds = float(text)
    if not 0 < seconds < 86400:
        # 0 is out too: a command that never waits gives up on every lock an engine's pass holds.
        raise UsageError(
            f"$JOBTUI_LOCK_WAIT_S: {text} is out of range (more than 0 and less than 86400 seconds)"
        )
    return seconds


def _requested_policy(args: argparse.Namespace) -> Callable[[], Any]:
    """The policy the caller asks for: --policy, default $JOBTUI_POLICY. It binds only a database that
    stores no policy of its own (single-user mode); loaded only then."""
    from jobtui.engine.formats.policy_file import load_policy

    def requested() -> Any:
        return load_policy(getattr(args, "policy", None) or os.environ.get("JOBTUI_POLICY"))

    return requested


def _actor(args: argparse.Namespace, store: Any, repairing: bool = False) -> Any:
    """Who the command acts as on `store`: the OS login (or --as) judged by the database's stored
    policy, or by --policy / $JOBTUI_POLICY when it stores none. --as without action.admin.impersonate
    raises PermissionRefused (exit 1), audited."""
    from jobtui.engine.service.policy import resolve_actor

    command = args.command or "jobtui"
    # A refused --as is audited on what the command names: its job, its envelope, or nothing (job 0).
    about: int | str | None = getattr(args, "id", None)
    if about is not None and command.startswith("envelope"):
        about = f"(envelope {about})"
    return resolve_actor(
        store,
        _requested_policy(args),
        getattr(args, "as_user", None),
        repairing,
        action=command if command != "policy" else f"policy {args.what}",
        about=about,
    )


def _actions(args: argparse.Namespace, store: Any = None) -> Any:
    from jobtui.engine.service.actions import Actions

    store = store or _store(args)
    return Actions(store, _actor(args, store))


def _read_plainly(args: argparse.Namespace, read: Callable[[Any], Any]) -> Any:
    """`read` of the plain driver's reads (read.job_reads), or of the Store's where only those can answer
    (a refusal to audit, a job that is not there, a row changed by hand to name)."""
    from jobtui.engine.read.job_reads import NeedsStore

    plain = _plain_reads(args)
    if plain is not None:
        try:
            return read(plain)
        except NeedsStore:
            pass
    return read(_reads(args))


def _reads(args: argparse.Namespace) -> Any:
    """The scoped read path (jobtui.engine.service.reads) as the command's actor."""
    from jobtui.engine.service.reads import Reads

    store = _store(args)
    return Reads(store, _actor(args, store))


def _emit(args: argparse.Namespace, data: Any, text: str) -> None:
    if getattr(args, "json", False):
        print(json.dumps(data, indent=None if isinstance(data, dict) and len(data) < 4 else 2))
    else:
        _say(text)


def _after_action(args: argparse.Namespace, actions: Any, job_id: int, verb: str) -> int:
    from jobtui.engine.domain.states import status_label
    from jobtui.engine.service.views import job_json

    with actions.store.read() as session:
        from jobtui.engine.db.models import Job

        job = session.get(Job, job_id)
        data = (
            job_json(job, session, actions.store.now())
            if job is not None
            else {"id": job_id, "status": None, "deleted": True}
        )
        # Rejected, canceled or rolled back with POST still to run: it reads READY until then.
        ends_as = job.outcome if job is not None and job.status in ("READY", "RUNNING") else None
    label = data.get("status_label")
    if label and ends_as:
        label = f"{label}: {data['step']} runs, then {status_label(ends_as)}"
    _emit(args, data, f"job {job_id}: {verb} ({label})" if label else f"job {job_id}: {verb}")
    return EXIT_OK


# -- commands -------------------------------------------------------------------------------------------


def _cmd_daemon(args: argparse.Namespace) -> int:
    from jobtui.engine.worker.loop import Engine
    from jobtui.i18n import count_text

    if not 0 < args.heartbeat < args.lease:
        raise UsageError(
            f"daemon: --heartbeat {args.heartbeat:g} must be shorter than --lease {args.lease:g}"
        )
    handler = logging.StreamHandler()
    handler.setFormatter(_VisibleFormatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    stop, drain = threading.Event(), threading.Event()
    engines: list[Engine] = []

    def on_signal(signum: int, _frame: object) -> None:
        # First signal: finish the ops in flight and hand jobs back. Second: stop now; live ops are
        # re-adopted by the next engine.
        if drain.is_set() or not engines:
            stop.set()
        drain.set()
        for engine in engines:
            engine.wake()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    store = _store_when_reachable(args, stop)
    if store is None:
        return EXIT_OK
    read_only = _read_only_reason(args)
    if read_only:
        # It would start, then retry its first write forever.
        _say(f"daemon: database {_db_label(args)} cannot be written: {read_only}", err=True)
        return EXIT_BAD_INPUT
    engine = Engine(
        store, workers=args.workers, heartbeat_s=args.heartbeat, lease_s=args.lease, kind=DAEMON_ENGINE
    )
    engines.append(engine)
    print(
        f"jobtui engine {engine.worker_id[:8]} on {store.safe_url} with {count_text(engine.slots, 'worker')}",
        file=sys.stderr,
        flush=True,
    )
    lost = _watch_database_file(store, stop, engine)
    engine.run(stop, drain)
    print("jobtui engine stopped", file=sys.stderr, flush=True)
    return EXIT_BAD_INPUT if lost else EXIT_OK


def _watch_database_file(store: Any, stop: threading.Event, engine: Any) -> list[str]:
    """On SQLite, stop the daemon when its database file is deleted or replaced: it would go on working on
    a file nobody else sees. Returns the list the reason is put in (empty while all is well)."""
    reasons: list[str] = []
    if store.db_path is None:
        return reasons

    def watch() -> None:
        while not stop.wait(1.0):
            why = store.file_problem()
            if why is not None:
                reasons.append(why)
                print(f"jobtui engine stopping: {why}", file=sys.stderr, flush=True)
                stop.set()
                engine.wake()
                return

    threading.Thread(target=watch, name="jobtui-database-file", daemon=True).start()
    return reasons


class _VisibleFormatter(logging.Formatter):
    """The daemon's log lines quote job names, targets and op errors: their control characters are shown
    (tracebacks keep their line breaks), never sent to the terminal."""

    def format(self, record: logging.LogRecord) -> str:
        return visible(super().format(record), keep="\n\t")


def _store_when_reachable(args: argparse.Namespace, stop: threading.Event) -> Any:
    """A daemon started before its database server (at boot, say) waits for it; None if stopped first."""
    from jobtui.engine.db.store import StoreUnreachable

    failures = 0
    while not stop.is_set():
        try:
            return _store(args)
        except StoreUnreachable as exc:
            failures += 1
            delay = backoff_after(failures)
            _tell(f"daemon: database unreachable ({visible(str(exc))}); retrying in {delay:.1f}s")
            stop.wait(delay)
    return None


def _cmd_submit(args: argparse.Namespace) -> int:
    from jobtui.engine.formats.definition_file import load_definition
    from jobtui.engine.formats.envelope_file import is_envelope_file

    if args.envelope is not None and not args.envelope.strip():
        # Bad input, as `envelope = ""` in a file is: not a reason to submit the files as plain jobs.
        raise UsageError("submit --envelope: expected the envelope's name, not an empty string")
    if args.envelope is not None or len(args.files) > 1 or is_envelope_file(args.files[0]):
        return _submit_envelope(args)
    definition = load_definition(args.files[0])
    actions = _actions(args)
    job_id = actions.submit(
        definition,
        at=args.at,
        max_start=args.max_start,
        keep=args.keep,
        given_as={"at": "submit --at", "max_start": "submit --max-start"},
    )
    replaced = actions.replaced_by(job_id)
    text = f"submitted job {job_id} ({visible(definition.name)})"
    if replaced:
        text += "; replaced job " + ", ".join(str(i) for i in replaced)
    _emit(args, {"id": job_id, "replaced": replaced}, text)
    return EXIT_OK


def _submit_envelope(args: argparse.Namespace) -> int:
    from jobtui.engine.formats.envelope_file import EnvelopeCorrupt
    from jobtui.engine.service.envelope_actions import EnvelopeActions

    if len(args.files) > 1 and args.envelope is None:
        raise UsageError("submit: several files make an envelope; name it with --envelope NAME")
    if args.at or args.max_start:
        raise UsageError("submit: --at/--max-start apply to one job; in an envelope file use at/max_start")
    envelopes = EnvelopeActions(_actions(args))
    try:
        spec = (
            envelopes.of_files(args.files, args.envelope)
            if args.envelope is not None
            else envelopes.read_file(args.files[0])
        )
    except EnvelopeCorrupt as problem:
        try:
            envelope_id = envelopes.record_corrupt(problem)
        except Refusal as refused:
            # Recorded under a project the user may not create in (a file without `project =` is
            # "default"'s): the problem is still what the user needs to read, the refusal second.
            _say(f"{problem.reason}\n(not recorded as a corrupt envelope: {refused})", err=True)
            return EXIT_BAD_INPUT
        _say(
            f"{problem.reason}\n(recorded as corrupt envelope {envelope_id}; none of its jobs run)", err=True
        )
        return EXIT_BAD_INPUT
    envelope_id, ids = envelopes.submit(spec)
    text = f"submitted envelope {envelope_id} ({visible(spec.name)}): jobs " + " → ".join(str(i) for i in ids)
    _emit(args, {"envelope": envelope_id, "ids": ids}, text)
    return EXIT_OK


def _cmd_envelopes(args: argparse.Namespace) -> int:
    from jobtui.engine.service.envelope_actions import EnvelopeActions
    from jobtui.i18n import count_text

    envelopes = EnvelopeActions(_actions(args)).all_envelopes()
    v = visible
    lines = [
        f"{e['id']:>5}  {e['status']:<15} {v(e['project']):<12} {v(e['name'])}  "
        f"({count_text(len(e['jobs']), 'job')})"
        for e in envelopes
    ]
    _emit(args, envelopes, "\n".join(lines) or "no envelopes")
    return EXIT_OK


def _cmd_workers(args: argparse.Namespace) -> int:
    workers = _read_plainly(args, lambda reads: reads.workers())
    v = visible
    lines = [
        f"{'WORKER':<8}  {'HOST':<20} {'KIND':<9} {'PID':>7}  {'BUSY':>9}  {'HEARTBEAT':>9}  STATE    JOBS"
    ]
    for w in workers:
        busy = f"{'-' if w['state'] == 'stopped' else w['busy']}/{w['slots']}"
        age = w["heartbeat_age_s"]
        beat = "-" if age is None else f"{format_duration(age)} ago"
        jobs = ", ".join(str(job) for job in w["jobs"][:SHOWN_JOBS]) or "-"
        if len(w["jobs"]) > SHOWN_JOBS:
            jobs += f" (+{len(w['jobs']) - SHOWN_JOBS})"
        lines.append(
            f"{v(w['worker_id'])[:8]:<8}  {v(w['host'])[:20]:<20} {v(w['kind'] or '-'):<9} {w['pid']:>7}  "
            f"{busy:>9}  {beat:>9}  {w['state']:<8} {jobs}"
        )
    _emit(args, workers, "\n".join(lines) if workers else "no engine has served this database")
    return EXIT_OK


def _cmd_envelope(args: argparse.Namespace) -> int:
    from jobtui.engine.service.envelope_actions import EnvelopeActions

    data = EnvelopeActions(_actions(args)).detail(args.id, "envelope")
    v = visible
    lines = [f"envelope {data['id']} {v(data['name'])} [{v(data['project'])}] {data['status']}"]
    if data["reason"]:
        lines.append(f"  reason: {v(data['reason'])}")
    lines += [f"  job {j['id']:>5}  {j['status']:<12} {v(j['name'])}" for j in data["jobs"]]
    lines += [f"  {n['at']} {n['level']:<7} {v(n['text'])}" for n in data["notifications"]]
    _emit(args, data, "\n".join(lines))
    return EXIT_OK


def _cmd_envelope_rollback(args: argparse.Namespace) -> int:
    from jobtui.engine.service.envelope_actions import EnvelopeActions

    job_id = EnvelopeActions(_actions(args)).rollback(args.id, args.reason)
    _emit(
        args,
        {"envelope": args.id, "rollback_job": job_id},
        f"envelope {args.id}: rollback queued as job {job_id}",
    )
    return EXIT_OK


def _cmd_envelope_cancel(args: argparse.Namespace) -> int:
    from jobtui.engine.service.envelope_actions import EnvelopeActions

    ids = EnvelopeActions(_actions(args)).cancel(args.id, args.comment)
    _emit(args, {"envelope": args.id, "canceled": ids}, f"envelope {args.id}: canceled jobs {ids or 'none'}")
    return EXIT_OK


def _cmd_host_gone(args: argparse.Namespace) -> int:
    from jobtui.engine.service.host_actions import HostActions

    released = HostActions(_actions(args)).declare_gone(args.host, args.comment)
    if released:
        which = f"job {released[0]}" if len(released) == 1 else f"jobs {', '.join(map(str, released))}"
        said = f"retry, rerun and rollback of {which} no longer wait for its ops"
    else:
        said = "no job waited for its ops"
    _emit(args, {"host": args.host, "released": released}, f"host {visible(args.host)} declared gone: {said}")
    return EXIT_OK


def _cmd_jobs(args: argparse.Namespace) -> int:
    from jobtui.engine.domain.states import Status

    if args.project is not None and not args.project.strip():
        # An empty name read as no --project and listed every project: a script passing an unset
        # variable would act on all of them.
        raise UsageError("jobs --project: expected a project's name, not an empty string")
    for code in args.status:
        if code.upper() not in Status.__members__:
            raise UsageError(f'jobs: unknown status "{code}" (one of {", ".join(Status.__members__)})')
    # A row changed by hand (a status jobtui does not know) is named on stderr and left out, and the exit
    # code says the list is not whole: the other jobs still list, so the operator can act on them.
    # Printed as read, a page at a time: the whole list in memory took gigabytes on a big database.
    unreadable: list[Any] = []
    statuses = [c.upper() for c in args.status]
    plain = _plain_reads(args)
    if plain is not None:
        from jobtui.engine.read.job_pages import job_documents

        jobs = job_documents(
            plain.listing, statuses, args.project, args.all, args.limit, plain.now(), unreadable
        )
    else:
        jobs = _reads(args).iter_jobs(statuses, args.project, args.all, args.limit, unreadable)
    try:
        _print_jobs(args, jobs)
    finally:
        for problem in unreadable:
            _say(f"jobs: {problem} (not listed)", err=True)
    return EXIT_BAD_INPUT if unreadable else EXIT_OK


def _plain_reads(args: argparse.Namespace) -> Any:
    """The command's reads through the plain driver (read.job_reads; no SQLAlchemy: a read command starts
    in a fraction of the time), scoped by the command's actor; None when the Store must serve the command:
    --as (a refused one is audited through it), no database file yet, or a database at another schema
    than this code's (the Store migrates or heals it, or says what is wrong)."""
    if getattr(args, "as_user", None) is not None:
        return None
    from jobtui.engine.db.driver import Reader, default_db_url, normalise_url, printable_url, sqlite_path
    from jobtui.engine.errors import ConnectFailed, ReadFailed, StoreUnreachable
    from jobtui.engine.read.job_reads import PlainReads
    from jobtui.engine.read.listing import JobListing, scope_of
    from jobtui.engine.service.policy import actor_for_url

    _lock_wait_s()  # checked as every command checks it
    url = normalise_url(getattr(args, "db", None) or default_db_url())
    path = sqlite_path(url)
    if path is not None and not path.exists():
        return None
    try:
        reader = Reader(url)
        if not JobListing(reader).ready():
            return None
    except ConnectFailed as exc:
        if path is not None:
            return None  # the Store says what is wrong with the file
        # In the Store's words, at once: it would wait out a stuck server's connect timeout a second time.
        reason = " ".join(str(exc.orig).split())
        raise StoreUnreachable(f"cannot open database {printable_url(url)}: {reason}") from None
    except (ReadFailed, ValueError):
        return None
    actor = actor_for_url(url, _requested_policy(args))
    try:
        return PlainReads.open(JobListing(reader, scope_of(actor)), actor, os.environ.get("JOBTUI_LOG_DIR"))
    except ReadFailed:
        return None


def _print_jobs(args: argparse.Namespace, jobs: Iterable[dict[str, Any]]) -> None:
    if args.json:
        # As json.dumps(all of them, indent=2) prints them, one at a time.
        opened = False
        for job in jobs:
            sys.stdout.write(
                ("[\n" if not opened else ",\n") + textwrap.indent(json.dumps(job, indent=2), "  ")
            )
            opened = True
        sys.stdout.write("\n]\n" if opened else "[]\n")
        sys.stdout.flush()
        return
    v = visible
    _say(f"{'ID':>6}  {'JOB':<24} {'PROJECT':<12} {'STATUS':<20} {'STEP':<5} {'PROG':>4}  SCHEDULED")
    for job in jobs:
        _say(
            f"{job['id']:>6}  {v(job['name'])[:24]:<24} {v(job['project'])[:12]:<12} "
            f"{job['status_label'][:20]:<20} {job['step']:<5} {job['progress']:>3}%  {job['scheduled_at']}"
        )


def _cmd_show(args: argparse.Namespace) -> int:
    data = _read_plainly(args, lambda reads: reads.detail(args.id, "show"))
    if data["next_run_at"] and data["status"] == "READY":
        queue_paused, reason = _queue_paused(args)
        if queue_paused:
            # Due, it waits for the queue (said nothing: its next run long past, "its scheduled date").
            data["next_run_why"] = f"the queue is paused: {reason}" if reason else "the queue is paused"
    if args.json:
        # Indented JSON is encoded in pure Python; a job with thousands of targets prints on one line,
        # through the C encoder, five times faster (the same data).
        print(json.dumps(data, indent=2 if len(data["tasks"]) <= COMPACT_JSON_TASKS else None))
        return EXIT_OK
    v = visible
    _say(f"job {data['id']}  {v(data['name'])}  [{v(data['type'])}]  project {v(data['project'])}")
    _say(
        f"  status  {data['status_label']} ({data['status']})  step {data['step']}  "
        f"progress {data['progress']}%  exec {data['exec']}"
    )
    if data["reason"]:
        _say(f"  reason  {v(data['reason'])}")
    for key in ("scheduled_at", "max_start_at", "started_at", "ended_at"):
        _say(f"  {key:<13} {data[key] or '-'}")
    if data["next_run_at"]:
        _say(f"  {'next_run_at':<13} {data['next_run_at']}  ({v(data['next_run_why'])})")
    if data["status"] == "APPROVAL":
        _say(f"  approvers  {_approvers_text(data['approvers'])}")
    if data["trap"]:
        left = data["trap"]["timeout_left_s"]
        left_text = "forever" if left is None else format_duration(left)
        paused = "yes" if data["trap"]["paused"] else "no"
        target = data["trap"].get("target")
        on = f"  target {v(target)}" if target else ""
        _say(f"  trap    op {v(data['trap']['op'])}{on}  left {left_text}  paused {paused}")
    _say_tasks_and_steps(data)
    return EXIT_OK


def _say_tasks_and_steps(data: dict[str, Any]) -> None:
    """The job's tasks, then its ops in the order the engine runs them: by their place in the plan
    (`position`: each op for every target, then the next op), job-wide and per-target ops interleaved,
    each saying whom it runs for. Listed task by task and then the job-wide ones, a job-wide PRE op read
    as if it ran after the targets' RUN ops. Ops that all have one owner (a job of one target) stay
    listed under it: that is already the order they run in."""
    tasks = data["tasks"]
    # A task's rollbacks, which the JSON lists among the job's own ops too, are listed once: the task's.
    listed = {step["id"] for task in tasks for step in task["steps"]}
    job_wide = [step for step in data["steps"] if step["id"] not in listed]
    owners = sum(1 for task in tasks if task["steps"]) + (1 if job_wide else 0)
    for task in tasks:
        _say(f"  task {visible(task['target'])}: {task['status']} {task['progress']}%")
        if owners <= 1:
            for step in task["steps"]:
                _say_step(step)
    if owners <= 1:
        if job_wide and tasks:
            _say("  job-wide")
        for step in job_wide:
            _say_step(step)
        return
    owned = [(step, f"task {visible(task['target'])}") for task in tasks for step in task["steps"]]
    owned += [(step, "job-wide") for step in job_wide]
    owned.sort(key=lambda pair: pair[0]["position"])
    _say("  steps, in the order they run:")
    for step, owner in owned:
        _say_step(step, owner)


def _queue_paused(args: argparse.Namespace) -> tuple[bool, str | None]:
    """Whether the queue is paused, and why."""
    plain = _plain_reads(args)
    if plain is not None:
        paused, reason = plain.listing.queue_flags()
        return bool(paused), reason
    queue = _actions(args).queue_state()
    return bool(queue.paused), queue.reason


def _approvers_text(approvers: list[str] | None) -> str:
    listed = ", ".join(visible(name) for name in approvers or ())
    anyone = "whoever has action.job.approve_all on the project"
    return f"{listed} (or {anyone})" if listed else anyone


def _say_step(step: dict[str, Any], owner: str | None = None) -> None:
    code = "-" if step["exit_code"] is None else str(step["exit_code"])
    line = f"    {step['step']:<8} {visible(step['name']):<24} {step['status']:<8} exit "
    # Whom it runs for in a column of its own: exit codes of up to 4 characters (-15, 127) keep it aligned.
    line = line + code if owner is None else f"{line}{code:<4}  {owner}"
    if step.get("host"):  # where it ran: on several hosts sharing a queue nothing else says
        line += f"  on {visible(step['host'])}" + (f" pid {step['pid']}" if step.get("pid") else "")
    _say(line)
    # Why it failed where its exit code does not say (a program that could not start, a timeout, a log
    # that could not be written): on a line of its own, as `--json`'s `error`.
    error = step.get("error")
    if error and error != f"exit {code}" and not error.startswith(f"exit {code} ("):
        _say(f"{'':13}{visible(error)}")


class VisibleLog:
    """Log bytes, piece by piece, as text a terminal shows without obeying it: UTF-8 (a character split
    between two pieces kept whole, a byte that is not UTF-8 shown as \\xNN) with every control
    character but line feed and tab shown visibly (`visible`): colours read ^[[31m, a carriage return ^M.
    A joiner or variation selector at a piece's edge reads as it does in one piece (`VisibleStream`)."""

    def __init__(self) -> None:
        import codecs

        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="backslashreplace")
        self._visible = VisibleStream(keep="\n\t")

    def feed(self, data: bytes, final: bool = False) -> bytes:
        return self._visible.feed(self._decoder.decode(data, final), final).encode("utf-8")


def log_output_is_raw(args: argparse.Namespace, stdout: Any = None) -> bool:
    """`jobtui log` passes the log's exact bytes to a pipe or a file (scripts rely on it) or with --raw;
    to a terminal it shows control characters visibly, so no escape sequence written by an op reaches it."""
    stream = sys.stdout if stdout is None else stdout
    if getattr(args, "raw", False):
        return True
    try:
        return not stream.isatty()
    except (AttributeError, ValueError):
        return True


def _cmd_log(args: argparse.Namespace) -> int:
    from jobtui.engine.read.job_reads import NeedsStore

    reads = _plain_reads(args)
    try:
        if reads is not None:
            reads.log_path(args.id, "log")
    except NeedsStore:
        reads = None
    if reads is None:
        reads = _reads(args)
        reads.log_path(args.id, "log")  # an unknown job, or one the actor may not view, is refused here
    log = _LogReader(args, reads)
    if not args.follow:
        code = log.step()
        assert code is not None  # without --follow, one pass reads it whole
        return code
    outage = _Outage(f"log: database {_db_label(args)}")
    while True:
        try:
            code = log.step()
        except Exception as exc:
            if not _database_away(exc):
                raise
            # A restarted or unreachable database: the job may run on, so does the follower. What was
            # printed is behind the cursor; the next pass reads on from there, nothing twice or lost.
            time.sleep(outage.failed(exc))
            continue
        outage.back()
        if code is not None:
            return code
        time.sleep(0.25)


def _database_away(exc: Exception) -> bool:
    """Whether `exc` says the database did not answer (restarted, unreachable, locked too long). The
    Store's errors are SQLAlchemy's, which only a command that loaded it can meet."""
    from jobtui.engine.errors import ReadFailed

    if isinstance(exc, ReadFailed):
        return True
    if "sqlalchemy" not in sys.modules:
        return False
    from jobtui.engine.db.store import DATABASE_ERRORS

    return isinstance(exc, DATABASE_ERRORS)


class _Outage:
    """A follower's outage of its database: said once as it begins and once as it ends (with how long it
    lasted), waited out as the engine does (0.5 s doubling to 15 s)."""

    def __init__(self, who: str) -> None:
        self.who = who
        self.since: float | None = None
        self.failures = 0

    def failed(self, exc: Exception) -> float:
        """How long to wait before trying again."""
        if self.since is None:
            self.since = time.monotonic()
            self.failures = 0
            orig = getattr(exc, "orig", None) or exc
            reason = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
            _say(f"{self.who} unreachable ({visible(reason)}); following on when it is back", err=True)
        self.failures += 1
        return backoff_after(self.failures)

    def back(self) -> None:
        if self.since is not None:
            lasted = format_duration(round(time.monotonic() - self.since))
            _say(f"{self.who} reachable again after {lasted}; following on", err=True)
            self.since = None


class _LogReader:
    """`jobtui log`'s reading of a job's log: `step` prints what was added since the last step, and
    returns the exit code once there is nothing more to wait for (without --follow: at once)."""

    def __init__(self, args: argparse.Namespace, reads: Any) -> None:
        self.args = args
        self.reads = reads
        self.shown = None if log_output_is_raw(args) else VisibleLog()
        self.split = StreamSplit()  # the op's bytes: the marks before its stderr lines are the log's
        self.cursor = None
        self.settling: _Settling | None = None

    def step(self) -> int | None:
        from jobtui.engine.read.job_reads import NeedsStore

        try:
            return self._step()
        except NeedsStore:
            # Refused, deleted or changed by hand meanwhile: the Store's path says so as it must. The cursor
            # stands past what was printed: it reads on from there, nothing twice.
            self.reads = _reads(self.args)
            return self._step()

    def _step(self) -> int | None:
        args, reads, shown, split = self.args, self.reads, self.shown, self.split
        # Asked before reading: the engine ships a job's last line in the transaction that ends it, so
        # a read after seeing the end holds everything.
        ended = not args.follow or reads.has_ended(args.id)
        # In pieces, as bytes: a log of any size passes through in constant memory, byte for byte. The
        # log is read from the database, where the engine that runs the job ships it, on any host. The
        # cursor moves only past what was printed.
        grew = False
        while True:
            piece = reads.log_read(args.id, self.cursor, LOG_PIECE_BYTES)
            if not piece.data:
                self.cursor = piece.cursor
                break
            grew = True
            data = split.text(piece.data)
            sys.stdout.buffer.write(data if shown is None else shown.feed(data))
            sys.stdout.flush()
            self.cursor = piece.cursor
        if ended and args.follow and self.settling is None and _ended_by_hand(reads, args.id):
            self.settling = _Settling(time.monotonic())
        if ended and self.settling is not None and not self.settling.done(grew, time.monotonic()):
            ended = False  # the lines its engine writes as it stops the op are still to come
        if not ended:
            return None
        job = reads.job(args.id, "log")  # before the last bytes: read once, whatever fails after
        rest = split.text(b"", final=True)  # bytes held back in case they began a mark
        sys.stdout.buffer.write(rest if shown is None else shown.feed(rest, final=True))
        sys.stdout.flush()
        if job is None:
            # Deleted while it was read (or followed): its log ends here, not where the job ended. A
            # job that no longer exists is what exit 2 says ("no such job"), as for `log` of one.
            _say(f"log: job {args.id} was deleted; its log ends here", err=True)
            return EXIT_BAD_INPUT
        if args.follow:
            # Following stops because the job ended: say how, or a script's reader cannot tell an
            # ABEND from a success. The log was read whole, which is what exit 0 says; the end
            # status is the job's, not the command's (show --json has it).
            why = f": {visible(job['reason'])}" if job["reason"] else ""
            _say(f"log: job {args.id} ended {job['status']}{why}", err=True)
        return EXIT_OK


# A job an operator ended (canceled): its engine stops the op and ships what that wrote within a pass or
# two of seeing it, after the end was committed. A follower reads on until the log has been still this long
# (seconds), at most LOG_SETTLE_MAX_S.
LOG_SETTLE_QUIET_S = 1.0
LOG_SETTLE_MAX_S = 5.0


@dataclasses.dataclass
class _Settling:
    since: float
    quiet_since: float | None = None

    def done(self, grew: bool, now: float) -> bool:
        if grew or self.quiet_since is None:
            self.quiet_since = now
        return now - self.quiet_since >= LOG_SETTLE_QUIET_S or now - self.since >= LOG_SETTLE_MAX_S


def _ended_by_hand(reads: Any, job_id: int) -> bool:
    job = reads.job(job_id, "log")
    return job is not None and job["status"] == "CANCELED"


def _job_command(args: argparse.Namespace) -> int:
    """A job command of the registry: the service method named like its verb, given the job id and the
    verb's arguments in order."""
    command = next(c for c in cli_commands() if c.cli is not None and c.cli.verb == args.command)
    assert command.cli is not None
    actions = _actions(args)
    values = (getattr(args, _dest(arg)) for arg in command.cli.args)
    getattr(actions, command.cli.verb)(args.id, *values)
    return _after_action(args, actions, args.id, command.cli.done)


def _dest(arg: CliArg) -> str:
    return arg.name.lstrip("-").replace("-", "_")


def _add_cli_arg(parser: argparse.ArgumentParser, arg: CliArg) -> None:
    options: dict[str, Any] = {"help": arg.help or None}
    if arg.flag:
        options["action"] = "store_true"
    else:
        if arg.choices:
            options["choices"] = list(arg.choices)
        if arg.upper:
            options["type"] = str.upper
        if arg.name.startswith("-"):
            options["required"] = arg.required
    if arg.name.startswith("-"):
        options["dest"] = _dest(arg)
    parser.add_argument(arg.name, **options)


def _cmd_rerun(args: argparse.Namespace) -> int:
    actions = _actions(args)
    actions.rerun(args.id, args.step, run_now=args.now)
    return _after_action(args, actions, args.id, f"rerun from {args.step}")


def _cmd_trap(args: argparse.Namespace) -> int:
    actions = _actions(args)
    actions.trap(args.id, args.what, args.comment)
    return _after_action(args, actions, args.id, f"trap {args.what}")


def _cmd_queue(args: argparse.Namespace) -> int:
    from jobtui.i18n import count_text

    actions = _actions(args)
    cleared: list[int] | None = None
    if args.reason is not None and (args.what != "pause" or not args.reason.strip()):
        # An empty reason read as none: the header said "paused by USER", and its JSON had no reason.
        raise UsageError(
            "queue --reason: expected why the queue is paused, not an empty string"
            if args.what == "pause"
            else f"queue {args.what}: --reason goes with pause only"
        )
    if args.what == "pause":
        actions.queue_pause(args.reason)
    elif args.what == "resume":
        actions.queue_resume()
    elif args.what == "clear":
        cleared = actions.queue_clear()
    state = actions.queue_state()
    data: dict[str, Any] = {
        "paused": state.paused,
        "queued": state.queued,
        "running": state.running,
        "workers": state.workers,
    }
    if state.reason:
        data["reason"] = state.reason
    if cleared is not None:
        data["canceled"] = cleared
    text = (
        f"queue {'PAUSED' if state.paused else 'RUNNING'}"
        + (f" ({visible(state.reason)})" if state.paused and state.reason else "")
        + f": {state.queued} queued, {state.running} running, {count_text(state.workers, 'worker')}"
        + (f"; {count_text(len(cleared), 'job_canceled')}" if cleared is not None else "")
    )
    _emit(args, data, text)
    return EXIT_OK


def _cmd_settings(args: argparse.Namespace) -> int:
    from jobtui.engine.service.actions import SETTINGS

    actions = _actions(args)
    if args.key is not None and args.key not in SETTINGS:
        raise UsageError(f'settings: unknown setting "{args.key}" (known: {", ".join(SETTINGS)})')
    if args.key is not None and args.value is not None:
        actions.set_setting(args.key, _setting_value(args.key, args.value, SETTINGS[args.key]))
    values = actions.settings()
    if args.key is not None:
        values = {args.key: values[args.key]}
    _emit(args, values, "\n".join(f"{key} = {json.dumps(value)}" for key, value in values.items()))
    return EXIT_OK


def _setting_value(key: str, text: str, default: object) -> object:
    """A setting's new value, of the kind its default is: a switch, or a positive whole number."""
    lowered = text.lower()
    if isinstance(default, bool):
        if lowered not in ("true", "false", "on", "off", "1", "0", "yes", "no"):
            raise UsageError(f'settings: {key} takes true or false, not "{text}"')
        return lowered in ("true", "on", "1", "yes")
    # ASCII digits only: isdigit() takes "９", "٩" and "²" (int() fails on the last: an internal error).
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 1 << 20:
        raise UsageError(f'settings: {key} takes a whole number from 1 to {1 << 20}, not "{text}"')
    return int(text)


def _cmd_policy(args: argparse.Namespace) -> int:
    """`policy install FILE` (the database's owner for the first policy, then action.admin.policy),
    `policy show`, `policy remove` (action.admin.policy)."""
    from jobtui.engine.formats import toml_text
    from jobtui.engine.formats.policy_file import PolicyError
    from jobtui.engine.service.policy import PolicyAdmin

    text = None
    if args.what == "install":
        try:
            text = toml_text.read_text(args.file)
        except toml_text.TomlFileError as exc:
            raise PolicyError(
                str(exc).replace(": cannot read file: ", ": cannot read policy file: ", 1)
            ) from exc
    store = _store(args)
    admin = PolicyAdmin(store, _actor(args, store, repairing=True))
    if args.what == "install":
        assert text is not None
        stored = admin.install(text, str(args.file))
        _emit(
            args,
            {"installed": True, **stored.to_json()},
            f"policy installed from {args.file}: it binds every command and dashboard on this database",
        )
    elif args.what == "remove":
        stored = admin.remove()
        _emit(
            args,
            {"installed": False, "removed": stored.to_json()},
            f"policy removed (installed by {visible(stored.installed_by)} at {stored.installed_at}): "
            "the database is in single-user mode (--policy / $JOBTUI_POLICY apply again)",
        )
    else:
        shown = admin.show()
        if args.json:
            empty = {"text": None, "installed_by": None, "installed_at": None, "by": None, "source": None}
            print(json.dumps({"installed": shown is not None, **(shown.to_json() if shown else empty)}))
        elif shown is None:
            _tell("no policy is stored in this database: single-user mode (--policy / $JOBTUI_POLICY apply)")
        else:
            who = visible(shown.installed_by) + (f" (by {visible(shown.by_user)})" if shown.by_user else "")
            _tell(f"policy installed by {who} at {shown.installed_at} from {visible(shown.source or '-')}:")
            # The text alone on stdout, exactly as installed (edit it and install it again); to a terminal
            # its control characters show, as `jobtui log` shows a log's.
            text = shown.text if shown.text.endswith("\n") else shown.text + "\n"
            sys.stdout.write(visible(text, keep="\n\t") if sys.stdout.isatty() else text)
    return EXIT_OK


def _cmd_audit(args: argparse.Namespace) -> int:
    rows = _read_plainly(args, lambda reads: reads.audit(args.id, "audit"))
    if args.json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    for row in rows:
        move = f"{row['from'] or '-'} → {row['to'] or '-'}"
        who = visible(row["who"]) + (f" (by {visible(row['by'])})" if row["by"] else "")
        action = row["action"] + (" REFUSED" if row["refused"] else "")
        comment = visible(row["comment"] or "")
        _say(f"{row['at']}  {who:<20} {action:<18} {move:<26} {comment}")
    return EXIT_OK


def _cmd_serve(args: argparse.Namespace) -> int:
    from jobtui.engine.domain.permissions import login_name
    from jobtui.serve import is_loopback, serve

    user = login_name()
    loopback = is_loopback(args.host)
    if not loopback and not args.public:
        raise UsageError(
            f"serve: {args.host} is not a loopback address: whoever reaches it would act as {user}; "
            "give --public to serve it anyway"
        )
    # Each browser session runs `jobtui` with the database and identity options this one was given (the
    # database in its environment: see jobtui.serve).
    dashboard: list[str] = []
    for option in ("policy", "as_user"):
        value = getattr(args, option, None)
        if value:
            dashboard += [f"--{option.replace('_user', '')}", value]
    for flag in ("readonly", "no_alerts"):
        if getattr(args, flag, False):
            dashboard.append(f"--{flag.replace('_', '-')}")
    if getattr(args, "lang", None):
        dashboard += ["--lang", args.lang]

    def announce(address: str) -> None:
        # Once the port is bound: a port another program holds, or a host that is not this machine's, gets
        # a line saying so (exit 2) and never the token.
        if not loopback:
            _say(
                f"serve: WARNING: listening on {args.host}:{args.port} unencrypted; anyone who reaches this "
                f"port and learns the address below (its token) uses the dashboard as {user}, with every "
                f"right {user} has: serve it behind an HTTPS proxy, or reach it through `ssh -L`",
                err=True,
            )
        _say(f"serve: the dashboard on {address} (Ctrl+C stops)", err=True)

    serve(args.host, args.port, dashboard, _db_url(args), args.public, announce)
    return EXIT_OK


def _cmd_demo(args: argparse.Namespace) -> int:
    from jobtui.demo.seed import DemoStream, seed_demo, seed_envelopes

    store = _store(args)
    if args.jobs:
        from jobtui.demo.bulk import bulk_load
        from jobtui.engine.domain.permissions import PermissionRefused
        from jobtui.engine.service.policy import stored_policy_in

        if stored_policy_in(store) is not None:
            # The bulk load writes rows directly, past every permission check.
            raise PermissionRefused(
                f"demo --jobs: {store.safe_url} stores a policy; load a database of its own"
            )

        def report(done: int) -> None:
            print(f"\rdemo: {done:,}/{args.jobs:,} historical jobs", end="", file=sys.stderr, flush=True)

        started = time.perf_counter()
        bulk_load(store, args.jobs, progress=report if sys.stderr.isatty() else None)
        elapsed = time.perf_counter() - started
        if sys.stderr.isatty():
            print(file=sys.stderr)
        print(
            f"demo: loaded {args.jobs:,} historical jobs into {store.safe_url} in {elapsed:.1f} s",
            file=sys.stderr,
            flush=True,
        )
        if args.no_open:
            return EXIT_OK
    ids = seed_demo(store)
    envelopes = seed_envelopes(store)
    chained = sum(len(jobs) for jobs in envelopes.values())
    print(
        f"demo: submitted {len(ids)} jobs and {len(envelopes)} envelopes of {chained} jobs "
        f"to {store.safe_url}",
        file=sys.stderr,
    )
    if args.no_open:
        return EXIT_OK
    # The app's embedded engine runs the jobs; the stream keeps submitting and acting like an operator.
    stream = DemoStream(store)
    stream.start()
    try:
        return _open_app(args)
    finally:
        stream.stop()


def _open_app(args: argparse.Namespace) -> int:
    from jobtui.app import run_app
    from jobtui.config import DEFAULT_VIEW, load_config
    from jobtui.engine.db.driver import default_db_url
    from jobtui.engine.service.policy import actor_for_url

    url = getattr(args, "db", None) or default_db_url()
    # A bad config file stops here with one line (exit 2), before the dashboard takes the terminal.
    config = load_config()
    view = getattr(args, "view", None) or config.view or DEFAULT_VIEW
    alerts = config.alerts
    if getattr(args, "no_alerts", False):
        alerts = dataclasses.replace(alerts, enabled=False)
    # Resolved (and --as refused) before the dashboard opens, under the database's stored policy if any.
    actor = actor_for_url(url, _requested_policy(args), getattr(args, "as_user", None))
    return run_app(
        url,
        readonly=getattr(args, "readonly", False),
        lang=getattr(args, "lang", None),
        actor=actor,
        view=view,
        alerts=alerts,
    )
