"""Bad input gets one line naming what was wrong and exit 2, and creates nothing (issue 14, item 11)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pendulum
import pytest

import jobtui.cli as cli
from jobtui.engine.db.store import Store
from jobtui.engine.domain.permissions import Actor
from jobtui.engine.service.actions import Actions
from tests.support.helpers import definition
from tests.support.template_db import migrated_sqlite

JOB = 'name = "j"\n[[run]]\nrun = "true"\n'


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    try:
        code = cli.main(list(argv))
    except SystemExit as exc:  # argparse's usage errors
        code = int(exc.code or 0)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def _run_out(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code = cli.main(list(argv))
    out = capsys.readouterr().out
    assert code == 0
    return out


@pytest.fixture
def db(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    url = migrated_sqlite(tmp_path / "jobs.db")
    definition = tmp_path / "job.toml"
    definition.write_text(JOB)
    assert _run(capsys, "submit", str(definition), "--db", url)[0] == 0
    return url


def test_audit_0_before_anyone_touched_the_queue_is_an_empty_trail(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """0 is the queue's and the policy's trail (README): empty, not an unknown job, until one acts."""
    code = cli.main(["audit", "0", "--json", "--db", db])
    out = capsys.readouterr().out
    assert (code, json.loads(out)) == (0, [])
    assert _run(capsys, "audit", "4242", "--db", db)[0] == 2  # an unknown job still is


@pytest.mark.parametrize("verb", ["show", "log", "audit", "cancel", "envelope", "trap"])
@pytest.mark.parametrize("job_id", ["9223372036854775808", "99999999999999999999999", "-1"])
def test_an_id_beyond_the_databases_range_is_a_usage_error(
    db: str, capsys: pytest.CaptureFixture[str], verb: str, job_id: str
) -> None:
    extra = ["retry"] if verb == "trap" else []
    code, err = _run(capsys, verb, job_id, *extra, "--db", db)
    assert code == 2
    assert f"invalid id: {job_id}" in err


@pytest.mark.parametrize("when", ["9999-12-31T23:00:00", "0001-01-01T00:00:00", "1969-12-31T23:59:59+00:00"])
def test_a_date_outside_the_calendar_is_refused_and_the_job_keeps_its_date(
    db: str, capsys: pytest.CaptureFixture[str], when: str
) -> None:
    before = _run(capsys, "show", "1", "--db", db, "--json")
    code, err = _run(capsys, "reschedule", "1", when, "--db", db)
    assert code == 2
    assert (
        err.strip() == f'reschedule: "{when}" is outside the calendar jobtui can schedule on (1970 to 8999)'
    )
    assert _run(capsys, "show", "1", "--db", db, "--json") == before


@pytest.mark.parametrize(
    ("flag", "when", "hint"),
    [
        ("--at", "+١٠m", '(try "+10m")'),
        ("--at", "+１０m", '(try "+10m")'),
        ("--max-start", "+１h", '(try "+1h")'),
        (
            "--at",
            "tomorrow ０２:００",
            '(try ISO 8601 like 2026-11-23T02:00, "now", "+2h" or "tomorrow 02:00")',
        ),
        # Found by review: an empty date (a script's unset variable) was no date given, the file's own.
        ("--at", "", '(try ISO 8601 like 2026-11-23T02:00, "now", "+2h" or "tomorrow 02:00")'),
        ("--max-start", "", '(try ISO 8601 like 2026-11-23T02:00, "now", "+2h" or "tomorrow 02:00")'),
    ],
)
def test_a_submission_date_in_digits_other_than_0_9_is_refused_naming_the_flag(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str, when: str, hint: str
) -> None:
    """\\d and int() read the digits of every script, as ISO dates never did: "+١٠m" was ten minutes."""
    path = tmp_path / "job.toml"
    code, err = _run(capsys, "submit", str(path), "--db", db, flag, when)
    assert (code, err) == (2, f'{path}: submit {flag} "{when}" is not a date {hint}\n')
    assert [job["id"] for job in json.loads(_run_out(capsys, "jobs", "--json", "--db", db))] == [1]


def test_a_new_date_in_digits_other_than_0_9_is_refused_and_the_job_keeps_its_date(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _run_out(capsys, "show", "1", "--db", db, "--json")
    code, err = _run(capsys, "reschedule", "1", "+٣h", "--db", db)
    assert (code, err) == (2, 'reschedule: "+٣h" is not a date (try "+3h")\n')
    assert _run_out(capsys, "show", "1", "--db", db, "--json") == before


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("definition.toml", "a = " + "[" * 3000 + "]" * 3000 + "\n"),
        ("envelope.toml", 'envelope = "e"\nx = ' + "[" * 3000 + "]" * 3000 + "\n"),
    ],
)
def test_deeply_nested_toml_is_refused_in_one_line(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, text: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    code, err = _run(capsys, "submit", str(path), "--db", db)
    assert code == 2
    assert f"{path}: invalid TOML: values nested too deeply" in err


def test_a_deeply_nested_policy_is_refused_in_one_line(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text("[roles.r]\nactions = " + "[" * 3000 + "]" * 3000 + "\n")
    code, err = _run(capsys, "jobs", "--db", db, "--policy", str(policy))
    assert (code, err.strip()) == (2, f"{policy}: values nested too deeply")


def test_submitting_dev_zero_is_refused_without_reading_it(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _run(capsys, "submit", "/dev/zero", "--db", db)
    assert (code, err.strip()) == (2, "/dev/zero: not a regular file")


def test_a_definition_file_over_the_size_cap_is_refused(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    huge = tmp_path / "huge.toml"
    huge.write_text(JOB + "# " + "x" * (5 << 20) + "\n")
    code, err = _run(capsys, "submit", str(huge), "--db", db)
    assert (code, err.strip()) == (2, f"{huge}: larger than 4 MiB; not a jobtui file")


@pytest.mark.parametrize("url", ["mysql://user:secret@host/db", "bogus://x", "oracle://h/x"])
def test_an_unknown_database_scheme_is_refused_without_repeating_the_password(
    capsys: pytest.CaptureFixture[str], url: str
) -> None:
    code, err = _run(capsys, "jobs", "--db", url)
    scheme = url.split("://")[0]
    assert code == 2
    assert f'database URL "{scheme}://…"' in err
    assert "secret" not in err


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("postgresql://u:secret@host:notaport/db", "its port must be a number from 1 to 65535"),
        ("postgresql://u:secret@host:99999/db", "its port must be a number from 1 to 65535"),
        ("postgres://u:secret@[::1:1/db", "its host: Invalid IPv6 URL"),
    ],
)
def test_a_postgresql_url_that_cannot_be_read_says_what_is_wrong_without_the_password(
    capsys: pytest.CaptureFixture[str], url: str, problem: str
) -> None:
    code, err = _run(capsys, "jobs", "--db", url)
    scheme = url.split("://")[0]
    assert (code, err.strip()) == (2, f'jobs: database URL "{scheme}://…": {problem}')


def test_a_server_that_cannot_be_reached_is_named_without_any_password(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """libpq takes a password in the URL's options too: that one was printed (and the message took two
    lines, the second tab-indented, `^I` on screen)."""
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    code, err = _run(
        capsys, "jobs", "--db", f"postgresql://ops:s3cret@127.0.0.1:{port}/x?password=zzz&sslmode=disable"
    )
    assert code == 2
    assert (
        f"cannot open database postgresql+psycopg://ops:***@127.0.0.1:{port}/x?password=***&sslmode=disable"
        in err
    )
    assert "s3cret" not in err and "zzz" not in err and "^I" not in err
    assert len(err.strip().splitlines()) == 1, err


def test_a_database_in_a_missing_directory_is_refused_and_nothing_is_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "no" / "such" / "dir"
    definition = tmp_path / "job.toml"
    definition.write_text(JOB)
    url = f"sqlite:///{missing / 'x.db'}"
    for argv in (["jobs", "--db", url], ["submit", str(definition), "--db", url]):
        code, err = _run(capsys, *argv)
        assert code == 2, err
        assert str(missing) in err
    assert not (tmp_path / "no").exists()


def test_reading_a_database_that_does_not_exist_creates_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    # `queue status` and `settings` said an idle, healthy queue on a mistyped --db (found by QA).
    for verb in (["jobs"], ["show", "1"], ["envelopes"], ["queue", "status"], ["settings"]):
        code, err = _run(capsys, *verb, "--db", "bogus")
        assert code == 2
        assert f"no database at {tmp_path / 'bogus'}" in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ("mode=ro", "mode"),
        ("uri=true", "uri"),
        ("foo=bar", "foo"),
        ("mode=ro&uri=true", "mode, uri"),
        ("", 'an empty "?"'),
    ],
)
def test_a_sqlite_url_with_options_is_refused_and_nothing_is_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], options: str, named: str
) -> None:
    """SQLAlchemy ignores most options and, with uri=true, makes SQLite create a file named "u.db?…",
    while the logs and the monitor's reads go to u.db: jobtui takes none (the user hears which)."""
    folder = tmp_path / "dbs"
    folder.mkdir()
    definition = tmp_path / "job.toml"
    definition.write_text(JOB)
    url = f"sqlite:///{folder / 'u.db'}?{options}"
    for argv in (["submit", str(definition)], ["jobs"], ["settings"]):
        code, err = _run(capsys, *argv, "--db", url)
        assert code == 2, err
        assert err.startswith(f'{argv[0]}: database URL "sqlite:///{folder / "u.db"}?…": ')
        assert f'jobtui takes no options after "?" in a SQLite URL (this one has {named})' in err
        # Read-only was meant: jobtui's way to look without acting is named.
        assert ("--readonly" in err) == ("mode=ro" in options)
    assert list(folder.iterdir()) == []


def test_a_sqlite_url_naming_a_host_is_bad_input_without_repeating_the_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for url in ("sqlite://host/x.db", "sqlite://u:secret@host/x.db"):
        code, err = _run(capsys, "jobs", "--db", url)
        assert (code, err.strip()) == (
            2,
            'jobs: database URL "sqlite://…": a SQLite URL names a file, not a host: '
            "sqlite:///relative/path or sqlite:////absolute/path",
        )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("given", "file"),
    [
        ("sqlite:///{dir}/a%20b.db", "a b.db"),  # escaped in a URL: the file SQLAlchemy opens
        ("SQLITE:///{dir}/upper.db", "upper.db"),  # a scheme is case-insensitive
        ("{dir}/what?.db", "what?.db"),  # a file path is the file, whatever it holds
        ("{dir}/100%41.db", "100%41.db"),  # not an escape either
    ],
)
def test_every_command_finds_the_database_file_the_url_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], given: str, file: str
) -> None:
    """The file, its write lock and its logs are where the URL says, and the reading commands (which go
    through the plain driver, not SQLAlchemy) find the job another command submitted."""
    folder = tmp_path / "dbs"
    folder.mkdir()
    definition = tmp_path / "job.toml"
    definition.write_text(JOB)
    url = given.format(dir=folder)
    assert _run(capsys, "submit", str(definition), "--db", url) == (0, "")
    code = cli.main(["jobs", "--json", "--db", url])
    listed = json.loads(capsys.readouterr().out)
    assert (code, [job["id"] for job in listed]) == (0, [1])
    stem = file.removesuffix(".db")
    # SQLite's own -wal and -shm files stay while this process keeps a connection open.
    made = {path.name for path in folder.iterdir()} - {f"{file}-wal", f"{file}-shm"}
    assert made == {file, f"{file}.writelock", f"{stem}-logs"}


def test_a_sqlite_url_in_the_home_folder_is_one_file_for_every_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`sqlite:///~/x.db`: the database, its write lock and its logs all in the home folder (the database
    itself was opened as `./~/x.db`, relative to the current folder, and the reads found none)."""
    home = tmp_path / "home"
    home.mkdir()
    (tmp_path / "~").mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    definition = tmp_path / "job.toml"
    definition.write_text(JOB)
    assert _run(capsys, "submit", str(definition), "--db", "sqlite:///~/x.db") == (0, "")
    assert [job["id"] for job in _listing(capsys, "sqlite:///~/x.db")] == [1]
    assert {path.name for path in home.iterdir()} >= {"x.db", "x.db.writelock", "x-logs"}
    assert list((tmp_path / "~").iterdir()) == []


def _listing(capsys: pytest.CaptureFixture[str], db: str, verb: str = "jobs") -> Any:
    code = cli.main([verb, "--json", "--db", db])
    assert code == 0
    return json.loads(capsys.readouterr().out)


PAST = "2020-01-01T00:00:00+00:00"
ALREADY_PAST = "is already past (now "
WOULD_EXPIRE = "): the job would expire before it could start"


@pytest.mark.parametrize(
    ("schedule", "flags", "expected"),
    [
        # The default Max Start Date is the RUN date + 1d: the RUN date is what is too old. The file
        # submitted, and the option that gave the date.
        (
            "",
            ["--at", PAST],
            f'{{file}}: submit --at: "{PAST}": the Max Start Date 2020-01-02T00:00:00+00:00 (+1d after '
            "this RUN date) ",
        ),
        (
            "",
            ["--at", PAST, "--max-start", "+2h"],
            f'{{file}}: submit --at: "{PAST}": the Max Start Date 2020-01-01T02:00:00+00:00 (+2h after '
            "this RUN date) ",
        ),
        (
            "",
            ["--at", PAST, "--max-start", "2020-01-03T00:00:00Z"],
            '{file}: submit --max-start: "2020-01-03T00:00:00Z": the Max Start Date '
            "2020-01-03T00:00:00+00:00 ",
        ),
        # The same dates carried by the definition file name its fields.
        (
            f'[schedule]\nat = "{PAST}"\n',
            [],
            '{file}:3: [schedule] "at": "' + PAST + '": the Max Start Date 2020-01-02T00:00:00+00:00 ',
        ),
        (
            f'[schedule]\nat = "{PAST}"\nmax_start = "2020-01-03T00:00:00+00:00"\n',
            [],
            '{file}:4: [schedule] "max_start": "2020-01-03T00:00:00+00:00": the Max Start Date ',
        ),
        # A window's expiry is its Max Start Date (by default a week after its start).
        (
            '[schedule]\nmode = "window"\nstart = "2020-01-01T00:00:00+00:00"\n',
            [],
            '{file}:4: [schedule] "start": "2020-01-01T00:00:00+00:00": the schedule\'s expiry '
            "2020-01-08T00:00:00+00:00 (+7d after this start, the default) ",
        ),
        (
            '[schedule]\nmode = "window"\nstart = "2019-12-01"\nexpires = "2020-01-05T00:00:00+00:00"\n',
            [],
            '{file}:5: [schedule] "expires": "2020-01-05T00:00:00+00:00": the schedule\'s expiry ',
        ),
    ],
)
def test_a_submission_whose_max_start_date_is_already_past_is_refused_and_creates_no_job(
    db: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    schedule: str,
    flags: list[str],
    expected: str,
) -> None:
    """It used to be accepted and expire on the engine's next pass, without ever running."""
    definition = tmp_path / "past.toml"
    definition.write_text(JOB.replace("[[run]]", schedule + "[[run]]", 1))
    before = _listing(capsys, db)
    code, err = _run(capsys, "submit", str(definition), *flags, "--db", db)
    assert code == 2, err
    assert err.startswith(expected.format(file=definition)), err
    assert ALREADY_PAST in err and err.rstrip().endswith(WOULD_EXPIRE)
    assert err.count("\n") == 1
    assert _listing(capsys, db) == before


@pytest.mark.parametrize(
    ("job_file", "second_job", "expected"),
    [
        # The envelope's own date: its line.
        (
            JOB,
            f'at = "{PAST}"\n',
            '{envelope}:6: [[jobs]] #2 "at": "' + PAST + '": the Max Start Date 2020-01-02T00:00:00+00:00 '
            "(+1d after this RUN date) ",
        ),
        (
            JOB,
            f'at = "{PAST}"\nmax_start = "+2h"\n',
            '{envelope}:6: [[jobs]] #2 "at": "' + PAST + '": the Max Start Date 2020-01-01T02:00:00+00:00 '
            "(+2h after this RUN date) ",
        ),
        (
            JOB,
            f'at = "{PAST}"\nmax_start = "2020-01-03T00:00:00Z"\n',
            '{envelope}:7: [[jobs]] #2 "max_start": "2020-01-03T00:00:00Z": the Max Start Date ',
        ),
        # The job file's date, which the envelope does not override: the job's "file" line, then the file.
        (
            JOB.replace("[[run]]", f'[schedule]\nat = "{PAST}"\n[[run]]'),
            "",
            '{envelope}:5: [[jobs]] #2 "file" a.toml: {job}:3: [schedule] "at": "' + PAST + '": the Max ',
        ),
    ],
)
def test_an_envelope_whose_job_has_a_past_max_start_date_is_corrupt_naming_the_date_and_its_line(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], job_file: str, second_job: str, expected: str
) -> None:
    job = tmp_path / "a.toml"
    job.write_text(job_file)
    envelope = tmp_path / "release.toml"
    entries = f'[[jobs]]\nfile = "b.toml"\n[[jobs]]\nfile = "a.toml"\n{second_job}'
    (tmp_path / "b.toml").write_text(JOB)
    envelope.write_text(f'envelope = "release"\n{entries}')
    before = _listing(capsys, db)
    code, err = _run(capsys, "submit", str(envelope), "--db", db)
    assert code == 2, err
    reason, recorded = err.splitlines()
    assert reason.startswith(expected.format(envelope=envelope, job=job)), reason
    assert ALREADY_PAST in reason and reason.endswith(WOULD_EXPIRE)
    assert recorded == "(recorded as corrupt envelope 1; none of its jobs run)"
    # The envelope is kept as corrupt, with the reason; none of its jobs exist, not even the first.
    (corrupt,) = _listing(capsys, db, "envelopes")
    assert (corrupt["status"], corrupt["reason"], corrupt["jobs"]) == ("CORRUPT", reason, [])
    assert _listing(capsys, db) == before


def test_an_envelope_date_replacing_a_past_one_of_its_job_file_is_accepted(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The job file's own date is already past, but the envelope gives the job another: that one counts."""
    (tmp_path / "a.toml").write_text(JOB.replace("[[run]]", f'[schedule]\nat = "{PAST}"\n[[run]]'))
    envelope = tmp_path / "release.toml"
    envelope.write_text('envelope = "release"\n[[jobs]]\nfile = "a.toml"\nat = "+1h"\n')
    code, err = _run(capsys, "submit", str(envelope), "--db", db)
    assert (code, err) == (0, "")
    (submitted,) = _listing(capsys, db, "envelopes")
    assert submitted["status"] != "CORRUPT"
    assert cli.main(["envelopes", "--db", db]) == 0
    assert capsys.readouterr().out.rstrip().endswith("release  (1 job)"), "not (1 jobs)"


def test_a_past_run_date_whose_max_start_date_is_still_ahead_runs_now(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    definition = tmp_path / "late.toml"
    definition.write_text(JOB)
    two_hours_ago = pendulum.now("UTC").subtract(hours=2).replace(microsecond=0)
    code = cli.main(["submit", str(definition), "--at", two_hours_ago.isoformat(), "--json", "--db", db])
    job_id = json.loads(capsys.readouterr().out)["id"]
    assert code == 0
    code = cli.main(["show", str(job_id), "--json", "--db", db])
    job = json.loads(capsys.readouterr().out)
    assert (code, job["status"]) == (0, "READY")
    assert pendulum.parse(job["max_start_at"]) == two_hours_ago.add(days=1)


NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def test_a_daemon_on_a_database_it_may_not_write_says_so_and_exits() -> None:
    """It started, then retried its first write forever, a warning every 15 s."""
    folder = Path(tempfile.mkdtemp(prefix="jobtui-read-only-"))  # outside pytest's folders, which are 0700
    try:
        db = folder / "jobs.db"
        store = Store(f"sqlite:///{db}")
        Actions(store, Actor("tester")).submit(definition('name = "j"\n[[run]]\nrun = "true"\n'))
        store.engine.dispose()
        as_another_user: list[str] = []
        if os.geteuid() == 0:  # root writes any file: the daemon runs as nobody, who may only read it
            if shutil.which("setpriv") is None:
                pytest.skip("running as root without setpriv")
            probe = subprocess.run([*NOBODY, sys.executable, "-c", "import jobtui.cli"], capture_output=True)
            if probe.returncode != 0:
                pytest.skip("nobody cannot run this interpreter's jobtui (a venv in a private folder)")
            # The folder theirs to write (SQLite's -wal and -shm files), not the database's file.
            folder.chmod(0o777)
            as_another_user = NOBODY
        db.chmod(0o444)
        env = {key: value for key, value in os.environ.items() if key != "JOBTUI_DB"}
        daemon = subprocess.run(
            [*as_another_user, sys.executable, "-m", "jobtui.cli", "daemon", "--db", f"sqlite:///{db}"],
            env={**env, "HOME": str(folder)},
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        folder.chmod(0o755)
        shutil.rmtree(folder)
    assert daemon.returncode == 2, daemon.stderr
    assert "cannot be written" in daemon.stderr and "read-only for this user" in daemon.stderr
    assert "Traceback" not in daemon.stderr


def test_a_queue_pause_reason_is_a_reason_and_goes_with_pause_only(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """An empty reason read as none (the header said "paused by USER", the JSON had no reason); a reason
    given to resume was dropped without a word (found by QA)."""
    for argv, said in (
        (["queue", "pause", "--reason", ""], "not an empty string"),
        (["queue", "pause", "--reason", "  "], "not an empty string"),
        (["queue", "resume", "--reason", "done"], "--reason goes with pause only"),
    ):
        code, err = _run(capsys, *argv, "--db", db)
        assert (code, said in err) == (2, True), err
    assert json.loads(_run_out(capsys, "queue", "status", "--json", "--db", db))["paused"] is False


@pytest.mark.parametrize("value", ["９", "٩", "²", "1_0", " 9"])
def test_a_setting_takes_ascii_digits_only(db: str, capsys: pytest.CaptureFixture[str], value: str) -> None:
    """ "９" and "٩" were stored as 9, "²" stopped on an internal error (found by QA)."""
    code, err = _run(capsys, "settings", "op_log_cap_mib", value, "--db", db)
    assert code == 2 and "takes a whole number" in err, err


@pytest.mark.parametrize("value", ["٣", "３", "1_0", " 3 ", "1e1", "inf"])
def test_the_lock_wait_takes_plain_decimals_only(
    db: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("JOBTUI_LOCK_WAIT_S", value)
    code, err = _run(capsys, "queue", "pause", "--db", db)
    assert code == 2 and "$JOBTUI_LOCK_WAIT_S" in err, err
    monkeypatch.setenv("JOBTUI_LOCK_WAIT_S", "0.5")
    assert _run(capsys, "queue", "resume", "--db", db)[0] == 0


@pytest.mark.parametrize("when", ["yesterday", "", "+1000000000000d"])
def test_a_bad_reschedule_date_is_bad_input_whatever_the_jobs_status(
    db: str, capsys: pytest.CaptureFixture[str], when: str
) -> None:
    """On a job whose status refuses a reschedule it exited 1 (refused), on a READY one 2: a script
    branching on the code read a mistyped date as a refusal (found by QA)."""
    assert _run(capsys, "cancel", "1", "--db", db)[0] == 0
    code, err = _run(capsys, "reschedule", "1", when, "--db", db)
    assert code == 2, err
    code, err = _run(capsys, "reschedule", "1", "+1h", "--db", db)
    assert code == 1 and "CANCELED" in err, err  # a good date: refused for the status, as before


@pytest.mark.parametrize("value", ["", " "])
def test_an_empty_jobtui_db_is_bad_input(
    db: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    """Set but empty, it read as unset: the default SQLite database was used, a script's empty variable
    unnoticed (found by QA). --db still wins over it."""
    monkeypatch.setenv("JOBTUI_DB", value)
    for argv in (["jobs"], ["--readonly"]):
        code, err = _run(capsys, *argv)
        assert code == 2 and "$JOBTUI_DB is empty" in err, err
    assert _run(capsys, "jobs", "--db", db)[0] == 0


def test_an_empty_db_option_is_bad_input(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    """It read as no --db: the default database was used, a script's unset variable unnoticed."""
    for argv in (["jobs"], ["--readonly"]):  # the dashboard too: it opened on the default database
        code, err = _run(capsys, *argv, "--db", "")
        assert code == 2 and "--db: expected a database URL or file, not an empty string" in err, err
