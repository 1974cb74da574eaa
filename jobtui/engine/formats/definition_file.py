"""TOML job definition files: parsing and the CHECK step that refuses bad files before a job exists.

The file format (key names, defaults, allowed values) is a public contract: users keep these files
in their repositories, so names here must not change casually.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import os
import re
import tomllib
from collections.abc import Iterator
from typing import Any

import pendulum

from jobtui.engine.domain.definitions import (
    DEFAULT_AT,
    DEFAULT_MAX_START,
    DEFAULT_PROJECT,
    DEFAULT_RETRY_EVERY,
    DEFAULT_TRAP_TIMEOUT,
    DEFAULT_TYPE,
    ENGINE_VARIABLES,
    ON_ERROR_VALUES,
    SCHEDULE_MODES,
    STEPS_WITH_OPS,
    TRAP_TIMEOUT_ACTIONS,
    Definition,
    DefinitionError,
    OpDef,
    ScheduleDef,
)
from jobtui.engine.domain.text import name_problem
from jobtui.engine.domain.timeparse import (
    TimeParseError,
    check_zone,
    parse_duration,
    parse_max_start,
    parse_when,
)
from jobtui.engine.formats import toml_text
from jobtui.engine.formats.toml_lines import Locator, Section, located

_TOP_KEYS = (
    "name",
    "type",
    "project",
    "natures",
    "system",
    "approval",
    "approvers",
    "rollback_on_error",
    "trap_timeout",
    "trap_timeout_action",
    "targets",
    "schedule",
    "pre",
    "run",
    "post",
)
_SCHEDULE_KEYS = ("mode", "timezone", "at", "max_start", "start", "expires", "window", "days", "retry_every")
_WINDOW_KEYS = ("from", "to")
_SEED_003_KEYS = ("mode", "timezone", "start", "expires", "window", "days", "retry_every")
_OP_KEYS = ("name", "run", "argv", "call", "per_target", "timeout", "on_error", "rollback", "env")
_ACTION_KEYS = ("run", "argv", "call")

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_CALL = re.compile(rf"{_IDENT}(?:\.{_IDENT})*:{_IDENT}(?:\.{_IDENT})*")


# ---------------------------------------------------------------------------------------------
# Validation


def _show(value: Any, depth: int = 0) -> str:
    """Render a value the way it would be written in TOML, for "got ..." messages (nested lists only a
    few levels deep: a file may nest them thousands deep)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        if len(value) > 5:
            return "a list of " + str(len(value)) + " items"
        if depth >= 3:
            return "a nested list"
        return "[" + ", ".join(_show(item, depth + 1) for item in value) + "]"
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return repr(value)


def _quoted_list(values: tuple[str, ...]) -> str:
    quoted = [f'"{value}"' for value in values]
    return ", ".join(quoted[:-1]) + " or " + quoted[-1] if len(quoted) > 1 else quoted[0]


def _did_you_mean(key: str, known: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    return f' (did you mean "{close[0]}"?)' if close else ""


_NUL_ESCAPE = re.compile(r"\\u0000|\\U00000000")


def _nul_fields(data: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(section label, field, where inside it) of each string holding a NUL, in document order: e.g.
    ("[[run]] #2 ", "argv", "item 2") or ("", "targets", "item 3")."""
    found: list[tuple[str, str, str]] = []
    for key, value in data.items():
        if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
            for number, table in enumerate(value, 1):
                for field, inner in table.items():
                    found += [(f"[[{key}]] #{number} ", str(field), where) for where in _nul_paths(inner, "")]
        elif isinstance(value, dict):
            for field, inner in value.items():
                found += [(f"[{key}] ", str(field), where) for where in _nul_paths(inner, "")]
        else:
            found += [("", str(key), where) for where in _nul_paths(value, "")]
    return found


def _nul_paths(value: Any, path: str) -> list[str]:
    """Where inside a field's value its NULs are ("" for the value itself, "item 2", "key X")."""
    if isinstance(value, str):
        return [path] if "\x00" in value else []
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _nul_paths(item, f"{path}, key {key}" if path else f"key {key}")
    elif isinstance(value, list):
        for number, item in enumerate(value, 1):
            found += _nul_paths(item, f"{path}, item {number}" if path else f"item {number}")
    return found


class _Checker:
    def __init__(self, text: str, source: str) -> None:
        self.source = source
        self.locator = Locator(text)
        self.errors: list[tuple[int, str]] = []

    def error(self, line: int | None, message: str) -> None:
        self.errors.append((line or 0, located(self.source, line, message)))

    def field_error(self, section: Section, label: str, key: str, message: str) -> None:
        self.error(self.locator.key(section, key), f'{label}"{key}": {message}')

    def unknown_keys(
        self,
        table: dict[str, Any],
        section: Section,
        where: str,
        known: tuple[str, ...],
        written_at: int | None = None,
    ) -> None:
        """`written_at`: the line of a table written inline (`window = { ... }`), whose keys the locator
        does not track one by one: its key's line is where they are."""
        for key in table:
            if key not in known:
                self.error(
                    self.locator.key(section, key) or written_at,
                    f'unknown key "{key}" {where}{_did_you_mean(key, known)}',
                )

    def refuse_nul(self, text: str, data: dict[str, Any]) -> None:
        """A NUL character (TOML's \\u0000) cannot be passed to a process in a command, an argument or
        an environment value, and would cut names short: no string of a definition may hold one."""
        lines = [number for number, line in enumerate(text.splitlines(), 1) if _NUL_ESCAPE.search(line)]
        for index, (label, key, where) in enumerate(_nul_fields(data)):
            line = lines[index] if index < len(lines) else None
            inside = f" ({where})" if where else ""
            self.error(
                line,
                f'{label}"{key}"{inside}: contains a NUL character (\\u0000), which no command, name or '
                "value may hold",
            )

    # Typed getters: each reports its own error and returns a default so that checking goes on
    # and every problem in the file is reported at once.

    def string(
        self, table: dict[str, Any], section: Section, label: str, key: str, default: str | None
    ) -> str | None:
        if key not in table:
            return default
        value = table[key]
        if not isinstance(value, str):
            self.field_error(section, label, key, f"expected a string, got {_show(value)}")
            return default
        if not value.strip():
            self.field_error(section, label, key, "must not be empty")
            return default
        return value

    def boolean(self, table: dict[str, Any], section: Section, label: str, key: str) -> bool:
        value = table.get(key, False)
        if not isinstance(value, bool):
            self.field_error(section, label, key, f"expected true or false, got {_show(value)}")
            return False
        return value

    def strings(
        self,
        table: dict[str, Any],
        section: Section,
        label: str,
        key: str,
        unique: bool = False,
        names: bool = False,
        padded: bool = True,
    ) -> tuple[str, ...]:
        """A list of strings. `names`: each one is a login or a role, so it may not have spaces around it or
        control characters in it (`name_problem`). Not `padded`: no spaces around it (" web-01" matched no
        host); what a target holds besides is data, shown escaped wherever it is shown."""
        value = table.get(key, [])
        if not isinstance(value, list):
            self.field_error(section, label, key, f"expected a list of strings, got {_show(value)}")
            return ()
        items: list[str] = []
        seen: set[str] = set()  # a job may name 100,000 targets: looking each up in `items` is quadratic
        for position, item in enumerate(value, start=1):
            if not isinstance(item, str):
                self.field_error(
                    section, label, key, f"expected a list of strings, but item {position} is {_show(item)}"
                )
            elif not item.strip():
                self.field_error(section, label, key, f"item {position} must not be empty")
            elif names and (problem := name_problem(item)) is not None:
                self.field_error(section, label, key, f"item {position} {_show(item)} {problem}")
            elif not padded and item != item.strip(" \t"):
                self.field_error(
                    section, label, key, f"item {position} {_show(item)} must not start or end with a space"
                )
            elif unique and item in seen:
                self.field_error(section, label, key, f"{_show(item)} is listed more than once")
            else:
                items.append(item)
                seen.add(item)
        return tuple(items)

    def choice(
        self, table: dict[str, Any], section: Section, label: str, key: str, allowed: tuple[str, ...]
    ) -> str:
        value = table.get(key, allowed[0])
        if value not in allowed:
            self.field_error(section, label, key, f"expected {_quoted_list(allowed)}, got {_show(value)}")
            return allowed[0]
        return str(value)

    def duration(self, table: dict[str, Any], section: Section, label: str, key: str, default: Any) -> float:
        value = table.get(key, default)
        if value is None:
            return 0.0
        if not isinstance(value, str | int | float):
            self.field_error(section, label, key, f'expected a duration like "10m", got {_show(value)}')
            return 0.0
        try:
            return parse_duration(value)
        except TimeParseError as exc:
            self.field_error(section, label, key, str(exc))
            return 0.0

    def when_text(self, table: dict[str, Any], label: str, key: str, default: str) -> str | None:
        value = table.get(key, default)
        # An unquoted TOML date-time is what many people will write; keep it as its ISO text.
        if isinstance(value, dt.datetime | dt.date):
            return value.isoformat()
        if not isinstance(value, str):
            self.field_error(("schedule", 0), label, key, f"expected a date as a string, got {_show(value)}")
            return None
        return value

    def check(self, text: str) -> Definition | None:
        try:
            data = toml_text.loads(text, self.source)
        except tomllib.TOMLDecodeError as exc:
            self.error(None, f"invalid TOML: {exc}")
            return None
        except toml_text.TomlFileError:
            self.error(None, "invalid TOML: values nested too deeply")
            return None
        self.refuse_nul(text, data)

        self.unknown_keys(data, None, "at top level", _TOP_KEYS)

        name = self.string(data, None, "", "name", None)
        if "name" not in data:
            self.error(None, '"name" is required')
        type_ = self.string(data, None, "", "type", DEFAULT_TYPE) or DEFAULT_TYPE
        project = self.project(data)
        natures = self.strings(data, None, "", "natures")
        system = self.boolean(data, None, "", "system")
        approval = self.boolean(data, None, "", "approval")
        approvers = self.strings(data, None, "", "approvers", names=True)
        rollback_on_error = self.boolean(data, None, "", "rollback_on_error")
        trap_timeout_s = self.duration(data, None, "", "trap_timeout", DEFAULT_TRAP_TIMEOUT)
        trap_timeout_action = self.choice(data, None, "", "trap_timeout_action", TRAP_TIMEOUT_ACTIONS)
        targets = self.strings(data, None, "", "targets", unique=True, padded=False)
        schedule = self.schedule(data)
        steps = {step: self.ops(data, step) for step in STEPS_WITH_OPS}

        if self.errors or name is None:
            return None
        return Definition(
            name=name,
            type=type_,
            project=project,
            natures=natures,
            system=system,
            approval=approval,
            approvers=approvers,
            rollback_on_error=rollback_on_error,
            trap_timeout_s=trap_timeout_s,
            trap_timeout_action=trap_timeout_action,
            targets=targets,
            schedule=schedule,
            pre=steps["PRE"],
            run=steps["RUN"],
            post=steps["POST"],
            source=self.source,
        )

    def project(self, data: dict[str, Any]) -> str:
        """The job's project, named as a policy names projects: " payments" or one with a control
        character in it would match no role's project, and read on screen as another project."""
        project = self.string(data, None, "", "project", DEFAULT_PROJECT) or DEFAULT_PROJECT
        problem = name_problem(project)
        if problem is not None:
            self.field_error(None, "", "project", f"{_show(project)} {problem}")
            return DEFAULT_PROJECT
        return project

    def schedule(self, data: dict[str, Any]) -> ScheduleDef:
        table = data.get("schedule", {})
        if not isinstance(table, dict):
            self.field_error(None, "", "schedule", f"expected a table ([schedule]), got {_show(table)}")
            return ScheduleDef(at=DEFAULT_AT, max_start=DEFAULT_MAX_START)
        section: Section = ("schedule", 0)
        label = "[schedule] "
        self.unknown_keys(table, section, "in [schedule]", _SCHEDULE_KEYS)
        mode = self.choice(table, section, label, "mode", SCHEDULE_MODES)
        zone = self.string(table, section, label, "timezone", None)
        if zone is not None:
            try:
                check_zone(zone)
            except TimeParseError as exc:
                self.field_error(section, label, "timezone", str(exc))
                zone = None
        # Each mode has its own start keys: a file mixing them is ambiguous about when the job runs.
        misplaced = ("start", "window", "days") if mode == "now" else ("at", "max_start")
        for key in misplaced:
            if key in table:
                other = "window" if mode == "now" else "now"
                self.field_error(
                    section,
                    label,
                    key,
                    f'is only used with mode = "{other}" (this schedule is mode = "{mode}")',
                )
        at = self.when_text(table, label, "at", DEFAULT_AT)
        max_start = self.when_text(table, label, "max_start", DEFAULT_MAX_START)
        start = self.when_text(table, label, "start", "now") if "start" in table else None
        expires = self.when_text(table, label, "expires", "") if "expires" in table else None
        window = self.window(table, section, label)
        days = self.days(table, section, label)
        retry_every_s = self.duration(table, section, label, "retry_every", DEFAULT_RETRY_EVERY)

        # Only the spelling is checked here; the engine resolves the dates again when the job is
        # submitted, since "now" and "+1d" mean something different then.
        now = pendulum.now("UTC")
        at_time = now
        for key, text in (("at", at), ("start", start)):
            if text is None:
                continue
            try:
                at_time = parse_when(text, now, zone)
            except TimeParseError as exc:
                self.field_error(section, label, key, str(exc))
        for key, text in (("max_start", max_start), ("expires", expires)):
            if text is None:
                continue
            try:
                parse_max_start(text, at_time, now, zone) if key == "max_start" else parse_when(
                    text, now, zone
                )
            except TimeParseError as exc:
                self.field_error(section, label, key, str(exc))
        return ScheduleDef(
            at=at or DEFAULT_AT,
            max_start=max_start or DEFAULT_MAX_START,
            mode=mode,
            timezone=zone,
            start=start,
            expires=expires,
            window=window,
            days=days,
            retry_every_s=retry_every_s,
            retrying=any(key in table for key in _SEED_003_KEYS),
            lines=tuple(
                (key, line) for key in _SCHEDULE_KEYS if (line := self.locator.key(section, key)) is not None
            ),
        )

    def window(self, table: dict[str, Any], section: Section, label: str) -> tuple[str, str] | None:
        from jobtui.engine.domain.windows import parse_clock

        if "window" not in table:
            return None
        value = table["window"]
        if not isinstance(value, dict):
            self.field_error(
                section,
                label,
                "window",
                f'expected a table like {{ from = "22:00", to = "04:00" }}, got {_show(value)}',
            )
            return None
        # Written [schedule.window] (or window.from = ...), its keys have lines of their own; inline,
        # the "window" line holds them.
        self.unknown_keys(
            value,
            ("schedule", 0, "window"),
            'in [schedule] "window"',
            _WINDOW_KEYS,
            written_at=self.locator.key(section, "window"),
        )
        ends: list[str] = []
        for key in _WINDOW_KEYS:
            text = value.get(key)
            if text is None:
                self.field_error(section, label, "window", f'needs "{key}" (a time of day like "22:00")')
                continue
            if not isinstance(text, str | dt.time):
                self.field_error(
                    section, label, "window", f'"{key}": expected a time like "22:00", got {_show(text)}'
                )
                continue
            clock = text.strftime("%H:%M:%S") if isinstance(text, dt.time) else text
            try:
                parse_clock(clock)
            except ValueError as exc:
                self.field_error(section, label, "window", f'"{key}": {exc}')
                continue
            ends.append(clock)
        if len(ends) != 2:
            return None
        if parse_clock(ends[0]) == parse_clock(ends[1]):
            self.field_error(
                section,
                label,
                "window",
                f'"from" and "to" are both {ends[0]}; leave "window" out for all day',
            )
            return None
        return ends[0], ends[1]

    def days(self, table: dict[str, Any], section: Section, label: str) -> tuple[str, ...]:
        from jobtui.engine.domain.windows import WEEKDAYS, parse_days

        if "days" not in table:
            return ()
        names = self.strings(table, section, label, "days", unique=True)
        if not names and isinstance(table["days"], list) and not table["days"]:
            self.field_error(section, label, "days", "must name at least one weekday")
            return ()
        try:
            allowed = parse_days(list(names))
        except ValueError as exc:
            self.field_error(section, label, "days", str(exc))
            return ()
        return tuple(WEEKDAYS[day] for day in sorted(allowed))

    def ops(self, data: dict[str, Any], step: str) -> tuple[OpDef, ...]:
        key = step.lower()
        entries = data.get(key, [])
        if not isinstance(entries, list):
            self.field_error(None, "", key, f"expected an array of tables ([[{key}]]), got {_show(entries)}")
            return ()
        ops: list[OpDef] = []
        used: dict[str, int] = {}
        for number, entry in enumerate(entries, start=1):
            if not isinstance(entry, dict):
                self.field_error(
                    None,
                    "",
                    key,
                    f"expected an array of tables ([[{key}]]), but item {number} is {_show(entry)}",
                )
                continue
            name, op = self.op(entry, step, number)
            if name in used:
                self.field_error(
                    (key, number),
                    f"[[{key}]] #{number} ",
                    "name",
                    f'"{name}" is already used by [[{key}]] #{used[name]}',
                )
            else:
                used[name] = number
            if op is not None:
                ops.append(op)
        return tuple(ops)

    def op(self, entry: dict[str, Any], step: str, number: int) -> tuple[str, OpDef | None]:
        """The op's name (checked for duplicates even when the op is broken) and the op if valid."""
        key = step.lower()
        section: Section = (key, number)
        title = f"[[{key}]] #{number}"
        label = title + " "
        errors_before = len(self.errors)
        self.unknown_keys(entry, section, f"in {title}", _OP_KEYS)

        name = self.string(entry, section, label, "name", None) or f"{key}-{number}"
        given = [action for action in _ACTION_KEYS if action in entry]
        if not given:
            self.error(self.locator.header(section), f'{title}: needs one of "run", "argv" or "call"')
        elif len(given) > 1:
            self.error(self.locator.header(section), f'{title}: give only one of "run", "argv", "call"')

        run = self.string(entry, section, label, "run", None)
        argv: tuple[str, ...] | None = None
        if "argv" in entry:
            raw_argv = entry["argv"]
            if (
                not isinstance(raw_argv, list)
                or not raw_argv
                or not all(isinstance(item, str) for item in raw_argv)
            ):
                self.field_error(
                    section, label, "argv", f"expected a non-empty list of strings, got {_show(raw_argv)}"
                )
            elif not raw_argv[0].strip():
                self.field_error(section, label, "argv", "the program (first item) must not be empty")
            else:
                argv = tuple(raw_argv)
        call = self.string(entry, section, label, "call", None)
        if call is not None and not _CALL.fullmatch(call):
            self.field_error(
                section, label, "call", f'{_show(call)} is not of the form "module.path:function"'
            )
        per_target = self.boolean(entry, section, label, "per_target")
        timeout = self.duration(entry, section, label, "timeout", None)
        on_error = self.choice(entry, section, label, "on_error", ON_ERROR_VALUES)
        rollback = self.string(entry, section, label, "rollback", None)
        env = self.env(entry, section, label)

        if len(self.errors) > errors_before:
            return name, None
        return name, OpDef(
            name=name,
            step=step,
            index=number - 1,
            run=run,
            argv=argv,
            call=call,
            per_target=per_target,
            timeout_s=timeout or None,
            on_error=on_error,
            rollback=rollback,
            env=env,
        )

    def env(self, entry: dict[str, Any], section: Section, label: str) -> tuple[tuple[str, str], ...]:
        table = entry.get("env", {})
        if not isinstance(table, dict):
            self.field_error(section, label, "env", f"expected a table of strings, got {_show(table)}")
            return ()
        pairs: list[tuple[str, str]] = []
        for var, value in table.items():
            if not var or "=" in var or "\0" in var:
                self.field_error(section, label, "env", f"{_show(var)} is not a valid variable name")
            elif var in ENGINE_VARIABLES:
                self.field_error(section, label, "env", f"{var} is the engine's to set, for every op")
            elif not isinstance(value, str):
                self.field_error(
                    section, label, "env", f"value of {_show(var)} must be a string, got {_show(value)}"
                )
            else:
                pairs.append((var, value))
        return tuple(sorted(pairs))

    def sorted_errors(self) -> Iterator[str]:
        # Stable sort: problems without a line (e.g. a missing "name") first, then in file order.
        for _, message in sorted(self.errors, key=lambda item: item[0]):
            yield message


def parse_definition(text: str, source: str) -> Definition:
    """Parse and check a definition; raises DefinitionError listing every problem found."""
    checker = _Checker(text, source)
    definition = checker.check(text)
    if definition is None:
        raise DefinitionError(list(checker.sorted_errors()))
    return definition


def load_definition(path: str | os.PathLike[str]) -> Definition:
    source = os.fspath(path)
    try:
        text = toml_text.read_text(source)
    except toml_text.TomlFileError as exc:
        raise DefinitionError([str(exc)]) from exc
    return parse_definition(text, source)
