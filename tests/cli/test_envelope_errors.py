"""A broken envelope file says what is wrong and where (FILE:LINE, the field), exits 2, and is recorded as
a corrupt envelope with none of its jobs created. The commands run in this process (`jobtui.cli.main`),
on a real database, for speed: tests/cli/test_cli.py runs the console script."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import jobtui.cli as cli
from tests.support.template_db import migrated_sqlite

JOB_A = 'name = "a"\nproject = "payments"\n[[run]]\nrun = "true"\n'
RECORDED = "(recorded as corrupt envelope 1; none of its jobs run)"


class Jobtui:
    """`jobtui ARGS... --db URL` in this process, from the folder the files are written to."""

    def __init__(self, folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.folder = folder
        self.capsys = capsys
        self.url = migrated_sqlite(folder / "jobs.db")

    def write(self, name: str, text: str) -> str:
        (self.folder / name).write_text(text)
        return name

    def __call__(self, *argv: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = cli.main([*argv, "--db", self.url])
        out, err = self.capsys.readouterr()
        assert "Traceback" not in err
        return code, out, err

    def json(self, *argv: str) -> Any:
        code, out, err = self(*argv, "--json")
        assert code == 0, err
        return json.loads(out)


@pytest.fixture
def jobtui(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Jobtui:
    monkeypatch.chdir(tmp_path)  # the files are named as a user in that folder names them
    return Jobtui(tmp_path, capsys)


@pytest.mark.parametrize(
    ("override", "problem"),
    [
        ('at = "tomorrowish"', '"at": "tomorrowish" is not a date (try ISO 8601'),
        ('max_start = "+zz"', '"max_start": "+zz" is not a date (try ISO 8601'),
        (
            'at = "2099-01-02T00:00"\nmax_start = "2099-01-01T00:00"',
            '"max_start": "2099-01-01T00:00" is before the scheduled date, at given at submission '
            '"2099-01-02T00:00"',
        ),
        # Before the RUN date and already past: that is what it is (it was said as a conflict with now).
        ('at = "+2h"\nmax_start = "2020-01-01T00:00"', '"max_start": "2020-01-01T00:00": the Max Start Date'),
    ],
)
def test_an_envelope_jobs_bad_date_names_the_envelopes_line_and_is_recorded_as_corrupt(
    jobtui: Jobtui, override: str, problem: str
) -> None:
    """The date is the envelope's (not the job file's): its error names the envelope's file and line, as
    the envelope's other errors do, and the envelope is recorded as corrupt with nothing of it created."""
    jobtui.write("a.toml", JOB_A)
    text = f'envelope = "rel"\n[[jobs]]\nfile = "a.toml"\n[[jobs]]\nfile = "a.toml"\n{override}\n'
    path = jobtui.write("rel.toml", text)
    line = text.splitlines().index(override.splitlines()[-1]) + 1
    code, _, err = jobtui("submit", path)
    assert code == 2
    reason, *rest = err.splitlines()
    assert reason.startswith(f"{path}:{line}: [[jobs]] #2 {problem}"), err
    assert rest == [RECORDED], err
    (envelope,) = jobtui.json("envelopes")
    assert (envelope["status"], envelope["reason"], envelope["jobs"]) == ("CORRUPT", reason, [])
    assert jobtui.json("jobs") == []


NESTED = "is an envelope, and envelopes cannot be nested (list its jobs' files instead)"
INNER_ENVELOPE = 'envelope = "inner"\n[[jobs]]\nfile = "a.toml"\n'
INNER_TABLE = '# written as a table\n[envelope]\nname = "inner"\n[[jobs]]\nfile = "a.toml"\n'


@pytest.mark.parametrize(
    ("inner", "argv", "name", "expected"),
    [
        pytest.param(
            INNER_ENVELOPE,
            ["outer.toml"],
            "outer",
            f'outer.toml:5: [[jobs]] #2 "file" inner.toml: inner.toml:1: {NESTED}',
            id="an envelope listed as a job",
        ),
        pytest.param(
            INNER_TABLE,
            ["outer.toml"],
            "outer",
            f'outer.toml:5: [[jobs]] #2 "file" inner.toml: inner.toml:2: {NESTED}',
            id="an [envelope] table listed as a job",
        ),
        pytest.param(
            INNER_TABLE,
            ["inner.toml"],
            "inner",
            'inner.toml:2: "envelope": a table, but envelopes cannot be nested: envelope = "NAME" names this '
            "envelope and its [[jobs]] list definition files",
            id="an [envelope] table submitted",
        ),
        pytest.param(
            INNER_ENVELOPE,
            ["a.toml", "inner.toml", "--envelope", "rel"],
            "rel",
            f"envelope rel: inner.toml:1: {NESTED}",
            id="an envelope among --envelope files",
        ),
    ],
)
def test_a_nested_envelope_says_so_with_file_and_line_and_is_recorded_as_corrupt(
    jobtui: Jobtui, inner: str, argv: list[str], name: str, expected: str
) -> None:
    """Not the definition's '"name" is required' a nested envelope used to get: what is wrong and where,
    recorded as a corrupt envelope like its other errors."""
    jobtui.write("a.toml", JOB_A)
    jobtui.write(
        "outer.toml", 'envelope = "outer"\n[[jobs]]\nfile = "a.toml"\n[[jobs]]\nfile = "inner.toml"\n'
    )
    jobtui.write("inner.toml", inner)
    code, _, err = jobtui("submit", *argv)
    assert code == 2
    assert err.splitlines() == [expected, RECORDED], err
    (envelope,) = jobtui.json("envelopes")
    assert (envelope["name"], envelope["status"], envelope["reason"]) == (name, "CORRUPT", expected)
    assert envelope["jobs"] == [] and jobtui.json("jobs") == []


def test_an_envelope_whose_dates_replace_unusable_ones_of_its_job_file_is_submitted(jobtui: Jobtui) -> None:
    """Dates are resolved as submission resolves them, the envelope's overrides in place: the job file's
    own dates (long past, here) never count once the envelope gives both."""
    jobtui.write(
        "old.toml",
        'name = "old"\nproject = "payments"\n[schedule]\nat = "2020-01-01T02:00:00+00:00"\n'
        'max_start = "2020-01-01T06:00:00+00:00"\n[[run]]\nrun = "true"\n',
    )
    path = jobtui.write(
        "rel.toml", 'envelope = "rel"\n[[jobs]]\nfile = "old.toml"\nat = "+10m"\nmax_start = "+1h"\n'
    )
    code, _, err = jobtui("submit", path)
    assert (code, err) == (0, "")
    (envelope,) = jobtui.json("envelopes")
    assert envelope["status"] != "CORRUPT" and len(envelope["jobs"]) == 1


def test_files_made_an_envelope_on_the_command_line_with_a_past_date_are_recorded_as_corrupt(
    jobtui: Jobtui,
) -> None:
    """`submit a.toml b.toml --envelope NAME` checks the dates as an envelope file's are checked."""
    jobtui.write("a.toml", JOB_A)
    jobtui.write(
        "past.toml",
        'name = "past"\nproject = "payments"\n[schedule]\nat = "2020-01-01T02:00:00+00:00"\n'
        '[[run]]\nrun = "true"\n',
    )
    code, _, err = jobtui("submit", "a.toml", "past.toml", "--envelope", "rel")
    assert code == 2
    reason, recorded = err.splitlines()
    assert reason.startswith('envelope rel: past.toml:4: [schedule] "at"'), err
    assert "is already past" in reason, err
    assert recorded == RECORDED
    (envelope,) = jobtui.json("envelopes")
    assert (envelope["status"], envelope["reason"], envelope["jobs"]) == ("CORRUPT", reason, [])
    assert jobtui.json("jobs") == []


@pytest.mark.parametrize(
    ("head", "project", "differ"),
    [
        ("", "payments", [(5, "b.toml", "other")]),
        ('project = "payments"\n', "payments", [(6, "b.toml", "other")]),
        ('project = "ops"\n', "ops", [(4, "a.toml", "payments"), (6, "b.toml", "other")]),
    ],
)
def test_an_envelope_mixing_projects_names_the_line_of_each_job_that_differs(
    jobtui: Jobtui, head: str, project: str, differ: list[tuple[int, str, str]]
) -> None:
    """It named the envelope's file only: the job to move is at its "file" line."""
    jobtui.write("a.toml", JOB_A)
    jobtui.write("b.toml", JOB_A.replace('"payments"', '"other"').replace('"a"', '"b"'))
    path = jobtui.write(
        "mix.toml", f'envelope = "mix"\n{head}[[jobs]]\nfile = "a.toml"\n[[jobs]]\nfile = "b.toml"\n'
    )
    code, _, err = jobtui("submit", path)
    assert code == 2
    assert err.splitlines() == [
        *(
            f"mix.toml:{line}: envelope mix is for project {project} but {file} is for project {theirs}; "
            "an envelope's jobs share one project"
            for line, file, theirs in differ
        ),
        RECORDED,
    ]
    (envelope,) = jobtui.json("envelopes")
    assert (envelope["status"], envelope["jobs"]) == ("CORRUPT", [])


def test_an_envelope_names_every_problem_of_its_jobs_as_a_definition_file_does(jobtui: Jobtui) -> None:
    """It stopped at the first bad [[jobs]] entry: one submission per problem to find them all."""
    jobtui.write("a.toml", JOB_A)
    jobtui.write("bad.toml", 'name = "bad"\nproject = "payments"\ntimeot = "1m"\n[[run]]\nrun = 5\n')
    text = (
        'envelope = "rel"\ncolour = "red"\n'  # 2
        '[[jobs]]\nfile = "a.toml"\nat = "tomorrowish"\n'  # 5
        '[[jobs]]\nfile = "missing.toml"\n'  # 7
        '[[jobs]]\nfile = "a.toml"\nwhen = "+1h"\n'  # 10
        '[[jobs]]\nfile = "bad.toml"\n'  # 12
        '[[jobs]]\nfile = "a.toml"\n'  # fine
    )
    path = jobtui.write("rel.toml", text)
    code, _, err = jobtui("submit", path)
    assert code == 2
    *reasons, recorded = err.splitlines()
    assert [reason.split(": ", 1)[0] for reason in reasons] == [
        f"{path}:{line}" for line in (2, 5, 7, 10, 12, 12)
    ], err
    assert 'unknown key "colour"' in reasons[0]
    assert reasons[1].startswith(f'{path}:5: [[jobs]] #1 "at": "tomorrowish" is not a date')
    assert reasons[2] == f'{path}:7: [[jobs]] #2 "file" missing.toml: missing.toml: cannot read file: ' + (
        "No such file or directory"
    )
    assert reasons[3].startswith(f'{path}:10: [[jobs]] #3: unknown key "when"')
    # Every problem of the job's file, as submitting that file alone names them.
    assert reasons[4:] == [
        f'{path}:12: [[jobs]] #4 "file" bad.toml: bad.toml:3: unknown key "timeot" at top level '
        '(did you mean "trap_timeout"?)',
        f'{path}:12: [[jobs]] #4 "file" bad.toml: bad.toml:5: [[run]] #1 "run": expected a string, got 5',
    ]
    assert recorded == RECORDED
    (envelope,) = jobtui.json("envelopes")
    assert (envelope["status"], envelope["reason"], envelope["jobs"]) == ("CORRUPT", "\n".join(reasons), [])
    assert jobtui.json("jobs") == []


def test_files_made_an_envelope_on_the_command_line_name_every_problem(jobtui: Jobtui) -> None:
    jobtui.write("a.toml", JOB_A)
    jobtui.write("bad.toml", 'name = "bad"\nproject = "payments"\ntimeot = "1m"\n[[run]]\nrun = 5\n')
    code, _, err = jobtui("submit", "missing.toml", "a.toml", "bad.toml", "--envelope", "rel")
    assert code == 2
    assert err.splitlines() == [
        "envelope rel: missing.toml: cannot read file: No such file or directory",
        'envelope rel: bad.toml:3: unknown key "timeot" at top level (did you mean "trap_timeout"?)',
        'envelope rel: bad.toml:5: [[run]] #1 "run": expected a string, got 5',
        RECORDED,
    ]


@pytest.mark.parametrize(
    ("project", "problem"),
    [
        ('" payments"', '" payments" must not start or end with a space'),
        ('"payments\\t"', '"payments\\t" must not start or end with a space'),
        (
            '"pay\\u001b]0;x\\u0007ments"',
            '"pay\\u001b]0;x\\u0007ments" must not hold control or invisible characters',
        ),
    ],
)
def test_a_project_named_as_no_policy_may_name_one_is_refused_in_a_definition_and_an_envelope(
    jobtui: Jobtui, project: str, problem: str
) -> None:
    """Such a project was accepted: " payments" matched no role's "payments", and an escape sequence in
    it was stored as the job's project. A policy file refuses these names; definitions and envelopes now
    do too, naming the file, the line and the field, and nothing is submitted."""
    path = jobtui.write("a.toml", f'name = "a"\nproject = {project}\n[[run]]\nrun = "true"\n')
    code, _, err = jobtui("submit", path)
    assert (code, err.splitlines()) == (2, [f'a.toml:2: "project": {problem}'])

    jobtui.write("b.toml", JOB_A)
    path = jobtui.write("rel.toml", f'envelope = "rel"\nproject = {project}\n[[jobs]]\nfile = "b.toml"\n')
    code, _, err = jobtui("submit", path)
    assert (code, err.splitlines()) == (2, [f'rel.toml:2: "project": {problem}', RECORDED])
    (envelope,) = jobtui.json("envelopes")
    assert (envelope["status"], envelope["jobs"]) == ("CORRUPT", [])
    assert jobtui.json("jobs") == []


def test_an_envelope_entry_names_all_its_problems_beside_a_missing_job_file(jobtui: Jobtui) -> None:
    """A [[jobs]] entry whose file is missing said only that: its bad date and its unknown key came one
    submission later, each (and an entry with a bad key never said its file was missing, nor what was
    wrong in it). Every problem of each entry is named now, in file order, each at its own line."""
    jobtui.write("a.toml", JOB_A)
    jobtui.write("bad.toml", 'name = "bad"\nproject = "payments"\n[[run]]\nrun = 5\n')
    text = (
        'envelope = "rel"\n'
        '[[jobs]]\nfile = "missing.toml"\nat = "tomorrowish"\nmax_start = "+zz"\nwhen = "+1h"\n'  # 3-6
        '[[jobs]]\nat = 5\nfile = "gone.toml"\n'  # 8-9
        '[[jobs]]\nfile = "bad.toml"\ncolour = "red"\nat = "+1h"\n'  # 11-13
        '[[jobs]]\nfile = "a.toml"\n'  # fine
    )
    path = jobtui.write("rel.toml", text)
    code, _, err = jobtui("submit", path)
    assert code == 2
    not_a_date = 'is not a date (try ISO 8601 like 2026-11-23T02:00, "now", "+2h" or "tomorrow 02:00")'
    cannot_read = "cannot read file: No such file or directory"
    assert err.splitlines() == [
        f'rel.toml:3: [[jobs]] #1 "file" missing.toml: missing.toml: {cannot_read}',
        f'rel.toml:4: [[jobs]] #1 "at": "tomorrowish" {not_a_date}',
        f'rel.toml:5: [[jobs]] #1 "max_start": "+zz" {not_a_date}',
        'rel.toml:6: [[jobs]] #1: unknown key "when" (expected file, at, max_start)',
        'rel.toml:8: [[jobs]] #2 "at": expected a date as a string',
        f'rel.toml:9: [[jobs]] #2 "file" gone.toml: gone.toml: {cannot_read}',
        'rel.toml:11: [[jobs]] #3 "file" bad.toml: bad.toml:4: [[run]] #1 "run": expected a string, got 5',
        'rel.toml:12: [[jobs]] #3: unknown key "colour" (expected file, at, max_start)',
        RECORDED,
    ]
    (envelope,) = jobtui.json("envelopes")
    assert (envelope["status"], envelope["jobs"]) == ("CORRUPT", [])
    assert jobtui.json("jobs") == []
