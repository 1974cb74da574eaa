"""What a hostile tester typed at the command line: refused --as names, arguments that are not text,
ids that are not plain numbers, escape sequences in usage errors, FIFOs given as files, an unwritable
stderr. Each gets a clear message, the exit code of its kind (1 refused, 2 bad input) and, for a refusal,
a row in the audit trail. The commands run in this process (`InProcessCli`), on a real database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.test_cli import USER, Cli, InProcessCli, bad_input, make_cli, refused

JOB = 'name = "j"\nproject = "ops"\n[[run]]\nrun = "true"\n'

# USER may do everything to jobs, but not act as someone else.
NO_IMPERSONATION = f"""\
[roles.ops]
actions = ["action.job.view_monitor", "action.job.create", "action.job.cancel", "action.job.delete"]

[users]
"{USER}" = ["ops"]
"""


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    cli = make_cli(tmp_path, in_process=True)
    (tmp_path / "job.toml").write_text(JOB)
    (tmp_path / "policy.toml").write_text(NO_IMPERSONATION)
    return cli


def submit(cli: Cli) -> int:
    return int(json.loads(cli("submit", "job.toml", "--json").stdout)["id"])


# -- --as ----------------------------------------------------------------------------------------------------


def test_a_refused_as_is_in_the_audit_trail_of_the_job_it_named(cli: Cli) -> None:
    job_id = submit(cli)
    refused(
        cli("--policy", "policy.toml", "--as", "alice", "delete", job_id, expect=None),
        f"--as alice: {USER} lacks action.admin.impersonate",
    )
    trail = json.loads(cli("--policy", "policy.toml", "audit", job_id, "--json").stdout)
    last = trail[-1]
    assert (last["who"], last["action"], last["refused"], last["to"]) == (USER, "delete", True, None)
    assert "--as alice" in last["comment"] and "action.admin.impersonate" in last["comment"]
    assert last["at"]
    assert cli.json("show", job_id, "--policy", "policy.toml")["status"] != "DELETED"


def test_a_refused_as_on_no_job_is_in_job_0s_trail(cli: Cli) -> None:
    submit(cli)
    refused(cli("--policy", "policy.toml", "--as", "alice", "jobs", expect=None), "lacks action.admin")
    refused(cli("--policy", "policy.toml", "--as", "alice", "show", 4242, expect=None), "lacks action.admin")
    trail = json.loads(cli("audit", "0", "--json").stdout)
    assert [(row["who"], row["action"], row["refused"]) for row in trail] == [
        (USER, "jobs", True),
        (USER, "show", True),
    ]


@pytest.mark.parametrize("name", ["", "   "])
def test_an_empty_as_is_bad_input_and_nothing_is_done(cli: Cli, name: str) -> None:
    job_id = submit(cli)
    bad_input(cli("--as", name, "cancel", job_id, expect=None), "--as: an empty user name")
    assert cli.json("show", job_id)["status"] != "CANCELED"
    assert all(row["who"] == USER for row in cli.json("audit", job_id))


def test_a_dashboard_refused_its_as_leaves_the_refusal_in_job_0s_trail(cli: Cli) -> None:
    from jobtui.engine.domain.permissions import PermissionRefused
    from jobtui.engine.formats.policy_file import load_policy
    from jobtui.engine.service.policy import actor_for_url

    submit(cli)
    policy = load_policy(str(cli.workdir / "policy.toml"))
    with pytest.raises(PermissionRefused, match="--as alice"):
        actor_for_url(cli.env["JOBTUI_DB"], lambda: policy, "alice")
    [row] = cli.json("audit", "0")
    assert (row["who"], row["action"], row["refused"]) == (USER, "dashboard", True)


# -- usage errors --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "shown"),
    [
        (["jobs", "\x1b]0;PWNED\x07"], "unrecognized arguments: ^[]0;PWNED^G"),
        (["show", "1", "\x9b2J"], "unrecognized arguments: \\x9b2J"),
        (["jobs", "a\udcffb"], "unrecognized arguments: a\\xffb"),
    ],
)
def test_a_usage_error_shows_what_was_typed_without_driving_the_terminal(
    cli: Cli, argv: list[str], shown: str
) -> None:
    proc = cli(*argv, expect=None)
    bad_input(proc, shown)
    assert "\x1b" not in proc.stderr and "\x07" not in proc.stderr and "\x9b" not in proc.stderr


# -- arguments that are not text, and ValueErrors ------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "argument"),
    [
        (["cancel", "{job}", "--comment", "a\udcffb"], "--comment"),
        (["approve", "{job}", "--comment", "a\udcffb"], "--comment"),
        (["--as", "a\udcffb", "cancel", "{job}"], "--as"),
        (["jobs", "--project", "a\udcffb"], "--project"),
        (["submit", "a\udcffb"], "FILE"),
    ],
)
def test_an_argument_that_is_not_utf8_is_bad_input_naming_it(
    cli: Cli, argv: list[str], argument: str
) -> None:
    job_id = submit(cli)
    proc = cli(*(arg.format(job=job_id) for arg in argv), expect=None)
    bad_input(proc, f'argument {argument}: not valid UTF-8 text ("a\\xffb")')
    assert "surrogates" not in proc.stderr
    assert [job["id"] for job in cli.json("jobs")] == [job_id]
    assert cli.json("show", job_id)["status"] == "READY"


def test_a_plain_value_error_is_a_bug_not_bad_input(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    import jobtui.cli

    def fails(_args: object) -> int:
        raise ValueError("'BOGUS' is not a valid Status")

    monkeypatch.setattr(jobtui.cli, "_cmd_jobs", fails)
    proc = cli("jobs", expect=3)
    assert proc.stderr.startswith(
        "jobs: internal error (ValueError: 'BOGUS' is not a valid Status); details in"
    )


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["submit", "job.toml", "--at", "whenever"], 'job.toml: submit --at "whenever" is not a date'),
        (
            ["submit", "job.toml", "--at", "2099-01-02T00:00:00", "--max-start", "2099-01-01T00:00:00"],
            "is before the scheduled date",
        ),
        (["envelope-rollback", "1", "--reason", " "], "envelope-rollback: a reason is required"),
    ],
)
def test_the_value_errors_raised_for_bad_input_stay_bad_input(cli: Cli, argv: list[str], said: str) -> None:
    bad_input(cli(*argv, expect=None), said)


# -- ids -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("verb", ["show", "cancel"])
@pytest.mark.parametrize("typed", ["0_1", "\u0661", "  1  ", "\uff11", "+1", "1.0"])
def test_an_id_is_ascii_digits_only(cli: Cli, verb: str, typed: str) -> None:
    """int() reads all of these as 1: a job must never be acted on from what only looks like its id."""
    job_id = submit(cli)
    assert job_id == 1
    bad_input(cli(verb, typed, expect=None), "invalid id:", "a job number like 42")
    assert cli.json("show", job_id)["status"] == "READY"


def test_an_envelope_id_is_an_envelope_number(cli: Cli) -> None:
    for verb in (["envelope"], ["envelope-cancel"], ["envelope-rollback", "--reason", "r"]):
        bad_input(
            cli(verb[0], "abc", *verb[1:], expect=None), "invalid id: 'abc' (an envelope number like 42"
        )


def test_a_count_is_ascii_digits_only(cli: Cli) -> None:
    bad_input(cli("jobs", "--limit", "\u0661", expect=None), "invalid limit")


# -- FIFOs ---------------------------------------------------------------------------------------------------


@pytest.mark.timeout(10)  # without the fix each of these waited forever for a writer
@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["submit", "fifo.toml"], "fifo.toml: not a regular file"),
        (["--policy", "fifo.toml", "jobs"], "fifo.toml: not a regular file"),
        (["policy", "install", "fifo.toml"], "fifo.toml: not a regular file"),
        (["submit", "envelope.toml"], '"file" fifo.toml: fifo.toml: not a regular file'),
        (["submit", "job.toml", "fifo.toml", "--envelope", "e"], "fifo.toml: not a regular file"),
    ],
)
def test_a_fifo_given_as_a_file_is_refused_at_once(cli: Cli, argv: list[str], said: str) -> None:
    import os

    submit(cli)  # the database exists: the reading commands look at it
    os.mkfifo(cli.workdir / "fifo.toml")
    (cli.workdir / "envelope.toml").write_text('envelope = "e"\n[[jobs]]\nfile = "fifo.toml"\n')
    bad_input(cli(*argv, expect=None), said)


# -- files as Windows editors save them -------------------------------------------------------------------

BOM = b"\xef\xbb\xbf"


def test_files_starting_with_a_utf8_byte_order_mark_are_read(cli: Cli) -> None:
    """Notepad starts a UTF-8 file with a BOM; each was refused as `invalid TOML: Invalid statement (at line
    1, column 1)`. A definition, an envelope (and its jobs' files) and a policy are read as without one,
    and a problem in such a file is still on its own line."""
    for name, text in {
        "bom-job.toml": JOB,
        "bom-envelope.toml": 'envelope = "e"\n[[jobs]]\nfile = "bom-job.toml"\n',
        "bom-policy.toml": NO_IMPERSONATION,
        "bom-bad.toml": 'name = "j"\ntimeot = "5m"\n',
    }.items():
        (cli.workdir / name).write_bytes(BOM + text.encode())
    assert submit(cli) == 1  # the database exists: --policy applies to it
    assert json.loads(cli("submit", "bom-job.toml", "--json").stdout)["id"] == 2
    assert json.loads(cli("submit", "bom-envelope.toml", "--json").stdout)["ids"] == [3]
    assert [job["id"] for job in cli.json("jobs", "--policy", "bom-policy.toml")] == [3, 2, 1]
    bad_input(cli("submit", "bom-bad.toml", expect=None), 'bom-bad.toml:2: unknown key "timeot" at top level')


# -- an unwritable stderr ------------------------------------------------------------------------------------


class _FullStream:
    """A stderr on a full disk: every write fails."""

    def write(self, _text: str) -> int:
        raise OSError(28, "No space left on device")

    def flush(self) -> None:
        raise OSError(28, "No space left on device")


@pytest.mark.parametrize(
    ("argv", "code"), [(["show", "4242"], 2), (["--policy", "policy.toml", "--as", "x", "jobs"], 1)]
)
def test_an_unwritable_stderr_keeps_the_errors_exit_code(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, argv: list[str], code: int
) -> None:
    import jobtui.cli

    submit(cli)
    monkeypatch.chdir(cli.workdir)
    monkeypatch.setattr("sys.stderr", _FullStream())
    assert jobtui.cli.main([*argv, "--db", cli.env["JOBTUI_DB"]]) == code


def test_with_stderr_on_a_full_disk_the_process_exits_with_the_errors_code(cli: Cli) -> None:
    """The real process: the interpreter's last flush of stderr must not change the code either."""
    import subprocess
    import sys

    submit(cli)
    with open("/dev/full", "w") as full:
        runs = [
            subprocess.Popen(
                [sys.executable, "-m", "jobtui", *argv],
                env=cli.env,
                cwd=cli.workdir,
                stdout=stdout if stdout is not None else full,
                stderr=full,
            )
            for argv, stdout in ((["show", "4242"], subprocess.DEVNULL), (["jobs"], None))
        ]
        assert [run.wait(timeout=60) for run in runs] == [2, 2]


# -- submit --envelope "" ------------------------------------------------------------------------------------


@pytest.mark.parametrize("files", [["job.toml"], ["job.toml", "job.toml"]])
@pytest.mark.parametrize("name", ["", "  "])
def test_an_empty_envelope_name_is_bad_input_and_submits_nothing(
    cli: Cli, files: list[str], name: str
) -> None:
    cli("queue", "resume")  # creates the database (resuming a running queue changes nothing)
    bad_input(
        cli("submit", *files, "--envelope", name, expect=None),
        "submit --envelope: expected the envelope's name",
    )
    assert cli.json("jobs") == []
    assert cli.json("envelopes") == []


# -- log --follow of a job deleted meanwhile -----------------------------------------------------------------


def test_log_follow_of_a_job_deleted_meanwhile_says_so_and_exits_2(cli: Cli) -> None:
    import threading

    from jobtui.engine.db.store import Store
    from jobtui.engine.domain.permissions import Actor
    from jobtui.engine.service.actions import Actions

    job_id = submit(cli)  # READY: no engine runs it, so --follow waits for it
    store = Store(cli.env["JOBTUI_DB"])
    deleter = threading.Timer(0.4, lambda: Actions(store, Actor(USER)).delete(job_id))
    deleter.start()
    try:
        proc = cli("log", job_id, "--follow", expect=None)
    finally:
        deleter.join()
        store.engine.dispose()
    bad_input(proc, f"log: job {job_id} was deleted; its log ends here")


# -- minor ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("wait", ["0", "-1", "86400"])
def test_a_lock_wait_out_of_range_says_what_range(cli: Cli, wait: str) -> None:
    submit(cli)
    proc = InProcessCli({**cli.env, "JOBTUI_LOCK_WAIT_S": wait}, cli.workdir)("cancel", "1", expect=None)
    bad_input(proc, f"$JOBTUI_LOCK_WAIT_S: {wait} is out of range (more than 0 and less than 86400 seconds)")


def test_a_date_before_now_like_minus_2h_is_read_as_the_date_it_is(cli: Cli) -> None:
    job_id = submit(cli)
    bad_input(
        cli("reschedule", job_id, "-2h", expect=None),
        '"-2h" is not a date (try ISO 8601',
        '"+2h"',
    )


@pytest.mark.parametrize("project", ["", " "])
def test_jobs_of_an_empty_project_name_is_bad_input(cli: Cli, project: str) -> None:
    submit(cli)
    proc = cli("jobs", "--project", project, expect=None)
    bad_input(proc, "jobs --project: expected a project's name, not an empty string")
    assert proc.stdout == ""


# -- numbers of seconds and ports ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["daemon", "--lease", "inf"], "argument --lease: invalid lease: 'inf' (a number of seconds"),
        (["daemon", "--lease", "nan"], "argument --lease: invalid lease: 'nan'"),
        (["daemon", "--lease", "1e999"], "argument --lease: invalid lease: '1e999'"),
        (["daemon", "--lease", "-5"], "argument --lease: invalid lease: -5 (from 0.1 to 86400 seconds)"),
        (["daemon", "--lease", "0"], "argument --lease: invalid lease: 0 (from 0.1 to 86400 seconds)"),
        (["daemon", "--lease", "999999999"], "argument --lease: invalid lease: 999999999 (from 0.1"),
        (["daemon", "--heartbeat", "nan"], "argument --heartbeat: invalid heartbeat: 'nan'"),
        (["daemon", "--heartbeat", "\u0665"], "argument --heartbeat: invalid heartbeat: '\u0665'"),
        (["daemon", "--heartbeat", "0"], "argument --heartbeat: invalid heartbeat: 0 (from 0.1 to 3600"),
        (
            ["daemon", "--heartbeat", "10", "--lease", "5"],
            "daemon: --heartbeat 10 must be shorter than --lease 5",
        ),
        (["serve", "--port", "0"], "argument --port: invalid port: 0 (from 1 to 65535)"),
        (["serve", "--port", "99999"], "argument --port: invalid port: 99999 (from 1 to 65535)"),
        (["serve", "--port", "1_0"], "argument --port: invalid port: '1_0' (a whole number"),
        (["serve", "--port", "\uff18\uff10"], "argument --port: invalid port:"),
    ],
)
def test_a_number_option_out_of_range_or_not_a_number_is_bad_input(
    cli: Cli, argv: list[str], said: str
) -> None:
    """float() takes "inf" and "nan": a daemon with `--lease inf` never took a silent worker's jobs back."""
    bad_input(cli(*argv, expect=None), said)


# -- environment variables that are not text -----------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["JOBTUI_DB", "JOBTUI_POLICY", "JOBTUI_CONFIG", "JOBTUI_KEYS", "JOBTUI_LOCK_WAIT_S", "JOBTUI_LOG_DIR"],
)
def test_an_environment_variable_that_is_not_utf8_is_bad_input_naming_it(cli: Cli, name: str) -> None:
    submit(cli)
    env = {**cli.env, name: "a\udcffb"}
    for argv in (["jobs"], ["cancel", "1"]):
        proc = InProcessCli(env, cli.workdir)(*argv, expect=None)
        bad_input(proc, f'${name}: not valid UTF-8 text ("a\\xffb")')
        assert "internal error" not in proc.stderr and "\udcff" not in proc.stderr
    assert cli.json("show", 1)["status"] == "READY"


# -- counts in words ---------------------------------------------------------------------------------------


def test_the_queue_says_its_counts_in_the_singular_or_the_plural(cli: Cli) -> None:
    submit(cli)
    assert cli("queue", "status").stdout.strip() == "queue RUNNING: 1 queued, 0 running, 0 workers"
    assert cli("queue", "clear").stdout.strip().endswith("0 workers; 1 job canceled")
    assert cli.json("queue", "status") == {"paused": False, "queued": 0, "running": 0, "workers": 0}


# -- dates quoted as written -------------------------------------------------------------------------------


WINDOW_JOB = (
    'name = "w"\n[schedule]\nmode = "window"\nwindow = { from = "01:00", to = "02:00" }\n'
    '[[run]]\nrun = "true"\n'
)


@pytest.mark.parametrize(
    ("file", "said"),
    [
        (
            "job.toml",
            'job.toml: submit --max-start "2099-01-01T00:00:00+05:00" is before the scheduled date, '
            'submit --at "2099-01-02T00:00:00+02:00"',
        ),
        (
            "window.toml",
            'window.toml: submit --max-start "2099-01-01T00:00:00+05:00" is not after the window\'s start, '
            'submit --at "2099-01-02T00:00:00+02:00"',
        ),
    ],
)
def test_dates_in_conflict_are_quoted_as_the_user_wrote_them(cli: Cli, file: str, said: str) -> None:
    """Converted to UTC, "+05:00" midnight read as 19:00 the day before: a date the user never typed."""
    (cli.workdir / "window.toml").write_text(WINDOW_JOB)
    argv = ["--at", "2099-01-02T00:00:00+02:00", "--max-start", "2099-01-01T00:00:00+05:00"]
    bad_input(cli("submit", file, *argv, expect=None), said)
    assert "+00:00" not in cli("submit", file, *argv, expect=None).stderr
