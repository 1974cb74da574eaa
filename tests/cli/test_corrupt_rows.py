"""A job row changed outside jobtui (`sqlite3 jobs.db "UPDATE jobs SET status='BOGUS'"`): every command
that reads it says which row and which field holds what (`show: database: job 1: status "BOGUS" is not a
job status`), exit 2 as for any database that cannot be used, never a crash log; `jobs` still lists the other
jobs (and says the list is not whole); the audit trail of the row still reads."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.cli.test_cli import Cli, bad_input, make_cli

JOB = 'name = "j"\nproject = "ops"\n[[run]]\nrun = "true"\n'

CORRUPTIONS = [
    ("status = 'BOGUS'", 'status "BOGUS" is not a job status'),
    ("natures = 'xx'", 'natures "xx" is not a JSON list of names'),
    ("created_at = 'garbage'", 'created_at "garbage" is not a date'),
    ("scheduled_at = '2020-13-45 00:00:00'", 'scheduled_at "2020-13-45 00:00:00" is not a date'),
    ("started_at = 42", 'started_at "42" is not a date'),
    ("progress = 'x'", 'progress "x" is not a percentage from 0 to 100'),
    ("step = 'NOPE'", 'step "NOPE" is not a step (INIT, PRE, RUN, POST or END)'),
    # SQLite keeps a blob in a text column: printing the name crashed `jobs`, on both read paths.
    ("name = X'ff'", """name "b'\\xff'" is not text"""),
    ("owner = X'00'", """owner "b'\\x00'" is not text"""),
    ("schedule = '{bad'", 'schedule "{bad" is not a schedule as jobtui writes it'),
    # JSON, but a start that is no date (an assertion deep in the schedule's reading stopped `show`).
    (
        """schedule = '{"mode": "now", "timezone": "UTC", "start": "P1D"}'""",
        'schedule "{"mode": "now", "timezone": "UTC", "start": "P1D"}" is not a schedule as jobtui writes it',
    ),
]


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    cli = make_cli(tmp_path, in_process=True)
    (tmp_path / "job.toml").write_text(JOB)
    return cli


def corrupt(cli: Cli, update: str) -> tuple[int, int]:
    """Two jobs, the first of them changed by hand."""
    bad, good = (int(json.loads(cli("submit", "job.toml", "--keep", "--json").stdout)["id"]) for _ in "ab")
    with sqlite3.connect(cli.workdir / "jobs.db") as db:
        db.execute(f"UPDATE jobs SET {update} WHERE id = ?", (bad,))
    db.close()
    return bad, good


@pytest.mark.parametrize(("update", "named"), CORRUPTIONS)
def test_jobs_lists_the_others_and_names_the_corrupt_row(cli: Cli, update: str, named: str) -> None:
    bad, good = corrupt(cli, update)
    for json_flag in ([], ["--json"]):
        proc = cli("jobs", *json_flag, expect=None)
        bad_input(proc, f"jobs: database: job {bad}: {named} (not listed)")
        assert "internal error" not in proc.stderr
        if json_flag:
            assert [job["id"] for job in json.loads(proc.stdout)] == [good]
        else:
            assert [line.split()[0] for line in proc.stdout.splitlines()[1:]] == [str(good)]


@pytest.mark.parametrize(("update", "named"), CORRUPTIONS)
def test_commands_on_the_corrupt_row_name_it_and_the_field(cli: Cli, update: str, named: str) -> None:
    bad, good = corrupt(cli, update)
    for argv in (["show", bad], ["show", bad, "--json"], ["log", bad], ["cancel", bad]):
        proc = cli(*argv, expect=None)
        bad_input(proc, f"{argv[0]}: database: job {bad}: {named}")
        assert "internal error" not in proc.stderr
    [row] = cli.json("audit", bad)
    assert row["action"] == "submit"
    assert cli.json("show", good)["status"] == "READY"
    assert cli.json("queue", "status")["queued"] >= 1


@pytest.mark.parametrize(
    ("update", "named"),
    [
        ("status = 'GARBAGE'", 'status "GARBAGE" is not a job status'),
        ("project = X'ff'", """project "b'\\xff'" is not text"""),
    ],
)
def test_envelope_commands_name_a_corrupt_job_of_the_chain(cli: Cli, update: str, named: str) -> None:
    """The envelope commands read every job of the chain: a row changed by hand stopped them with an
    internal error (a status jobtui does not know, a blob among the projects they sort)."""
    cli.write("second.toml", JOB.replace('"j"', '"k"'))
    first, second = cli.json("submit", "job.toml", "second.toml", "--envelope", "e1")["ids"]
    with sqlite3.connect(cli.workdir / "jobs.db") as db:
        db.execute(f"UPDATE jobs SET {update} WHERE id = ?", (second,))
    db.close()
    for argv in (
        ["envelopes"],
        ["envelope", 1, "--json"],
        ["envelope-cancel", 1],
        ["envelope-rollback", 1, "--reason", "r"],
    ):
        proc = cli(*argv, expect=None)
        bad_input(proc, f"{argv[0]}: database: job {second}: {named}")
        assert "internal error" not in proc.stderr
    # The readable job of the chain can still be cancelled: the chain that follows its end does not guess
    # at the other one.
    cli("cancel", first)
    assert cli.json("show", first)["status"] == "CANCELED"


@pytest.mark.parametrize(
    ("update", "shown"),
    [("definition = 'garbage'", '"garbage"'), ("definition = X'ff'", "\"b'\\xff'\"")],
)
def test_show_names_a_definition_changed_by_hand(cli: Cli, update: str, shown: str) -> None:
    """`show` reads the stored definition (who may approve the job): a value that is none stopped it with
    an internal error, on both read paths."""
    bad, good = corrupt(cli, update)
    said = f"show: database: job {bad}: definition {shown} is not a definition as jobtui writes it"
    for argv in (["show", bad], ["show", bad, "--json"], ["show", bad, "--as", "root"]):
        proc = cli(*argv, expect=None)
        bad_input(proc, said)
        assert "internal error" not in proc.stderr
    assert cli.json("show", good)["status"] == "READY"
