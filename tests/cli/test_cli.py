"""The `jobtui` command line as a contract: commands, JSON shapes and exit codes (0 done, 1 refused with
the reason on stderr, 2 bad input), which users' scripts depend on.

Each start of the console script costs about half a second (imports), so most checks run the same
`jobtui.cli.main` in this process (`InProcessCli`); the console script itself runs the daemon, the
end-to-end submit and log, `log --follow`, and one test that compares its JSON and exit codes with the
in-process ones. Read-only checks share one database.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psutil
import pytest

from tests.support.helpers import ROOT, live_pids_of_group, wait_for
from tests.support.template_db import migrated_sqlite

_SCRIPT = Path(sys.executable).with_name("jobtui")
JOBTUI = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "jobtui.cli"]
USER = pwd.getpwuid(os.getuid()).pw_name

JOB_KEYS = {
    "id",
    "name",
    "type",
    "project",
    "status",
    "status_label",
    "step",
    "progress",
    "natures",
    "owner",
    "envelope",
    "exec",
    "created_at",
    "scheduled_at",
    "max_start_at",
    "started_at",
    "ended_at",
    "trap",
}
TASK_KEYS = {"target", "status", "last_triggered_at", "current_step", "progress", "steps"}
STEP_KEYS = {
    "id",
    "name",
    "step",
    "status",
    "started_at",
    "skipped_at",
    "completed_at",
    "exit_code",
    "position",
}
QUEUE_KEYS = {"paused", "queued", "running", "workers"}
STATUS_CODES = {
    "READY",
    "RUNNING",
    "APPROVAL",
    "REJECTED",
    "EXPIRED",
    "ABEND",
    "ROLLBACK",
    "ROLLEDBACK",
    "FINISHED",
    "PARTIAL",
    "ERROR",
    "CANCELED",
    "TRAPPED",
    "TRAP_PAUSED",
    "PAUSED",
    "REPLACED",
}
ISO_WITH_OFFSET = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
UNKNOWN_ID = 4242


# -- helpers -------------------------------------------------------------------------------------------------


def cli_env(db_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("JOBTUI_POLICY", "JOBTUI_DB")}
    env["JOBTUI_DB"] = db_url
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env


def describe(proc: subprocess.CompletedProcess[str]) -> str:
    return f"{proc.args!r} -> {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"


@dataclass
class Cli:
    """Runs `jobtui ARGS...` against one database (via $JOBTUI_DB)."""

    env: dict[str, str]
    workdir: Path
    files: dict[str, Path] = field(default_factory=dict)

    def __call__(self, *args: object, expect: int | None = 0) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [*JOBTUI, *map(str, args)],
            env=self.env,
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if expect is not None:
            assert proc.returncode == expect, describe(proc)
        return proc

    def json(self, *args: object) -> Any:
        proc = self(*args, "--json")
        try:
            return json.loads(proc.stdout)
        except json.JSONDecodeError:
            pytest.fail(f"not JSON: {describe(proc)}")

    def many(self, *calls: Sequence[object]) -> list[subprocess.CompletedProcess[str]]:
        """Independent commands at once (each pays the interpreter start-up); results in order.

        A call may start with a dict of environment variables to set for it alone.
        """

        def one(args: Sequence[object]) -> subprocess.CompletedProcess[str]:
            if args and isinstance(args[0], dict):
                return Cli({**self.env, **args[0]}, self.workdir)(*args[1:], expect=None)
            return self(*args, expect=None)

        with ThreadPoolExecutor(max_workers=4) as pool:
            return list(pool.map(one, calls))

    def write(self, name: str, text: str) -> Path:
        path = self.workdir / name
        path.write_text(textwrap.dedent(text))
        self.files[name] = path
        return path


class InProcessCli(Cli):
    """The same commands run by `jobtui.cli.main` in this process, with the command's environment and
    folder, one at a time: no interpreter's start a command (half a second of imports each). For the
    tests of what the commands do; the console script itself is run by the tests above."""

    def __call__(self, *args: object, expect: int | None = 0) -> subprocess.CompletedProcess[str]:
        import io

        import jobtui.cli

        argv = [str(arg) for arg in args]
        out, err = io.BytesIO(), io.BytesIO()
        saved_env, saved_cwd, saved_streams = dict(os.environ), os.getcwd(), (sys.stdout, sys.stderr)
        os.environ.clear()
        os.environ.update(self.env)
        os.chdir(self.workdir)
        streams = [io.TextIOWrapper(buffer, encoding="utf-8", write_through=True) for buffer in (out, err)]
        sys.stdout, sys.stderr = streams
        try:
            code = jobtui.cli.main(argv)
        except SystemExit as exc:  # argparse's usage errors
            code = exc.code if isinstance(exc.code, int) else 2
        finally:
            sys.stdout, sys.stderr = saved_streams
            for stream in streams:
                stream.detach()  # the bytes stay readable
            os.chdir(saved_cwd)
            os.environ.clear()
            os.environ.update(saved_env)
        proc = subprocess.CompletedProcess(
            ["jobtui", *argv], code, out.getvalue().decode("utf-8"), err.getvalue().decode("utf-8")
        )
        assert "Traceback" not in proc.stderr, describe(proc)
        if expect is not None:
            assert proc.returncode == expect, describe(proc)
        return proc

    def many(self, *calls: Sequence[object]) -> list[subprocess.CompletedProcess[str]]:
        results = []
        for args in calls:
            if args and isinstance(args[0], dict):
                results.append(InProcessCli({**self.env, **args[0]}, self.workdir)(*args[1:], expect=None))
            else:
                results.append(self(*args, expect=None))
        return results


def make_cli(directory: Path, in_process: bool = False, fresh: bool = False) -> Cli:
    """Commands on `directory`/jobs.db: a database at the schema's head (`template_db`), or none yet with
    `fresh` (the first command creates it: for the tests of that)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "jobs.db"
    env = cli_env(f"sqlite:///{path}" if fresh else migrated_sqlite(path))
    return InProcessCli(env, directory) if in_process else Cli(env, directory)


def assert_iso(value: object, *, nullable: bool = False) -> datetime | None:
    if value is None and nullable:
        return None
    assert isinstance(value, str) and ISO_WITH_OFFSET.match(value), f"not ISO 8601 with offset: {value!r}"
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    assert parsed.utcoffset() is not None
    return parsed


def assert_job_shape(job: dict[str, Any]) -> None:
    assert set(job) >= JOB_KEYS, f"missing keys {JOB_KEYS - set(job)}"
    assert isinstance(job["id"], int) and not isinstance(job["id"], bool)
    for key in ("name", "type", "project", "status_label", "owner"):
        assert isinstance(job[key], str) and job[key], key
    assert job["status"] in STATUS_CODES
    assert job["step"] in ("INIT", "PRE", "RUN", "POST", "END")
    assert isinstance(job["progress"], int) and 0 <= job["progress"] <= 100
    assert isinstance(job["natures"], list) and all(isinstance(n, str) for n in job["natures"])
    assert job["envelope"] is None or isinstance(job["envelope"], int)
    assert isinstance(job["exec"], int) and job["exec"] >= 1
    for key in ("created_at", "scheduled_at", "max_start_at"):
        assert_iso(job[key])
    for key in ("started_at", "ended_at"):
        assert_iso(job[key], nullable=True)
    trap = job["trap"]
    assert trap is None or (isinstance(trap, dict) and set(trap) >= {"op", "timeout_left_s", "paused"})


def assert_detail_shape(job: dict[str, Any]) -> None:
    assert_job_shape(job)
    assert isinstance(job["tasks"], list) and job["tasks"]
    for task in job["tasks"]:
        assert set(task) >= TASK_KEYS, f"missing task keys {TASK_KEYS - set(task)}"
        assert isinstance(task["target"], str)
        assert isinstance(task["progress"], int) and 0 <= task["progress"] <= 100
        assert_iso(task["last_triggered_at"], nullable=True)
        for step in task["steps"]:
            assert set(step) >= STEP_KEYS, f"missing step keys {STEP_KEYS - set(step)}"
            assert step["step"] in ("PRE", "RUN", "POST")
            assert step["status"] in ("pending", "running", "done", "skipped", "failed")
            for key in ("started_at", "skipped_at", "completed_at"):
                assert_iso(step[key], nullable=True)
            assert step["exit_code"] is None or isinstance(step["exit_code"], int)


def submitted_id(proc: subprocess.CompletedProcess[str]) -> int:
    assert proc.returncode == 0, describe(proc)
    data = json.loads(proc.stdout)
    assert {"id", "replaced"} <= set(data) and isinstance(data["id"], int), proc.stdout
    return data["id"]


def refused(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 1, describe(proc)
    for needle in needles:
        assert needle in proc.stderr, describe(proc)


def bad_input(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 2, describe(proc)
    assert proc.stderr.strip(), describe(proc)
    for needle in needles:
        assert needle in proc.stderr, describe(proc)


def now_utc() -> datetime:
    return datetime.now(UTC)


# -- definitions ---------------------------------------------------------------------------------------------

MULTI_TARGET = """\
    name = "alpha-deploy"
    type = "deploy"
    project = "alpha"
    natures = ["java", "sql"]
    targets = ["web-01", "web-02"]

    [[pre]]
    name = "build"
    run = "echo build"

    [[run]]
    name = "deploy"
    run = "echo deploy $JOBTUI_TARGET"
    per_target = true

    [[post]]
    name = "notify"
    run = "echo done"
"""

SINGLE = """\
    name = "beta-report"
    project = "beta"
    approval = true

    [[pre]]
    name = "fetch"
    run = "echo fetch"

    [[run]]
    name = "report"
    run = "echo report"

    [[post]]
    name = "mail"
    run = "echo mail"
"""

SYSTEM = """\
    name = "sys-cleanup"
    project = "alpha"
    system = true

    [[run]]
    run = "echo clean"
"""

LATER = """\
    name = "gamma-later"
    project = "gamma"

    [[run]]
    run = "echo later"
"""

BAD_TIMEOUT = """\
    name = "bad"

    [[run]]
    name = "slow"
    run = "sleep 1"
    timeout = "10 minutes"
"""


@dataclass
class Shared:
    cli: Cli
    multi: int
    single: int
    system: int
    later: int


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Shared:
    """One database with READY jobs that read-only and refused-action tests share (no daemon)."""
    cli = make_cli(tmp_path_factory.mktemp("shared"), in_process=True)
    for name, text in (
        ("multi.toml", MULTI_TARGET),
        ("single.toml", SINGLE),
        ("system.toml", SYSTEM),
        ("later.toml", LATER),
    ):
        cli.write(name, text)
    # The first submission creates the schema alone; the rest may race each other.
    multi = submitted_id(cli("submit", cli.files["multi.toml"], "--json"))
    single, system, later = (
        submitted_id(proc)
        for proc in cli.many(
            ("submit", cli.files["single.toml"], "--json"),
            ("submit", cli.files["system.toml"], "--json"),
            ("submit", cli.files["later.toml"], "--at", "+1h", "--max-start", "+3h", "--json"),
        )
    )
    return Shared(cli, multi, single, system, later)


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    """Sequences of commands on a database of their own, in this process (`InProcessCli`): what they do to
    the jobs. The contract checks above (`shared`) and the daemon's below run the console script."""
    return make_cli(tmp_path / "cli", in_process=True)


# -- submission and listing ----------------------------------------------------------------------------------


def test_submit_prints_id_and_jobs_json_has_the_contract(shared: Shared) -> None:
    before = now_utc()
    jobs = shared.cli.json("jobs")
    assert isinstance(jobs, list)
    by_id = {job["id"]: job for job in jobs}
    assert set(by_id) == {shared.multi, shared.single, shared.later}, "system jobs are hidden without --all"
    for job in jobs:
        assert_job_shape(job)

    multi = by_id[shared.multi]
    assert multi["name"] == "alpha-deploy"
    assert multi["type"] == "deploy"
    assert multi["project"] == "alpha"
    assert multi["natures"] == ["java", "sql"]
    assert multi["owner"] == USER
    assert (multi["status"], multi["status_label"], multi["step"]) == ("READY", "Ready", "INIT")
    assert (multi["progress"], multi["exec"], multi["envelope"], multi["trap"]) == (0, 1, None, None)
    assert multi["started_at"] is None and multi["ended_at"] is None
    created = assert_iso(multi["created_at"])
    assert created is not None and abs(before - created) < timedelta(minutes=2)
    scheduled = assert_iso(multi["scheduled_at"])
    max_start = assert_iso(multi["max_start_at"])
    assert scheduled is not None and max_start is not None
    assert max_start - scheduled == timedelta(days=1), "default max_start is +1d"

    # --at/--max-start: RUN in an hour, Max Start Date three hours after that.
    later = by_id[shared.later]
    scheduled = assert_iso(later["scheduled_at"])
    max_start = assert_iso(later["max_start_at"])
    assert scheduled is not None and max_start is not None
    assert abs(scheduled - (before + timedelta(hours=1))) < timedelta(minutes=2)
    assert max_start - scheduled == timedelta(hours=3)


def test_the_console_script_prints_the_same_json_and_exits_with_the_same_codes(shared: Shared) -> None:
    """The other tests on this database run `jobtui.cli.main` in this process; the installed `jobtui`
    command answers the same: JSON on stdout and 0, a refusal and 1, bad input and 2."""
    console = Cli(shared.cli.env, shared.cli.workdir)
    listed, shown, refusal, unknown, bad_date = console.many(
        ("jobs", "--json"),
        ("show", shared.single, "--json"),
        ("approve", shared.system, "--comment", "ok"),
        ("show", UNKNOWN_ID, "--json"),
        ("reschedule", shared.system, "someday"),
    )
    assert listed.returncode == 0, describe(listed)
    assert listed.stdout == shared.cli("jobs", "--json").stdout
    assert shown.returncode == 0, describe(shown)
    job = json.loads(shown.stdout)
    assert_detail_shape(job)
    assert job["id"] == shared.single
    refused(refusal, f"approve: job {shared.system} is READY; allowed from APPROVAL")
    assert refusal.stdout == ""
    bad_input(unknown, str(UNKNOWN_ID))
    assert unknown.stdout == ""
    bad_input(bad_date, '"someday" is not a date')


def test_show_json_has_tasks_with_steps_and_audit_lists_the_submit(shared: Shared) -> None:
    show_multi, show_single, audit, readable = shared.cli.many(
        ("show", shared.multi, "--json"),
        ("show", shared.single, "--json"),
        ("audit", shared.multi, "--json"),
        ("show", shared.multi),
    )
    for proc in (show_multi, show_single, audit, readable):
        assert proc.returncode == 0, describe(proc)
    # The ops in the order they run, each naming whom it runs for (job-wide ones listed after the tasks'
    # read as the last task's, then as if PRE ran after RUN), an exit not known yet as "-".
    assert readable.stdout.splitlines()[-7:] == [
        "  task web-01: SCHEDULED 0%",
        "  task web-02: SCHEDULED 0%",
        "  steps, in the order they run:",
        "    PRE      build                    pending  exit -     job-wide",
        "    RUN      deploy                   pending  exit -     task web-01",
        "    RUN      deploy                   pending  exit -     task web-02",
        "    POST     notify                   pending  exit -     job-wide",
    ]

    multi = json.loads(show_multi.stdout)
    assert_detail_shape(multi)
    assert multi["id"] == shared.multi
    assert [t["target"] for t in multi["tasks"]] == ["web-01", "web-02"]
    for task in multi["tasks"]:
        assert task["status"] == "SCHEDULED"
        assert (task["progress"], task["current_step"], task["last_triggered_at"]) == (0, None, None)
        assert [(s["name"], s["step"], s["status"]) for s in task["steps"]] == [("deploy", "RUN", "pending")]

    single = json.loads(show_single.stdout)
    assert_detail_shape(single)
    (task,) = single["tasks"]
    assert task["target"] == "beta-report", "a job without targets has one implicit task"
    assert [(s["name"], s["step"]) for s in task["steps"]] == [
        ("fetch", "PRE"),
        ("report", "RUN"),
        ("mail", "POST"),
    ]
    for step in task["steps"]:
        assert step["status"] == "pending"
        assert (step["started_at"], step["completed_at"], step["exit_code"]) == (None, None, None)

    rows = json.loads(audit.stdout)
    assert isinstance(rows, list) and rows
    first = rows[0]
    assert (first["action"], first["who"], first["from"], first["to"]) == ("submit", USER, None, "READY")
    assert_iso(first["at"])
    assert "multi.toml" in (first["comment"] or "")


def test_jobs_filters_by_status_and_project_and_all_shows_system_jobs(shared: Shared) -> None:
    by_project, by_status, none_finished, alpha_all, bogus = shared.cli.many(
        ("jobs", "--project", "beta", "--json"),
        ("jobs", "--status", "ready", "--status", "APPROVAL", "--json"),
        ("jobs", "--status", "FINISHED", "--status", "ERROR", "--json"),
        ("jobs", "--all", "--project", "alpha", "--json"),
        ("jobs", "--status", "BOGUS", "--json"),
    )

    def ids(proc: subprocess.CompletedProcess[str]) -> set[int]:
        assert proc.returncode == 0, describe(proc)
        return {job["id"] for job in json.loads(proc.stdout)}

    assert ids(by_project) == {shared.single}
    assert ids(by_status) == {shared.multi, shared.single, shared.later}
    assert ids(none_finished) == set()
    assert ids(alpha_all) == {shared.multi, shared.system}, "--all shows system jobs"
    system_job = next(j for j in json.loads(alpha_all.stdout) if j["id"] == shared.system)
    assert_job_shape(system_job)
    bad_input(bogus, "BOGUS")


# -- bad input and refusals ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    ["jobs --json --all", "audit {single} --json", "log {single}", "show {multi}", "show {single} --json"],
)
def test_read_commands_answer_without_loading_sqlalchemy(shared: Shared, command: str) -> None:
    """`jobtui jobs`, `show`, `audit` and `log` read through the plain driver: importing SQLAlchemy and
    the ORM models took about a second of each call here (0.2 s in all now), which a script calling them in
    a loop felt. They print what the Store's read path prints (test_plain_reads holds the two to the same)."""
    argv = command.format(single=shared.single, multi=shared.multi).split()
    probe = (
        f"import sys\nfrom jobtui.cli import main\ncode = main({argv!r})\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'alembic'))\n"
        "print('loaded:', loaded[:3], file=sys.stderr)\nsys.exit(code or (1 if loaded else 0))\n"
    )
    plain = subprocess.run(
        [sys.executable, "-c", probe], env=shared.cli.env, capture_output=True, text=True, timeout=120
    )
    assert plain.returncode == 0, describe(plain)
    through_the_store = shared.cli(*argv, "--as", USER)  # --as goes through the Store: a refusal is audited
    assert plain.stdout == through_the_store.stdout


# Each command reads through its own path. A server that never answers costs the connect timeout (2 s at the
# least, libpq's floor): the others meet one that hangs up at once, which the Store met again as well.
@pytest.mark.parametrize(
    ("command", "server"), [("jobs", "never answers"), ("show 1", "hangs up"), ("log 1", "hangs up")]
)
def test_a_database_server_that_cannot_be_reached_is_tried_once_by_a_read_command(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, command: str, server: str
) -> None:
    """Something listens on the server's port and never answers (a stuck PostgreSQL), or hangs up: a read
    command says it cannot open the database, as every command does, after one attempt, not two (the plain
    driver's, then the Store's: 21 s for one message before, on a stuck server)."""
    import jobtui.engine.db.driver
    import jobtui.engine.db.store

    for module in (jobtui.engine.db.driver, jobtui.engine.db.store):
        monkeypatch.setattr(module, "CONNECT_TIMEOUT_S", 1)
    attempts: list[socket.socket] = []
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen(8)
        listening.settimeout(0.05)
        port = listening.getsockname()[1]
        finished = threading.Event()

        def take_connections() -> None:
            while not finished.is_set():
                with contextlib.suppress(TimeoutError):
                    attempts.append(listening.accept()[0])
                    if server == "hangs up":
                        attempts[-1].close()

        taker = threading.Thread(target=take_connections)
        taker.start()
        try:
            url = f"postgresql://ops:secret@127.0.0.1:{port}/jobs"
            proc = cli(*command.split(), "--db", url, expect=2)
        finally:
            finished.set()
            taker.join()
            for connection in attempts:
                connection.close()
    verb = command.split()[0]
    expected = f"{verb}: cannot open database postgresql+psycopg://ops:***@127.0.0.1:{port}/jobs: "
    assert proc.stderr.startswith(expected), describe(proc)
    assert proc.stdout == ""
    if server == "never answers":
        assert "timeout" in proc.stderr
    assert len(attempts) == 1, f"{len(attempts)} connections to a server that {server}"


def test_invalid_or_missing_definition_file_exits_2_naming_file_and_field(cli: Cli) -> None:
    bad = cli.write("bad.toml", BAD_TIMEOUT)
    missing = cli.workdir / "nope.toml"
    invalid, absent = cli.many(("submit", bad, "--json"), ("submit", missing, "--json"))
    bad_input(invalid, str(bad), '"timeout": "10 minutes" is not a duration')
    assert invalid.stdout == ""
    bad_input(absent, str(missing))
    assert absent.stdout == ""


def test_unknown_job_id_exits_2(shared: Shared) -> None:
    n = UNKNOWN_ID
    commands: list[tuple[object, ...]] = [
        ("show", n, "--json"),
        ("cancel", n),
        ("retry", n),
        ("audit", n, "--json"),
        ("log", n),
    ]
    for args, proc in zip(commands, shared.cli.many(*commands), strict=True):
        bad_input(proc, str(n))
        assert proc.stdout == "", f"{args}: {describe(proc)}"


def test_refused_action_exits_1_with_the_reason(shared: Shared) -> None:
    job = shared.multi
    approve, trap, rollback = shared.cli.many(
        ("approve", job, "--comment", "ok", "--json"),
        ("trap", job, "skip"),
        ("rollback", job, "--reason", "why not"),
    )
    refused(approve, f"approve: job {job} is READY; allowed from APPROVAL")
    assert approve.stdout == ""
    refused(trap, f"trap skip: job {job} is READY")
    refused(rollback, f"rollback: job {job} is READY")
    # A refusal changes nothing: the job is as submitted, and each refusal is on its trail with its reason.
    audit = shared.cli.json("audit", job)
    assert [row["action"] for row in audit if not row["refused"]] == ["submit"]
    refusals = sorted((row["action"], row["to"], row["who"]) for row in audit if row["refused"])
    assert refusals == [("approve", None, USER), ("rollback", None, USER), ("trap skip", None, USER)]
    assert all(f"job {job} is READY" in row["comment"] for row in audit if row["refused"])


TOMORROW = (now_utc() + timedelta(days=1)).replace(microsecond=0).isoformat()


def test_bad_arguments_exit_2(shared: Shared) -> None:
    job = shared.later
    later_file = shared.cli.files["later.toml"]
    bad_step, bad_when, bad_at, max_before_at, max_past, not_an_id, no_workers, *past_sane = shared.cli.many(
        ("rerun", job, "--step", "BOGUS"),
        ("reschedule", job, "someday"),
        ("submit", later_file, "--at", "someday", "--json"),
        ("submit", later_file, "--at", "+3d", "--max-start", TOMORROW, "--json"),
        ("submit", later_file, "--at", "+2h", "--max-start", "2020-01-01T00:00:00+00:00", "--json"),
        ("show", "abc"),
        ("daemon", "--workers", "0"),
        # Counts past any sane one: refused before a thread or a job is made (no memory or disk filled).
        ("daemon", "--workers", "99999999999"),
        ("jobs", "--limit", "-1"),
        ("jobs", "--limit", "99999999999999999999999"),
        ("demo", "--jobs", "99999999999999999999", "--no-open"),
    )
    for result, flag in zip(past_sane, ("--workers", "--limit", "--limit", "--jobs"), strict=True):
        bad_input(result, flag, "from ")
    bad_input(bad_step, "--step")
    bad_input(bad_when, '"someday" is not a date')
    # The file submitted, and the option that gave the wrong date (not the file's field, which it replaced).
    bad_input(bad_at, str(later_file), 'submit --at "someday" is not a date')
    bad_input(
        max_before_at,
        str(later_file),
        f'submit --max-start "{TOMORROW}" is before the scheduled date, submit --at "+3d" (',
    )
    bad_input(max_past, f'{later_file}: submit --max-start: "2020-01-01T00:00:00+00:00"', "is already past")
    bad_input(not_an_id)
    bad_input(no_workers, "--workers")


def test_reschedule_moves_scheduled_at_and_max_start_keeps_its_distance(shared: Shared) -> None:
    before = now_utc()
    job = shared.cli.json("reschedule", shared.later, "+2h")
    assert_job_shape(job)
    assert job["id"] == shared.later and job["status"] == "READY"
    scheduled = assert_iso(job["scheduled_at"])
    max_start = assert_iso(job["max_start_at"])
    assert scheduled is not None and max_start is not None
    assert abs(scheduled - (before + timedelta(hours=2))) < timedelta(minutes=2)
    assert max_start - scheduled == timedelta(hours=3), "Max Start Date moves by the same span"


# -- queue ---------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_queue_pause_status_resume_clear_then_rerun_and_delete(cli: Cli) -> None:
    job = submitted_id(cli("submit", cli.write("later.toml", LATER), "--json"))

    paused = cli.json("queue", "pause", "--reason", "maintenance")
    assert set(paused) >= QUEUE_KEYS
    assert (paused["paused"], paused["queued"], paused["running"], paused["workers"]) == (True, 1, 0, 0)
    assert paused.get("reason") == "maintenance"
    for key in QUEUE_KEYS - {"paused"}:
        assert isinstance(paused[key], int) and not isinstance(paused[key], bool)

    status = cli.json("queue")  # status is the default
    assert (status["paused"], status["queued"]) == (True, 1)
    # Paused again: nothing changes, nothing more in the queue's trail (a script's second pause was a
    # second pause there); a new reason is kept, and recorded.
    again = cli.json("queue", "pause")
    assert (again["paused"], again["reason"]) == (True, "maintenance")
    assert [row["action"] for row in cli.json("audit", 0)] == ["queue pause"]
    assert cli.json("queue", "pause", "--reason", "disk full")["reason"] == "disk full"
    assert [row["comment"] for row in cli.json("audit", 0)] == ["maintenance", "disk full"]

    # A host gone for good: nothing waited for it here, and the queue's trail says who declared it.
    from jobtui.engine.db.store import Store
    from jobtui.engine.worker.loop import Engine

    engine = Engine(Store(cli.env["JOBTUI_DB"]), host="web-9")
    engine.register()  # an engine ran there once
    engine.mark_stopped()
    assert cli.json("host-gone", "web-9", "--comment", "decommissioned") == {"host": "web-9", "released": []}
    assert cli.json("audit", 0)[-1]["comment"] == "0 jobs no longer waiting for its ops: decommissioned"
    bad_input(cli("host-gone", " ", expect=None), "host-gone: the host's name is empty")
    # A typo: no engine ever ran there (it read "host web-09 declared gone", exit 0).
    bad_input(
        cli("host-gone", "web-09", expect=None),
        'host-gone: no engine of this database has ever run on host "web-09" (hosts known: web-9)',
    )
    assert [row["comment"] for row in cli.json("audit", 0)][-1].endswith("decommissioned")

    resumed = cli.json("queue", "resume")
    assert (resumed["paused"], resumed["queued"]) == (False, 1)

    cleared = cli.json("queue", "clear")
    assert (cleared["paused"], cleared["queued"]) == (False, 0)
    assert cleared.get("canceled") == [job], "every queued job is canceled"

    # The canceled job can be rerun (lower-case step accepted), then deleted for good.
    rerun = cli.json("rerun", job, "--step", "pre")
    assert_job_shape(rerun)
    assert (rerun["status"], rerun["step"], rerun["exec"], rerun["ended_at"]) == ("READY", "PRE", 2, None)
    cli("delete", job)
    show, audit = cli.many(("show", job, "--json"), ("audit", job, "--json"))
    bad_input(show, f"no job {job}")
    assert audit.returncode == 0, describe(audit)
    actions = [row["action"] for row in json.loads(audit.stdout)]
    assert actions[0] == "submit" and actions[-1] == "delete", actions


# -- permissions ---------------------------------------------------------------------------------------------


def test_policy_refusals_exit_1_and_impersonation_needs_permission(shared: Shared) -> None:
    nothing = shared.cli.write(
        "nothing.toml",
        f"""\
        [roles.nobody]
        actions = []

        [users]
        "{USER}" = ["nobody"]
        """,
    )
    impersonator = shared.cli.write(
        "impersonator.toml",
        f"""\
        [roles.admin]
        actions = ["action.admin.impersonate", "action.job.view_monitor"]

        [users]
        "{USER}" = ["admin"]
        """,
    )
    broken = shared.cli.write(
        "broken.toml",
        """\
        [roles.x]
        actions = ["action.job.fly"]
        """,
    )
    job = shared.multi
    results = shared.cli.many(
        ("approve", job, "--policy", nothing),
        ("--policy", nothing, "cancel", job),
        ("submit", shared.cli.files["later.toml"], "--policy", nothing, "--json"),
        ("queue", "pause", "--policy", nothing),
        ("host-gone", "web-9", "--policy", nothing),
        ("show", job, "--policy", nothing, "--json"),
        ({"JOBTUI_POLICY": str(nothing)}, "jobs", "--json"),  # $JOBTUI_POLICY is the default
        ("show", job, "--policy", nothing, "--as", "other", "--json"),
        ("show", job, "--policy", impersonator, "--as", "other", "--json"),
        ("show", job, "--policy", broken, "--json"),
    )
    approve, cancel, submit, pause, gone, show, jobs, as_nothing, as_admin, bad_policy = results
    refused(approve, "lacks", "action.job.approve_all", USER)
    refused(cancel, "lacks", "action.job.cancel", USER)
    refused(submit, "lacks", "action.job.create")
    assert submit.stdout == ""
    refused(pause, "lacks", "action.queue.admin")
    refused(gone, "host-gone", "lacks", "action.queue.admin")
    refused(show, "lacks", "action.job.view_monitor")
    assert jobs.returncode == 0 and json.loads(jobs.stdout) == [], describe(jobs)
    refused(as_nothing, "--as other", "lacks", "action.admin.impersonate")
    # Impersonation took effect: now "other" (who holds no role) is the one refused.
    refused(as_admin, "other lacks action.job.view_monitor")
    bad_input(bad_policy, str(broken), "action.job.fly")


# -- end to end with the real daemon -------------------------------------------------------------------------


@dataclass
class Daemon:
    proc: subprocess.Popen[bytes]
    cli: Cli
    url: str
    db_path: Path
    stderr_path: Path

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def sql(self, query: str, *params: object) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(self.db_path, timeout=30)
        try:
            return conn.execute(query, params).fetchall()
        finally:
            conn.close()

    def show(self, job_id: int) -> dict[str, Any]:
        return self.cli.json("show", job_id, "--db", self.url)

    def wait_status(self, job_id: int, *statuses: str, timeout: float = 30.0) -> dict[str, Any]:
        seen: dict[str, Any] = {}

        def reached() -> bool:
            assert self.proc.poll() is None, f"daemon died: {self.stderr()}"
            seen.update(self.show(job_id))
            return seen["status"] in statuses

        try:
            wait_for(reached, timeout=timeout, what=f"job {job_id} to reach {statuses}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; last seen: {seen}\ndaemon: {self.stderr()[-3000:]}") from None
        return seen


def _kill_ops(db_path: Path) -> None:
    with contextlib.suppress(sqlite3.Error):
        conn = sqlite3.connect(db_path, timeout=5)
        try:
            pids = [row[0] for row in conn.execute("SELECT pid FROM op_runs WHERE pid IS NOT NULL")]
        finally:
            conn.close()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    workdir = tmp_path_factory.mktemp("daemon")
    db_path = workdir / "engine.db"
    url = f"sqlite:///{db_path}"
    # The commands that drive and poll the daemon run in this process; the daemon, the end-to-end test's
    # submit and log, and `log --follow` run the console script.
    cli = InProcessCli(cli_env(url), workdir)
    del cli.env["JOBTUI_DB"]  # these tests use --db
    stderr_path = workdir / "daemon.stderr"
    with stderr_path.open("wb") as err:
        proc = subprocess.Popen(
            [*JOBTUI, "daemon", "--db", url, "--workers", "2"],
            env=cli.env,
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=err,
            stderr=err,
        )
    try:
        yield Daemon(proc, cli, url, db_path, stderr_path)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        _kill_ops(db_path)


def test_daemon_runs_a_job_to_finished_and_log_prints_its_output(daemon: Daemon) -> None:
    ledger = daemon.cli.workdir / "ledger.db"
    path = daemon.cli.write(
        "e2e.toml",
        f"""\
        name = "e2e"
        project = "alpha"

        [[pre]]
        name = "prepare"
        run = "echo pre-output-$JOBTUI_STEP"

        [[run]]
        name = "work"
        run = "echo run-output-of-job-$JOBTUI_JOB_ID"

        [[run]]
        name = "ledger"
        call = "tests.support.ops:record_once"
        env = {{ OPS_LEDGER = "{ledger}" }}

        [[post]]
        name = "notify"
        run = "echo post-output"
        """,
    )
    console = Cli(daemon.cli.env, daemon.cli.workdir)
    job_id = submitted_id(console("submit", path, "--db", daemon.url, "--json"))
    job = daemon.wait_status(job_id, "FINISHED", "ERROR", "ABEND", "PARTIAL")
    assert job["status"] == "FINISHED", job
    assert_detail_shape(job)
    assert (job["step"], job["progress"], job["status_label"]) == ("END", 100, "Finished")
    started, ended = assert_iso(job["started_at"]), assert_iso(job["ended_at"])
    assert started is not None and ended is not None and started <= ended
    (task,) = job["tasks"]
    assert task["status"] == "SUCCEEDED" and task["progress"] == 100
    assert [(s["name"], s["step"], s["status"], s["exit_code"]) for s in task["steps"]] == [
        ("prepare", "PRE", "done", 0),
        ("work", "RUN", "done", 0),
        ("ledger", "RUN", "done", 0),
        ("notify", "POST", "done", 0),
    ]
    for step in task["steps"]:
        step_started, step_done = assert_iso(step["started_at"]), assert_iso(step["completed_at"])
        assert step_started is not None and step_done is not None and step_started <= step_done

    log, queue = console.many(("log", job_id, "--db", daemon.url), ("queue", "--db", daemon.url, "--json"))
    assert log.returncode == 0, describe(log)
    for text in ("pre-output-PRE", f"run-output-of-job-{job_id}", "post-output"):
        assert text in log.stdout, log.stdout
    assert log.stdout.index("pre-output-PRE") < log.stdout.index("post-output")
    assert queue.returncode == 0, describe(queue)
    assert json.loads(queue.stdout)["workers"] >= 1, "the daemon registers itself as a live worker"

    with contextlib.closing(sqlite3.connect(ledger)) as conn:
        assert conn.execute("SELECT job_id, exec, step FROM ledger").fetchall() == [(job_id, 1, "RUN")]


def test_log_follow_streams_until_the_job_ends(daemon: Daemon, tmp_path: Path) -> None:
    # The op waits for the test, not for a clock: on a loaded machine a fixed sleep may pass before the
    # follower has printed the first line.
    go = tmp_path / "go"
    path = daemon.cli.write(
        "follow.toml",
        f"""\
        name = "follow"

        [[run]]
        run = "echo first-line; while [ ! -e {go} ]; do sleep 0.05; done; echo second-line"

        [[post]]
        run = "echo post-line"
        """,
    )
    job_id = submitted_id(daemon.cli("submit", path, "--db", daemon.url, "--json"))
    follower = subprocess.Popen(
        [*JOBTUI, "log", str(job_id), "--follow", "--db", daemon.url],
        env=daemon.cli.env,
        cwd=daemon.cli.workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(follower.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        wait_for(lambda: any("first-line" in line for line in lines), timeout=20, what="streamed output")
        assert follower.poll() is None, "log --follow must keep going while the job runs"
        assert not any("second-line" in line for line in lines)
        go.touch()
        assert follower.wait(timeout=20) == 0, follower.stderr.read()  # type: ignore[union-attr]
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait()
    reader.join(timeout=5)
    output = "".join(lines)
    assert "second-line" in output and "post-line" in output, output
    assert daemon.sql("SELECT status FROM jobs WHERE id = ?", job_id) == [("FINISHED",)]


def test_cancel_of_a_running_job_ends_canceled_and_kills_its_process(daemon: Daemon) -> None:
    path = daemon.cli.write(
        "sleeper.toml",
        """\
        name = "sleeper"

        [[run]]
        name = "nap"
        run = "sleep 30"
        """,
    )
    job_id = submitted_id(daemon.cli("submit", path, "--db", daemon.url, "--json"))
    pids: list[int] = []

    def op_started() -> bool:
        rows = daemon.sql(
            "SELECT pid FROM op_runs WHERE job_id = ? AND status = 'running' AND pid IS NOT NULL", job_id
        )
        pids[:] = [row[0] for row in rows]
        return bool(pids)

    wait_for(op_started, timeout=20, what="the sleep op to start")
    (pid,) = pids
    assert live_pids_of_group(pid), "the op's process group is alive before the cancel"

    started = time.monotonic()
    job = daemon.cli.json("cancel", job_id, "--db", daemon.url, "--comment", "enough")
    assert job["id"] == job_id and job["status"] == "CANCELED"
    assert_iso(job["ended_at"])

    def gone() -> bool:
        try:
            dead = psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            dead = True
        return dead and not live_pids_of_group(pid)

    wait_for(gone, timeout=10, what=f"op process group {pid} to die")
    assert time.monotonic() - started < 10
    # Once the engine has noticed, the job is still CANCELED (not ABEND) and the op skipped: stopped for the
    # cancel, not failed.
    time.sleep(1.0)
    assert daemon.sql("SELECT status FROM jobs WHERE id = ?", job_id) == [("CANCELED",)]
    assert daemon.sql("SELECT status FROM op_runs WHERE job_id = ?", job_id) == [("skipped",)]
    assert daemon.sql("SELECT who, comment FROM audit WHERE job_id = ? AND action = 'cancel'", job_id) == [
        (USER, "enough")
    ]


def test_approval_and_trap_commands_on_a_live_job(daemon: Daemon) -> None:
    path = daemon.cli.write(
        "gated.toml",
        """\
        name = "gated"
        approval = true
        trap_timeout = "10m"

        [[pre]]
        name = "check"
        run = "echo checked"

        [[run]]
        name = "flaky"
        run = "exit 3"
        on_error = "trap"

        [[post]]
        name = "tell"
        run = "echo told"
        """,
    )
    job_id = submitted_id(daemon.cli("submit", path, "--db", daemon.url, "--json"))

    def db_status() -> str:
        assert daemon.proc.poll() is None, f"daemon died: {daemon.stderr()}"
        ((status,),) = daemon.sql("SELECT status FROM jobs WHERE id = ?", job_id)
        return status

    def history() -> str:
        rows = daemon.sql("SELECT action, from_status, to_status FROM audit WHERE job_id = ?", job_id)
        return "\n".join(map(str, rows))

    wait_for(lambda: db_status() == "APPROVAL", timeout=20, what="APPROVAL")
    job = daemon.cli.json("approve", job_id, "--db", daemon.url, "--comment", "go")
    assert (job["status"], job["step"]) == ("READY", "RUN"), job

    try:
        wait_for(lambda: db_status() == "TRAPPED", timeout=20, what="TRAPPED")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; history:\n{history()}\ndaemon:\n{daemon.stderr()[-3000:]}") from None
    job = daemon.show(job_id)
    assert_detail_shape(job)
    trap = job["trap"]
    assert trap is not None and trap["op"] == "flaky" and trap["paused"] is False, job
    assert isinstance(trap["timeout_left_s"], int | float) and 0 < trap["timeout_left_s"] <= 600

    job = daemon.cli.json("trap", job_id, "pause", "--db", daemon.url)
    assert job["status"] == "TRAP_PAUSED" and job["trap"]["paused"] is True, job
    assert 0 < job["trap"]["timeout_left_s"] <= 600
    job = daemon.cli.json("trap", job_id, "skip", "--db", daemon.url, "--comment", "known flake")
    assert job["status"] in ("READY", "RUNNING", "FINISHED") and job["trap"] is None, job

    wait_for(lambda: db_status() not in ("READY", "RUNNING"), timeout=20, what="the job to end")
    job = daemon.show(job_id)
    assert job["status"] == "FINISHED", job
    assert [(s["name"], s["status"]) for s in job["tasks"][0]["steps"]] == [
        ("check", "done"),
        ("flaky", "skipped"),
        ("tell", "done"),
    ]


def test_daemon_stops_cleanly_on_sigterm(daemon: Daemon) -> None:
    """Runs last against the shared daemon: it stops it."""
    wait_for(lambda: "jobtui engine " in daemon.stderr(), timeout=20, what="the daemon to start")
    assert daemon.proc.poll() is None
    started = time.monotonic()
    daemon.proc.send_signal(signal.SIGTERM)
    assert daemon.proc.wait(timeout=10) == 0, daemon.stderr()
    assert time.monotonic() - started < 5, "SIGTERM must stop an idle daemon within a few seconds"
    assert "jobtui engine stopped" in daemon.stderr()
    queue = daemon.cli.json("queue", "--db", daemon.url)
    assert queue["workers"] == 0, "a stopped daemon is no longer a live worker"


# -- seed 003 schedules ------------------------------------------------------------------------------------

WINDOWED = """\
    name = "firmware"
    targets = ["dev-1", "dev-2"]
    [schedule]
    mode = "window"
    timezone = "Europe/Zurich"
    start = "2026-11-23"
    expires = "2099-11-30T18:00"
    window = { from = "22:00", to = "04:00" }
    days = ["mon", "tue", "wed", "thu", "fri"]
    retry_every = "5m"
    [[run]]
    run = "true"
    per_target = true
"""


@pytest.mark.slow
def test_submit_replaces_an_unstarted_job_unless_keep_and_show_has_the_schedule(cli: Cli) -> None:
    path = cli.write("firmware.toml", WINDOWED)
    first = submitted_id(cli("submit", path, "--json"))
    kept = cli.json("submit", path, "--keep")
    assert kept["replaced"] == [] and cli.json("show", first)["status"] == "READY"
    newest = cli.json("submit", path)
    assert newest["replaced"] == [first, kept["id"]]
    old = cli.json("show", first)
    assert (old["status"], old["status_label"], old["replaced_by"]) == ("REPLACED", "Replaced", newest["id"])
    shown = cli.json("show", newest["id"])
    assert f"replaced job {newest['id']}" in cli("submit", path).stdout

    assert_detail_shape(shown)
    schedule = shown["schedule"]
    keys = {"mode", "timezone", "window", "days", "start", "expires", "retry_every", "next_run_at"}
    assert set(schedule) >= keys
    assert (schedule["mode"], schedule["timezone"]) == ("window", "Europe/Zurich")
    assert schedule["retry_every"] == "5m"
    assert schedule["window"] == {"from": "22:00", "to": "04:00"}
    assert schedule["days"] == ["mon", "tue", "wed", "thu", "fri"]
    assert schedule["expires"] == "2099-11-30T17:00:00+00:00"  # 18:00 in Zurich (CET)
    next_run = assert_iso(schedule["next_run_at"])
    assert next_run is not None and next_run == assert_iso(shown["next_run_at"])
    local = next_run.astimezone(ZoneInfo("Europe/Zurich"))
    opened_on = local - timedelta(days=1) if local.hour < 4 else local
    assert (local.hour >= 22 or local.hour < 4) and opened_on.weekday() < 5, f"next run {local} is outside"
    assert [(t["attempts"], t["next_attempt_at"]) for t in shown["tasks"]] == [(0, None), (0, None)]


def test_a_schedule_mistake_exits_2_naming_file_line_and_field(cli: Cli) -> None:
    path = cli.write("bad.toml", WINDOWED.replace('"fri"]', '"fry"]'))
    bad_input(cli("submit", path, expect=None), f"{path}:9:", '[schedule] "days"', '"fry" is not a weekday')


# -- envelopes -------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_envelope_commands_submit_show_cancel_and_refuse_rollback_out_of_order(cli: Cli) -> None:
    cli.write(
        "build.toml", 'name = "build"\nproject = "payments"\n[[run]]\nrun = "true"\nrollback = "true"\n'
    )
    cli.write("ship.toml", 'name = "ship"\nproject = "payments"\n[[run]]\nrun = "true"\n')
    path = cli.write(
        "release.toml",
        """\
        envelope = "release-42"
        project = "payments"
        [[jobs]]
        file = "build.toml"
        [[jobs]]
        file = "ship.toml"
        at = "+10m"
        """,
    )
    first = cli.json("submit", path)
    assert set(first) == {"envelope", "ids"} and len(first["ids"]) == 2
    second = cli.json("submit", cli.files["build.toml"], cli.files["ship.toml"], "--envelope", "release-43")
    shown = cli.json("envelope", first["envelope"])
    assert set(shown) >= {"id", "name", "project", "status", "created_at", "jobs", "notifications"}
    assert (shown["name"], shown["project"], shown["status"]) == ("release-42", "payments", "SUCCESS_ACTIVE")
    assert [job["id"] for job in shown["jobs"]] == first["ids"]
    assert all(job["envelope"] == first["envelope"] for job in shown["jobs"])
    assert_iso(shown["created_at"])
    assert shown["notifications"][0]["level"] == "info" and assert_iso(shown["notifications"][0]["at"])
    listed = cli.json("envelopes")
    assert [e["id"] for e in listed] == [first["envelope"], second["envelope"]]

    refused(cli("envelope-rollback", first["envelope"], "--reason", "bad", expect=None), "still has jobs")
    cancel = cli.json("envelope-cancel", second["envelope"])
    assert cancel["canceled"] == second["ids"]
    assert cli.json("envelope", second["envelope"])["status"] == "CANCELLED"
    refused(cli("envelope-cancel", second["envelope"], expect=None), "is CANCELLED")
    bad_input(cli("envelope", 999, expect=None), "no envelope 999")
    bad_input(cli("submit", cli.files["build.toml"], cli.files["ship.toml"], expect=None), "--envelope NAME")


def test_a_corrupt_envelope_exits_2_and_is_listed_as_corrupt(cli: Cli) -> None:
    cli.write("a.toml", 'name = "a"\nproject = "payments"\n[[run]]\nrun = "true"\n')
    path = cli.write(
        "rel.toml", 'envelope = "rel"\n[[jobs]]\nfile = "a.toml"\n[[jobs]]\nfile = "gone.toml"\n'
    )
    proc = cli("submit", path, "--json", expect=None)
    bad_input(proc, "gone.toml", "recorded as corrupt envelope")
    (envelope,) = cli.json("envelopes")
    assert (envelope["name"], envelope["status"], envelope["jobs"]) == ("rel", "CORRUPT", [])
    assert "gone.toml" in envelope["reason"]
    assert cli.json("jobs") == []
