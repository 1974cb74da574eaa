"""Envelope files (seed 004): a named chain of definition files. The file format is a public contract.

```toml
envelope = "release-42"
project = "payments"
[[jobs]]
file = "build.toml"              # relative to this file
at = "+10m"                      # optional overrides: at, max_start
```
A file that cannot be read, names a missing or invalid definition or another envelope (envelopes are not
nested), gives a job dates it cannot be scheduled with, or mixes projects is a corrupt envelope:
`EnvelopeCorrupt` says why (`FILE:LINE: ...`), and the caller records it so that operators see it.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pendulum

from jobtui.engine.domain import schedules, timeparse
from jobtui.engine.domain.definitions import Definition, DefinitionError
from jobtui.engine.domain.text import name_problem
from jobtui.engine.errors import BadInput
from jobtui.engine.formats import toml_text
from jobtui.engine.formats.definition_file import load_definition
from jobtui.engine.formats.toml_lines import Locator, located

_TOP_KEYS = ("envelope", "project", "jobs")
_JOB_KEYS = ("file", "at", "max_start")
_ENVELOPE_LINE = re.compile(r"""^\s*envelope\s*=\s*["']([^"']*)["']""", re.MULTILINE)


@dataclass(frozen=True)
class EnvelopeEntry:
    definition: Definition
    at: str | None = None
    max_start: str | None = None


@dataclass(frozen=True)
class EnvelopeSpec:
    name: str
    project: str
    source: str
    entries: tuple[EnvelopeEntry, ...]


class EnvelopeCorrupt(BadInput, ValueError):
    """The envelope cannot run; `reason` says why (file, line and field where known)."""

    def __init__(self, name: str, project: str, source: str, reason: str) -> None:
        super().__init__(reason)
        self.name = name
        self.project = project
        self.source = source
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


def is_envelope_file(path: str | Path) -> bool:
    """Whether `path` is meant as an envelope (an `envelope = ...` line, or any top-level "envelope" key
    such as an [envelope] table), even when it is broken."""
    try:
        text = toml_text.read_text(path)
    except toml_text.TomlFileError:
        return False
    return _ENVELOPE_LINE.search(text) is not None or Locator(text).key(None, "envelope") is not None


def _envelope_key_line(path: str | Path) -> int | None:
    """The line of the top-level "envelope" key that makes `path` an envelope, or None (also when it
    cannot be read: loading it as a definition then says why)."""
    try:
        text = toml_text.read_text(path)
    except toml_text.TomlFileError:
        return None
    return Locator(text).key(None, "envelope")


def _nested_envelope_problem(path: str | Path, line: int) -> str:
    """Why a job file that is itself an envelope cannot be one of an envelope's jobs."""
    return located(
        str(path), line, "is an envelope, and envelopes cannot be nested (list its jobs' files instead)"
    )


def load_envelope(path: str | Path, now: pendulum.DateTime | None = None) -> EnvelopeSpec:
    """The envelope in `path`; its jobs' dates are checked as submission at `now` (the wall clock by
    default) would resolve them. A corrupt one names every problem found, one a line, in file order, as a
    definition file's errors do: fixing them one submission at a time was a round trip per [[jobs]] entry."""
    source = str(path)
    fallback = Path(source).stem
    try:
        text = toml_text.read_text(source)
    except toml_text.TomlFileError as exc:
        raise EnvelopeCorrupt(fallback, "default", source, str(exc)) from exc
    # Until the file is read as TOML (an error of its own names the envelope): as its line spells it.
    named = _ENVELOPE_LINE.search(text)
    name = named.group(1) if named and named.group(1).strip() else fallback
    lines = Locator(text)
    problems: list[tuple[int, str]] = []

    def problem(message: str, line: int | None = None) -> None:
        problems.append((line or 0, located(source, line, message)))

    def corrupt(project: str) -> EnvelopeCorrupt:
        # Stable sort: problems without a line first, then in file order (a [[jobs]] entry's own, with
        # its job file's at its "file" line), as for definitions.
        reason = "\n".join(message for _, message in sorted(problems, key=lambda item: item[0]))
        return EnvelopeCorrupt(name, project, source, reason)

    try:
        data = toml_text.loads(text, source)
    except tomllib.TOMLDecodeError as exc:
        problem(f"invalid TOML: {exc}")
        raise corrupt("default") from exc
    except toml_text.TomlFileError as exc:
        problem("invalid TOML: values nested too deeply")
        raise corrupt("default") from exc
    for key in data:
        if key not in _TOP_KEYS:
            problem(f'unknown key "{key}" (expected {", ".join(_TOP_KEYS)})', lines.key(None, key))
    envelope = data.get("envelope")
    tables = (
        isinstance(envelope, list) and bool(envelope) and all(isinstance(item, dict) for item in envelope)
    )
    if isinstance(envelope, dict) or tables:
        # [envelope] or [[envelope]]: an envelope written inside this one.
        problem(
            '"envelope": a table, but envelopes cannot be nested: envelope = "NAME" names this envelope and '
            "its [[jobs]] list definition files",
            lines.key(None, "envelope"),
        )
    elif not isinstance(envelope, str) or not envelope.strip():
        problem('"envelope": expected the envelope name as a non-empty string', lines.key(None, "envelope"))
    else:
        # The name as TOML reads it (escapes, quotes in it); the line's text only named it until then.
        name = envelope
    project = data.get("project")
    if project is not None and (not isinstance(project, str) or not project.strip()):
        problem('"project": expected a non-empty string', lines.key(None, "project"))
        project = None
    elif project is not None and (wrong := name_problem(project)) is not None:
        # As a definition's and a policy's: " payments" is no job's project.
        problem(f'"project": {json.dumps(project, ensure_ascii=False)} {wrong}', lines.key(None, "project"))
        project = None
    jobs = data.get("jobs")
    if not isinstance(jobs, list) or not jobs:
        problem('"jobs": expected at least one [[jobs]] table with a "file"', lines.key(None, "jobs"))
        raise corrupt(project or "default")
    base = Path(source).parent

    def job_line(number: int) -> int | None:
        # A job written as [[jobs]] has its own header; one in an inline array (jobs = [{...}]) is on
        # the array's lines, which start at the "jobs" key.
        return lines.header(("jobs", number)) or lines.key(None, "jobs")

    def key_line(number: int, key: str) -> int | None:
        return lines.key(("jobs", number), key) or job_line(number)

    entries: list[EnvelopeEntry] = []
    for number, job in enumerate(jobs, start=1):
        label = f"[[jobs]] #{number}"
        if not isinstance(job, dict):
            problem(f"{label}: expected a table", job_line(number))
            continue
        # Every problem of the entry is named: its own keys, its job file's and its dates, each at its
        # line (a missing file hid a bad date beside it, an unknown key hid a missing file).
        for key in job:
            if key not in _JOB_KEYS:
                problem(
                    f'{label}: unknown key "{key}" (expected {", ".join(_JOB_KEYS)})', key_line(number, key)
                )
        file = job.get("file")
        if not isinstance(file, str) or not file.strip():
            problem(f'{label} "file": expected a definition file path', key_line(number, "file"))
            file = None
        overrides: dict[str, str] = {}
        for key in ("at", "max_start"):
            if key in job and not isinstance(job[key], str):
                problem(f'{label} "{key}": expected a date as a string', key_line(number, key))
            elif key in job:
                overrides[key] = job[key]
        definition = None
        nested_line = _envelope_key_line(base / file) if file is not None else None
        if file is not None and nested_line is not None:
            problem(
                f'{label} "file" {file}: {_nested_envelope_problem(base / file, nested_line)}',
                key_line(number, "file"),
            )
        elif file is not None:
            try:
                definition = load_definition(base / file)
            except DefinitionError as exc:
                # Every problem of the job's file, each at this entry's "file" line, then the file's own.
                for error in exc.errors:
                    problem(f'{label} "file" {file}: {error}', key_line(number, "file"))
        if definition is None:
            # No job to schedule: how its dates are spelled is still checked, as a definition's are.
            for key, why in _unreadable_overrides(overrides, now or pendulum.now("UTC")):
                problem(f'{label} "{key}": {why}', key_line(number, key))
            continue
        # The envelope's project (its own, else its first job's) is checked at each job's "file" line:
        # at the end, for the whole file, the message had no line to point at.
        shared = project or (entries[0].definition.project if entries else definition.project)
        if definition.project != shared:
            problem(_mixed_projects(name, shared, definition), key_line(number, "file"))
        entry = EnvelopeEntry(definition, overrides.get("at"), overrides.get("max_start"))
        refused = _schedule_refusal(entry, now or pendulum.now("UTC"))
        if refused is not None:
            key, why = refused
            # A definition whose own dates cannot be scheduled reads as an invalid definition does.
            message = f'{label} "file" {file}: {why}' if key == "file" else f'{label} "{key}": {why}'
            problem(message, key_line(number, key))
        if definition.project == shared:
            entries.append(entry)
    known_project = project or (entries[0].definition.project if entries else "default")
    if problems:
        raise corrupt(known_project)
    return _checked(name, project, source, entries)


def _unreadable_overrides(overrides: dict[str, str], now: pendulum.DateTime) -> list[tuple[str, str]]:
    """The overrides ("at", "max_start") that are no date at all, and why, worded as submission words
    them: only the spelling can be checked without the job's schedule."""
    found: list[tuple[str, str]] = []
    for key, text in overrides.items():
        try:
            if key == "at":
                timeparse.parse_when(text, now, "UTC")
            else:
                timeparse.parse_max_start(text, now, now, "UTC")
        except ValueError as exc:  # TimeParseError included
            found.append((key, str(exc)))
    return found


def _schedule_refusal(entry: EnvelopeEntry, now: pendulum.DateTime) -> tuple[str, str] | None:
    """The key ("file", "at" or "max_start") whose dates submission would refuse for this job, and why.

    Submission resolves the dates again (relative ones count from then); checking here, the same way,
    lets a bad override be reported as this envelope's error, with its line, and recorded as a corrupt
    envelope, instead of failing at submission naming only the job's file. The dates are resolved as
    submission resolves them, every override at once: an envelope may well replace dates of the job's
    file that could not be used on their own (past ones, or ones that contradict each other)."""
    try:
        schedules.resolve(entry.definition, now, at=entry.at, max_start=entry.max_start)
    except schedules.PastMaxStart as exc:
        # The date to change is this envelope's own at/max_start (at its line), or the job file's.
        return (exc.key, exc.detail) if exc.overridden else ("file", str(exc))
    except ValueError as exc:  # TimeParseError included
        key = _blamed_override(entry, now)
        # A conflict is worded as the definition's ('build.toml: [schedule] "max_start" ... is before
        # the scheduled date ...'); when the date it names is this envelope's override, the job's
        # file does not hold it: drop that location, the envelope's line says where it is.
        message = str(exc)
        if key != "file":
            message = message.removeprefix(f'{entry.definition.source}: [schedule] "{key}" ')
        return key, message
    return None


def _blamed_override(entry: EnvelopeEntry, now: pendulum.DateTime) -> str:
    """Which of the job's dates is wrong, its dates being unusable: an override that cannot be read at all,
    else the last override given (dates that contradict each other are the envelope's doing when it gave
    one), else the job's file."""
    if entry.at is not None and not _readable(lambda: timeparse.parse_when(entry.at or "", now, "UTC")):
        return "at"
    if entry.max_start is not None and not _readable(
        lambda: timeparse.parse_max_start(entry.max_start or "", now, now, "UTC")
    ):
        return "max_start"
    if entry.max_start is not None:
        return "max_start"
    return "at" if entry.at is not None else "file"


def _readable(parse: Callable[[], object]) -> bool:
    try:
        parse()
    except ValueError:
        return False
    return True


def envelope_of_files(paths: list[str], name: str, now: pendulum.DateTime | None = None) -> EnvelopeSpec:
    """`jobtui submit a.toml b.toml --envelope NAME`: the files in the order given, their dates checked as
    submission at `now` (the wall clock by default) would resolve them; every problem named, as for an
    envelope file."""
    source = ", ".join(paths)
    entries: list[EnvelopeEntry] = []
    problems: list[str] = []
    for path in paths:
        nested_line = _envelope_key_line(path)
        if nested_line is not None:
            problems.append(f"envelope {name}: {_nested_envelope_problem(path, nested_line)}")
            continue
        try:
            entry = EnvelopeEntry(load_definition(path))
        except DefinitionError as exc:
            problems += [f"envelope {name}: {error}" for error in exc.errors]
            continue
        refused = _schedule_refusal(entry, now or pendulum.now("UTC"))
        if refused is not None:
            # No override here: the dates are the file's, and its message names it.
            problems.append(f"envelope {name}: {refused[1]}")
        entries.append(entry)
    if problems:
        project = entries[0].definition.project if entries else "default"
        raise EnvelopeCorrupt(name, project, source, "\n".join(problems))
    return _checked(name, None, source, entries)


def _checked(name: str, project: str | None, source: str, entries: list[EnvelopeEntry]) -> EnvelopeSpec:
    project = project or entries[0].definition.project
    for entry in entries:
        if entry.definition.project != project:
            raise EnvelopeCorrupt(
                name, project, source, f"{source}: {_mixed_projects(name, project, entry.definition)}"
            )
    return EnvelopeSpec(name, project, source, tuple(entries))


def _mixed_projects(name: str, project: str, definition: Definition) -> str:
    return (
        f"envelope {name} is for project {project} but {definition.source} is for project "
        f"{definition.project}; an envelope's jobs share one project"
    )
