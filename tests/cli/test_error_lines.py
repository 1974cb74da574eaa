"""Every error line a command prints says where it comes from: the command (`cancel: no job 7`,
`jobs --project: ...`), or the file and line it is about (`deploy.toml:3: ...`). Errors the engine raises
without knowing the command (the database's, "no envelope 5", a date that does not parse, `--as`) came
out bare, unlike the others (found by QA)."""

from __future__ import annotations

import signal
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.test_cli import Cli, make_cli

JOB = 'name = "j"\nproject = "ops"\n[[run]]\nrun = "true"\n'


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    cli = make_cli(tmp_path, in_process=True)
    cli.write("job.toml", JOB)
    cli("submit", "job.toml")  # job 1, READY
    return cli


def test_error_lines_are_led_by_their_command(cli: Cli) -> None:
    cli.write("bogus.toml", JOB.replace('"j"', '"k"'))
    cli("submit", "bogus.toml")  # job 2, changed by hand below
    with sqlite3.connect(cli.workdir / "jobs.db") as db:
        db.execute("UPDATE jobs SET status = 'BOGUS' WHERE id = 2")
    db.close()
    cases: list[tuple[list[object], int, str]] = [
        # The commands' own errors, which always were.
        (["show", 999], 2, "show: no job 999"),
        (["approve", 1], 1, "approve: job 1 is READY; allowed from APPROVAL"),
        (["settings", "bogus"], 2, 'settings: unknown setting "bogus"'),
        (["queue", "resume", "--reason", "x"], 2, "queue resume: --reason goes with pause only"),
        (["jobs", "--project", ""], 2, "jobs --project: expected a project's name"),
        # The engine's, which were not.
        (["envelope", 999], 2, "envelope: no envelope 999"),
        (["envelope-cancel", 999], 2, "envelope-cancel: no envelope 999"),
        (["envelope-rollback", 999, "--reason", "x"], 2, "envelope-rollback: no envelope 999"),
        (["reschedule", 1, "tomorrowish"], 2, 'reschedule: "tomorrowish" is not a date'),
        (["cancel", 1, "--as", ""], 2, "cancel --as: an empty user name"),
        (["show", 2], 2, 'show: database: job 2: status "BOGUS" is not a job status'),
        (["jobs", "--db", "foo://x"], 2, 'jobs: database URL "foo://…": jobtui works on SQLite'),
        (["cancel", 1, "--db", "sqlite://"], 2, "cancel: an in-memory SQLite database cannot be shared"),
        ([{"JOBTUI_LOCK_WAIT_S": "x"}, "cancel", 1], 2, 'cancel: $JOBTUI_LOCK_WAIT_S: "x" is not a number'),
    ]
    for (argv, code, line), proc in zip(cases, cli.many(*(argv for argv, _, _ in cases)), strict=True):
        assert (proc.returncode, proc.stderr.splitlines()) == (code, [proc.stderr.strip()]), argv
        assert proc.stderr.startswith(line), (argv, proc.stderr)


def test_errors_about_a_file_are_led_by_the_file_and_its_line(cli: Cli) -> None:
    """The other convention, which editors read: the file (and line) first, left as it was."""
    cli.write("bad.toml", 'name = "b"\nproject = " ops"\n[[run]]\nrun = "true"\n')
    for argv, line in (
        (["submit", "missing.toml"], "missing.toml: cannot read file: No such file or directory"),
        (["submit", "bad.toml"], 'bad.toml:2: "project": " ops" must not start or end with a space'),
        (["submit", "job.toml", "--at", "soonish"], 'job.toml: submit --at "soonish" is not a date'),
        (["show", 1, "--policy", "bad.toml"], 'bad.toml:1: unknown key "name"'),
    ):
        proc = cli(*argv, expect=2)
        assert proc.stderr.startswith(line), (argv, proc.stderr)


def test_a_daemon_waiting_for_its_database_server_says_so_as_the_daemon(tmp_path: Path) -> None:
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    daemon = subprocess.Popen(
        [sys.executable, "-m", "jobtui", "daemon", "--db", f"postgresql://ops@127.0.0.1:{port}/x"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        assert daemon.stderr is not None
        first = daemon.stderr.readline()
    finally:
        daemon.send_signal(signal.SIGKILL)
        daemon.wait()
    assert first.startswith(
        f"daemon: database unreachable (cannot open database postgresql+psycopg://ops@127.0.0.1:{port}/x"
    )
    assert first.rstrip().endswith("; retrying in 0.5s")
