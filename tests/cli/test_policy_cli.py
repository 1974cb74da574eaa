"""`jobtui policy install FILE | show [--json] | remove`: the policy stored in the database binds every
command and the dashboard; --policy and $JOBTUI_POLICY cannot widen it. Exit codes: 0 done, 1 refused,
2 bad input. The commands run in this process (`jobtui.cli.main`) on a real database, for speed:
tests/cli/test_cli.py runs the console script."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from jobtui.engine.db.store import Store
from tests.cli.test_cli import USER, Cli, assert_iso, bad_input, make_cli, refused
from tests.support.dashboard import record_openings

# USER may administer the policy and view every project, nothing else.
ADMIN_VIEWER = f"""\
[roles.admin]
actions = ["action.admin.policy", "action.job.view_monitor"]

[users]
"{USER}" = ["admin"]
"""

# USER views only project "web"; alice administers the policy.
WEB_VIEWER = f"""\
[roles.web]
actions = ["action.job.view_monitor"]
projects = ["web"]

[roles.admin]
actions = ["action.admin.policy"]

[users]
"{USER}" = ["web"]
alice = ["admin"]
"""

EVERYTHING = f"""\
[roles.all]
actions = ["action.job.view_monitor", "action.job.cancel", "action.job.create", "action.admin.policy"]

[users]
"{USER}" = ["all"]
"""

JOB = 'name = "j"\nproject = "ops"\n[[run]]\nrun = "true"\n'


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return policy_cli(tmp_path)


@pytest.fixture
def fresh_cli(tmp_path: Path) -> Cli:
    """No database yet."""
    return policy_cli(tmp_path, fresh=True)


def policy_cli(tmp_path: Path, fresh: bool = False) -> Cli:
    cli = make_cli(tmp_path, in_process=True, fresh=fresh)
    for name, text in (
        ("admin.toml", ADMIN_VIEWER),
        ("web.toml", WEB_VIEWER),
        ("everything.toml", EVERYTHING),
        ("job.toml", JOB),
    ):
        (tmp_path / name).write_text(text)
    return cli


def db_file(cli: Cli) -> Path:
    return Path(cli.env["JOBTUI_DB"].removeprefix("sqlite:///"))


def policy_audit(cli: Cli) -> list[dict[str, Any]]:
    store = Store(cli.env["JOBTUI_DB"])
    try:
        from tests.support.transitions import query

        rows = query(store, "SELECT who, action, refused, comment FROM audit WHERE job_name = '(policy)'")
    finally:
        store.engine.dispose()
    return [{"who": r[0], "action": r[1], "refused": bool(r[2]), "comment": r[3]} for r in rows]


def test_the_owner_installs_on_a_fresh_database_and_show_prints_it(fresh_cli: Cli) -> None:
    cli = fresh_cli
    bad_input(cli("policy", "show", "--json", expect=None), "no database at")  # none created by show
    installed = cli("policy", "install", "admin.toml", "--json")
    assert json.loads(installed.stdout)["installed"] is True
    shown = cli("policy", "show", "--json")
    data = json.loads(shown.stdout)
    assert data["installed"] is True
    assert data["text"] == ADMIN_VIEWER
    assert data["installed_by"] == USER
    assert data["source"] == "admin.toml"
    assert_iso(data["installed_at"])
    assert cli("policy", "show").stdout == ADMIN_VIEWER, "show prints exactly what was installed"
    [row] = policy_audit(cli)
    assert (row["who"], row["action"], row["refused"]) == (USER, "policy install", False)
    assert row["comment"].startswith("from admin.toml: 1 role, 1 user, sha256 "), row["comment"]


def test_show_never_hands_the_terminal_an_escape_sequence_from_the_file_name(cli: Cli) -> None:
    hostile = "ev\x1b]0;PWN\x07.toml"
    (cli.workdir / hostile).write_text(ADMIN_VIEWER)
    cli("policy", "install", hostile)
    shown = cli("policy", "show")
    assert "\x1b" not in shown.stderr and "\x07" not in shown.stderr, shown.stderr
    assert "from ev^[]0;PWN^G.toml:" in shown.stderr
    assert shown.stdout == ADMIN_VIEWER  # to a pipe: the text exactly as installed


@pytest.mark.skipif(os.geteuid() != 0, reason="handing the database file to another uid needs root")
def test_someone_who_does_not_own_the_file_cannot_install_the_first_policy(cli: Cli) -> None:
    cli("submit", "job.toml")  # creates the database
    os.chown(db_file(cli), 12345, -1)
    refused(cli("policy", "install", "everything.toml", expect=None), "does not own this database")
    assert json.loads(cli("policy", "show", "--json").stdout)["installed"] is False
    [row] = policy_audit(cli)
    assert (row["who"], row["action"], row["refused"]) == (USER, "policy install", True)


@pytest.mark.slow
def test_once_installed_neither_the_environment_nor_policy_widens_rights(cli: Cli) -> None:
    job_id = json.loads(cli("submit", "job.toml", "--json").stdout)["id"]
    cli("policy", "install", "web.toml")
    everything = str(cli.workdir / "everything.toml")
    for env in ({"JOBTUI_POLICY": ""}, {"JOBTUI_POLICY": everything}, {}):
        cli.env.update(env)
        refused(cli("cancel", job_id, expect=None), f"{USER} lacks action.job.cancel")
        refused(cli("--policy", everything, "cancel", job_id, expect=None), "lacks action.job.cancel")
        cli.env.pop("JOBTUI_POLICY", None)
    # Nor reading: USER views only project web.
    assert cli.json("jobs", "--json", "--policy", everything) == []
    refused(cli("show", job_id, expect=None), "lacks action.job.view_monitor")


def test_remove_needs_action_admin_policy(cli: Cli) -> None:
    cli("policy", "install", "web.toml")
    refused(cli("policy", "remove", expect=None), f"policy remove: {USER} lacks action.admin.policy")
    refused(
        cli("policy", "install", "everything.toml", expect=None),
        f"policy install: {USER} lacks action.admin.policy",
    )
    # alice holds it (she acts through --as, granted by nobody: refused as well).
    refused(cli("--as", "alice", "policy", "remove", expect=None), "lacks action.admin.impersonate")
    assert [(r["action"], r["refused"]) for r in policy_audit(cli)] == [
        ("policy install", False),
        ("policy remove", True),
        ("policy install", True),
    ]
    assert json.loads(cli("policy", "show", "--json").stdout)["text"] == WEB_VIEWER


def test_an_admin_removes_the_policy_and_the_database_is_single_user_again(cli: Cli) -> None:
    job_id = json.loads(cli("submit", "job.toml", "--json").stdout)["id"]
    cli("policy", "install", "admin.toml")
    refused(cli("cancel", job_id, expect=None), "lacks action.job.cancel")
    removed = json.loads(cli("policy", "remove", "--json").stdout)
    assert removed["installed"] is False and removed["removed"]["text"] == ADMIN_VIEWER
    assert json.loads(cli("policy", "show", "--json").stdout)["installed"] is False
    cli("cancel", job_id)


def test_bad_input_exits_2(cli: Cli) -> None:
    bad_input(cli("policy", "install", expect=None), "required: FILE")
    bad_input(cli("policy", expect=None), "required: {install,show,remove}")
    bad_input(cli("policy", "install", "missing.toml", expect=None), "cannot read policy file")
    bad_input(cli("policy", "show", "admin.toml", expect=None), "unrecognized arguments: admin.toml")
    bad_input(cli("policy", "frobnicate", expect=None), "invalid choice")
    (cli.workdir / "bogus.toml").write_text('[roles.x]\nactions = ["action.bogus"]\n')
    bad_input(cli("policy", "install", "bogus.toml", expect=None), 'unknown action "action.bogus"')
    (cli.workdir / "locked.toml").write_text(f'[roles.v]\nactions = []\n[users]\n"{USER}" = ["v"]\n')
    bad_input(cli("policy", "install", "locked.toml", expect=None), "nobody could change or remove it")
    assert json.loads(cli("policy", "show", "--json").stdout)["installed"] is False


# One problem of each kind, on lines 2, 4, 5, 7, 9 and 10.
BAD_POLICY = """\
[roles]
broken = "admin"
[roles.ops]
actions = ["action.job.cancel", "action.job.explode"]
colour = "red"
[roles."web team"]
projects = "web"
[users]
alice = ["ghost"]
[groups]
"""


def bad_policy_lines(source: str) -> list[str]:
    return [
        f"{source}:2: [roles.broken]: expected a table",
        f'{source}:4: [roles.ops] "actions": unknown action "action.job.explode"',
        f'{source}:5: [roles.ops]: unknown key "colour" (expected "actions", "projects")',
        f'{source}:7: [roles.web team] "projects": expected a list of strings',
        f'{source}:9: [users] "alice": unknown role "ghost"',
        f'{source}:10: unknown key "groups" (expected [roles.NAME] and [users])',
    ]


def test_a_bad_policy_file_names_the_file_the_line_and_the_field_of_every_problem(cli: Cli) -> None:
    """As definition files do: FILE:LINE: where the offending key is (a role that is not a table: its
    own line), every problem at once in file order; exit 2, and nothing is installed."""
    (cli.workdir / "bad.toml").write_text(BAD_POLICY)
    # One after the other: `jobs` reads an existing database only, and the install is what creates it.
    install = cli("policy", "install", "bad.toml", expect=None)
    jobs = cli("jobs", "--policy", "bad.toml", expect=None)
    for proc in (install, jobs):
        bad_input(proc)
        assert proc.stderr.splitlines() == bad_policy_lines("bad.toml"), proc.stderr
    assert json.loads(cli("policy", "show", "--json").stdout)["installed"] is False


def test_a_stored_policy_that_no_longer_checks_names_the_line_of_its_text(cli: Cli) -> None:
    """The database's policy has no file: its errors name the line of its text as `policy show` prints
    it (a stored policy can stop checking when an action it names is no longer known)."""
    cli("policy", "install", "admin.toml")
    store = Store(cli.env["JOBTUI_DB"])
    try:
        with store.write() as s:
            stored = store.get_setting(s, "policy")
            stored["text"] = stored["text"].replace("action.job.view_monitor", "action.job.gone")
            store.set_setting(s, "policy", stored)
    finally:
        store.engine.dispose()
    proc = cli("jobs", expect=None)
    bad_input(proc)
    assert proc.stderr.strip() == (
        f"the database's policy (installed by {USER}):2: "
        '[roles.admin] "actions": unknown action "action.job.gone"'
    )


def test_the_dashboard_opens_under_the_stored_policy(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """The actor the CLI hands the dashboard (and run_app's own) is judged by the stored policy, not by
    --policy or $JOBTUI_POLICY."""
    from jobtui.cli import main

    cli("policy", "install", "web.toml")
    everything = str(cli.workdir / "everything.toml")
    db = cli.env["JOBTUI_DB"]
    opened = record_openings(monkeypatch)
    monkeypatch.setenv("JOBTUI_POLICY", everything)
    assert main(["--db", db, "--policy", everything]) == 0
    assert main(["--db", db]) == 0
    for actor in (one.actor for one in opened):
        assert actor.user == USER
        assert actor.policy.source.startswith("the database's policy")
        assert not actor.may("action.job.view_monitor", "ops")
        assert actor.may("action.job.view_monitor", "web")


def test_a_corrupt_envelope_the_user_may_not_record_still_says_what_is_wrong(
    cli: Cli, tmp_path: Path
) -> None:
    # USER creates jobs in "ops" only; an envelope without `project =` would be recorded in "default".
    (tmp_path / "ops.toml").write_text(
        f'[roles.ops]\nactions = ["action.job.create", "action.job.view_monitor"]\nprojects = ["ops"]\n\n'
        f'[roles.admin]\nactions = ["action.admin.policy"]\n\n[users]\n"{USER}" = ["ops", "admin"]\n'
    )
    cli("policy", "install", tmp_path / "ops.toml")
    envelope = tmp_path / "rel.toml"
    envelope.write_text('envelope = "rel"\n\n[[jobs]]\nfile = "missing.toml"\n')
    proc = cli("submit", envelope, expect=None)
    bad_input(
        proc,
        f"{envelope}:4:",
        "missing.toml",
        "not recorded as a corrupt envelope",
        "lacks action.job.create",
    )
    assert cli.json("envelopes", "--json") == []
