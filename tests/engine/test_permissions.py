"""Who may do what: policy files, deny by default, project scopes, approvers, impersonation, and the
refusal reasons the dashboard shows next to a disabled key.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from jobtui import cli
from jobtui.engine.db.store import Store
from jobtui.engine.domain import permissions
from jobtui.engine.domain.clock import FakeClock
from jobtui.engine.domain.permissions import Actor, PermissionRefused, Policy
from jobtui.engine.domain.states import ACTIONS, Perm, Status, display_action
from jobtui.engine.formats.policy_file import PolicyError, load_policy, parse_policy
from jobtui.engine.service.actions import Actions, Queued, Refused
from jobtui.engine.worker.loop import Engine
from tests.support.helpers import definition, job_of, status_of
from tests.support.transitions import (
    Jobs,
    approval_def,
    assert_audit_within_table,
    audit_rows,
    perform,
    plain_def,
    query,
    snapshot,
)

# The engine behaves the same on both backends (several hosts share PostgreSQL).
BACKENDS = ("sqlite", "postgresql")

ALL_PERMISSIONS = [p.value for p in Perm]


@pytest.fixture(autouse=True)
def audit_stays_within_table(request: pytest.FixtureRequest) -> Iterator[None]:
    """After every test with a database; the policy file's own tests have none (nor a run per backend)."""
    store = request.getfixturevalue("store") if "store" in request.fixturenames else None
    yield
    if store is not None:
        assert_audit_within_table(store)


@pytest.fixture
def jobs(store: Store, engine: Engine, clock: FakeClock, actions: Actions, tmp_path: Path) -> Jobs:
    """Builds jobs as the single-user "tester" (setup); the tests act as policy users."""
    return Jobs(store, engine, clock, actions, tmp_path)


def policy_text(roles: dict[str, tuple[list[str], list[str] | None]], users: dict[str, list[str]]) -> str:
    lines: list[str] = []
    for name, (actions, projects) in roles.items():
        lines += [f"[roles.{name}]", f"actions = {json.dumps(actions)}"]
        if projects is not None:
            lines.append(f"projects = {json.dumps(projects)}")
    lines.append("[users]")
    lines += [f"{user} = {json.dumps(names)}" for user, names in users.items()]
    return "\n".join(lines) + "\n"


def make_policy(roles: dict[str, tuple[list[str], list[str] | None]], users: dict[str, list[str]]) -> Policy:
    return parse_policy(policy_text(roles, users), "policy.toml")


def holder_and_other(permission: str) -> Policy:
    """ "holder" has only `permission`; "other" has every permission but that one (on every project)."""
    return make_policy(
        {
            "holder": ([permission], ["*"]),
            "other": ([p for p in ALL_PERMISSIONS if p != permission], ["*"]),
        },
        {"holder": ["holder"], "other": ["other"]},
    )


def as_user(store: Store, user: str, policy: Policy | None) -> Actions:
    return Actions(store, Actor(user, policy))


# -- parsing -----------------------------------------------------------------------------------------------

GOOD_POLICY = """
[roles.operator]
actions = ["action.job.view_monitor", "action.job.restart", "action.job.cancel"]
projects = ["payments", "web"]

[roles.admin]
actions = ["action.queue.admin", "action.admin.impersonate"]

[users]
alice = ["operator"]
root = ["operator", "admin"]
nobody = []
"""


def test_a_good_policy_is_read() -> None:
    policy = parse_policy(GOOD_POLICY, "policy.toml")
    assert policy.source == "policy.toml"
    assert set(policy.roles) == {"operator", "admin"}
    assert policy.roles["operator"].projects == frozenset({"payments", "web"})
    assert policy.roles["admin"].projects == frozenset({"*"}), "projects default to all"
    assert policy.roles_of("root") == ("operator", "admin")
    assert policy.roles_of("nobody") == ()
    assert policy.roles_of("stranger") == ()
    assert policy.allows("alice", "action.job.cancel", "payments")
    assert not policy.allows("alice", "action.job.cancel", "hr")
    assert not policy.allows("alice", "action.job.delete", "payments")
    assert policy.allows("root", "action.queue.admin", "anything")
    assert not policy.allows("stranger", "action.job.view_monitor", "payments")


def test_a_policy_file_is_loaded_and_no_file_means_no_policy(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(GOOD_POLICY, encoding="utf-8")
    policy = load_policy(path)
    assert policy is not None
    assert policy.source == str(path)
    assert policy.allows("alice", "action.job.restart", "web")
    assert load_policy(None) is None
    assert load_policy("") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "[groups.ops]\nactions = []\n",
            'policy.toml:1: unknown key "groups" (expected [roles.NAME] and [users])',
            id="unknown top-level key",
        ),
        pytest.param(
            '[roles.ops]\nactions = []\ncolour = "red"\n',
            'policy.toml:3: [roles.ops]: unknown key "colour" (expected "actions", "projects")',
            id="unknown role key",
        ),
        pytest.param(
            '[roles.ops]\nactions = ["action.job.cancel", "action.job.explode"]\n',
            'policy.toml:2: [roles.ops] "actions": unknown action "action.job.explode"',
            id="unknown action",
        ),
        pytest.param(
            '[roles.ops]\nactions = ["action.job.cancel"]\n[users]\nalice = ["ops", "ghost"]\n',
            'policy.toml:4: [users] "alice": unknown role "ghost"',
            id="unknown role of a user",
        ),
        pytest.param(
            '[roles.ops]\nactions = "action.job.cancel"\n',
            'policy.toml:2: [roles.ops] "actions": expected a list of strings',
            id="actions not a list",
        ),
        pytest.param(
            '[roles.ops]\nactions = ["action.job.cancel"]\nprojects = "payments"\n',
            'policy.toml:3: [roles.ops] "projects": expected a list of strings',
            id="projects not a list",
        ),
        pytest.param(
            '[roles.ops]\nactions = []\n[users]\nalice = "ops"\n',
            'policy.toml:4: [users] "alice": expected a list of strings',
            id="user roles not a list",
        ),
        pytest.param("roles = 3\n", 'policy.toml:1: "roles" must be a table', id="roles not a table"),
        pytest.param(
            '[users]\n"" = []\n', 'policy.toml:2: [users] "": a user name must not be empty', id="empty user"
        ),
        pytest.param(
            '[users]\n" root" = []\n',
            'policy.toml:2: [users] " root": a user name must not start or end with a space',
            id="user with a space",
        ),
        pytest.param(
            '[users]\n"root\\t" = []\n',
            'policy.toml:2: [users] "root\t": a user name must not start or end with a space',
            id="user with a tab",
        ),
        pytest.param(  # found by review: installed without a word, it matched nobody
            '[users]\n"*" = []\n',
            'policy.toml:2: [users] "*": matches no login ("*" is every project in a role\'s projects)',
            id="user star",
        ),
        pytest.param(
            '[users]\n"ro\\u001bot" = []\n',
            'policy.toml:2: [users] "ro\x1bot": a user name must not hold control or invisible characters',
            id="user with ESC",
        ),
        pytest.param(
            '[users]\n"ro\\u200bot" = []\n',
            'policy.toml:2: [users] "ro\u200bot": a user name must not hold control or invisible characters',
            id="user with a zero-width space",
        ),
        pytest.param(
            "[roles.ops]\nactions = []\nprojects = []\n",
            'policy.toml:3: [roles.ops] "projects": names no project (write ["*"] for every project)',
            id="no project",
        ),
        pytest.param(
            '[roles.ops]\nactions = []\nprojects = ["*", ""]\n',
            'policy.toml:3: [roles.ops] "projects": item 2 ("") must not be empty',
            id="empty project",
        ),
        pytest.param(
            '[roles.ops]\nactions = []\nprojects = ["web "]\n',
            'policy.toml:3: [roles.ops] "projects": item 1 ("web ") must not start or end with a space',
            id="project with a space",
        ),
        pytest.param(
            '[roles.ops]\nactions = []\nprojects = ["w\\u001beb"]\n',
            'policy.toml:3: [roles.ops] "projects": item 1 ("w\x1beb") must not hold control or '
            "invisible characters",
            id="project with ESC",
        ),
    ],
)
def test_policy_errors_name_the_file_the_line_and_the_field(text: str, expected: str) -> None:
    with pytest.raises(PolicyError) as error:
        parse_policy(text, "policy.toml")
    assert str(error.value) == expected


def test_every_policy_error_is_reported_at_once() -> None:
    text = '[roles.ops]\nactions = ["action.job.explode"]\n[users]\nalice = ["ghost"]\n'
    with pytest.raises(PolicyError) as error:
        parse_policy(text, "policy.toml")
    assert str(error.value).splitlines() == [
        'policy.toml:2: [roles.ops] "actions": unknown action "action.job.explode"',
        'policy.toml:4: [users] "alice": unknown role "ghost"',
    ]


def test_a_list_with_an_item_that_is_no_string_has_its_strings_checked_too() -> None:
    text = (
        '[roles.ops]\nactions = ["action.job.cancel", 3, "action.job.bogus"]\n'
        '[users]\nalice = ["ops", true, "ghost"]\n'
    )
    with pytest.raises(PolicyError) as error:
        parse_policy(text, "policy.toml")
    assert str(error.value).splitlines() == [
        'policy.toml:2: [roles.ops] "actions": expected a list of strings, but item 2 is 3',
        'policy.toml:2: [roles.ops] "actions": unknown action "action.job.bogus"',
        'policy.toml:4: [users] "alice": expected a list of strings, but item 2 is true',
        'policy.toml:4: [users] "alice": unknown role "ghost"',
    ]


def test_invalid_toml_is_a_policy_error_naming_the_file() -> None:
    with pytest.raises(PolicyError) as error:
        parse_policy("[roles.ops\nactions = []\n", "/etc/jobtui/policy.toml")
    assert str(error.value).startswith("/etc/jobtui/policy.toml: invalid TOML: ")


def test_a_missing_policy_file_is_a_policy_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(PolicyError) as error:
        load_policy(missing)
    assert str(error.value) == f"{missing}: cannot read policy file: No such file or directory"


def test_the_cli_refuses_a_bad_policy_as_bad_input(
    tmp_path: Path, db_url: str, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "policy.toml"
    path.write_text('[roles.ops]\nactions = ["action.job.explode"]\n', encoding="utf-8")
    assert cli.main(["jobs", "--db", db_url, "--policy", str(path)]) == cli.EXIT_BAD_INPUT
    assert (
        capsys.readouterr().err.strip()
        == f'{path}:2: [roles.ops] "actions": unknown action "action.job.explode"'
    )


def test_the_cli_shows_a_control_character_of_a_refused_user_name_visibly(
    tmp_path: Path, db_url: str, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "policy.toml"
    path.write_text('[users]\n"root\\u001b]0;x\\u0007" = []\n', encoding="utf-8")
    assert cli.main(["jobs", "--db", db_url, "--policy", str(path)]) == cli.EXIT_BAD_INPUT
    assert (
        capsys.readouterr().err.strip()
        == f'{path}:2: [users] "root^[]0;x^G": a user name must not hold control or invisible characters'
    )


# -- single-user mode --------------------------------------------------------------------------------------


def test_without_a_policy_everything_is_allowed(jobs: Jobs, store: Store) -> None:
    anyone = as_user(store, "anyone", None)
    assert anyone.actor.single_user
    gated = jobs.run(approval_def("payments", approvers='["somebody-else"]'), Status.APPROVAL)
    job_id = anyone.submit(definition(plain_def("payments")))
    reasons = anyone.allowed(job_id)
    assert set(reasons) == set(ACTIONS)
    # Only the status limits a single user: nothing is refused for want of a permission.
    assert all(reason is None or " lacks " not in reason for reason in reasons.values())
    for action in ("cancel", "delete", "rerun", "reschedule"):
        assert reasons[action] is None
    anyone.approve(gated)  # not a listed approver, and no approve_all: single-user mode needs neither
    anyone.queue_pause()
    anyone.queue_resume()
    assert anyone.queue_clear() == [gated, job_id]
    assert status_of(store, gated) == Status.CANCELED
    assert Actor.resolve(None, "someone-else") == Actor("someone-else", None)


# -- deny by default: each permission ----------------------------------------------------------------------

# (action, permission it needs, status the job must be in for the action to be allowed)
JOB_ACTION_CASES = [
    ("approve", Perm.APPROVE_ALL, Status.APPROVAL),
    ("reject", Perm.APPROVE_ALL, Status.APPROVAL),
    ("cancel", Perm.CANCEL, Status.READY),
    ("delete", Perm.DELETE, Status.FINISHED),
    ("rerun", Perm.RESTART, Status.FINISHED),
    ("reschedule", Perm.RESTART, Status.READY),
    ("retry", Perm.RESTART, Status.ERROR),
    ("trap_retry", Perm.RESTART, Status.TRAPPED),
    ("trap_skip", Perm.RESTART, Status.TRAPPED),
    ("trap_abort", Perm.RESTART, Status.TRAPPED),
    ("trap_pause", Perm.RESTART, Status.TRAPPED),
    ("trap_resume", Perm.RESTART, Status.TRAP_PAUSED),
    ("rollback", Perm.ROLLBACK, Status.FINISHED),
]


def lacks(action: str, user: str, permission: Perm, project: str) -> str:
    message = f"{display_action(action)}: {user} lacks {permission.value} on project {project}"
    if action in ("approve", "reject"):
        message += " and is not a listed approver"
    return message


@pytest.mark.parametrize(
    ("action", "permission", "status"), JOB_ACTION_CASES, ids=[c[0] for c in JOB_ACTION_CASES]
)
def test_a_job_action_needs_its_permission(
    action: str, permission: Perm, status: Status, jobs: Jobs, store: Store
) -> None:
    assert ACTIONS[action].permission == permission
    policy = holder_and_other(permission.value)
    job_id = jobs.in_status(status, project="payments")
    other, holder = as_user(store, "other", policy), as_user(store, "holder", policy)
    expected = lacks(action, "other", permission, "payments")
    before = snapshot(store)

    assert other.allowed(job_id)[action] == expected
    with pytest.raises(Refused) as refused:
        perform(other, action, job_id, "not mine to do")

    assert str(refused.value) == expected
    assert snapshot(store) == before

    assert holder.allowed(job_id)[action] is None
    perform(holder, action, job_id, "mine to do")
    rows = [row for row in audit_rows(store, job_id) if row[2] == display_action(action)]
    assert [row[1] for row in rows] == ["holder"]


def test_the_permission_check_comes_before_the_status_check(jobs: Jobs, store: Store) -> None:
    policy = holder_and_other(Perm.CANCEL.value)
    job_id = jobs.in_status(Status.FINISHED, project="payments")  # cancel is not allowed from FINISHED anyway
    other, holder = as_user(store, "other", policy), as_user(store, "holder", policy)
    assert other.allowed(job_id)["cancel"] == "cancel: other lacks action.job.cancel on project payments"
    assert holder.allowed(job_id)["cancel"] == (
        f"cancel: job {job_id} is FINISHED; allowed from READY, RUNNING, APPROVAL, REJECTED, EXPIRED, "
        "TRAPPED, TRAP_PAUSED, PAUSED"
    )


def test_queued_counts_every_job_a_clear_would_cancel_and_those_the_actor_may_not_view(
    store: Store, submit: Callable[..., int], clock: FakeClock
) -> None:
    """The clear dialog's counts: the queued jobs a clear cancels (every project's: it counted only those
    olga may view, 2 where the clear canceled 3), of them those not due yet (a RUN date ahead), which a
    clear cancels too, and those in projects she may not view (counted, never named)."""
    policy = make_policy(
        {"payments": ([Perm.VIEW.value], ["payments"]), "admin": ([Perm.QUEUE_ADMIN.value], ["*"])},
        {"olga": ["payments", "admin"]},
    )
    submit(plain_def("payments"))
    submit(plain_def("payments"), at="+1h")
    submit(plain_def("web"))
    olga = as_user(store, "olga", policy)

    assert olga.queued() == Queued(jobs=3, not_due=1, hidden=1)
    assert Actions(store, Actor("tester")).queued() == Queued(jobs=3, not_due=1, hidden=0)
    clock.advance(3600)
    assert olga.queued() == Queued(jobs=3, not_due=0, hidden=1)  # due now: the engine may start it
    assert len(olga.queue_clear()) == 3  # the number the dialog said
    assert olga.queued() == Queued(jobs=0, not_due=0, hidden=0)


@pytest.mark.parametrize("what", ["queue_pause", "queue_resume", "queue_clear"])
def test_the_queue_needs_queue_admin(what: str, store: Store, submit: Callable[..., int]) -> None:
    policy = holder_and_other(Perm.QUEUE_ADMIN.value)
    queued = submit(plain_def("payments"))
    other, holder = as_user(store, "other", policy), as_user(store, "holder", policy)
    setup = [("holder", "queue pause", False)] if what == "queue_resume" else []
    if setup:
        holder.queue_pause()  # a resume of a running queue changes nothing
    before = snapshot(store)

    with pytest.raises((Refused, PermissionRefused)) as refused:
        getattr(other, what)()

    assert str(refused.value) == f"{display_action(what)}: other lacks action.queue.admin on project *"
    assert snapshot(store) == before

    getattr(holder, what)()
    assert holder.queue_state().paused == (what == "queue_pause")
    if what == "queue_clear":
        assert status_of(store, queued) == Status.CANCELED
    assert query(store, "SELECT who, action, refused FROM audit WHERE job_id = 0 ORDER BY id") == [
        *setup,
        ("other", display_action(what), True),
        ("holder", display_action(what), False),
    ]


def test_submit_needs_create_on_the_definitions_project(store: Store) -> None:
    policy = holder_and_other(Perm.CREATE.value)
    other, holder = as_user(store, "other", policy), as_user(store, "holder", policy)
    before = snapshot(store)

    with pytest.raises(Refused) as refused:
        other.submit(definition(plain_def("payments")))

    assert str(refused.value) == "submit: other lacks action.job.create on project payments"
    assert snapshot(store) == before

    job_id = holder.submit(definition(plain_def("payments")))
    job = job_of(store, job_id)
    assert (job.owner, job.project, job.status) == ("holder", "payments", Status.READY)
    assert [row[1:5] for row in audit_rows(store, job_id)] == [("holder", "submit", None, "READY")]


def write_policy(
    tmp_path: Path, roles: dict[str, tuple[list[str], list[str] | None]], users: dict[str, list[str]]
) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(policy_text(roles, users), encoding="utf-8")
    return path


@pytest.mark.parametrize("has_view", [True, False])
def test_show_and_jobs_need_view_monitor(
    has_view: bool,
    tmp_path: Path,
    db_url: str,
    submit: Callable[..., int],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The CLI acts as the OS login, so the policy names the real user.
    me = permissions.login_name()
    permission = Perm.VIEW.value
    granted = [permission] if has_view else [p for p in ALL_PERMISSIONS if p != permission]
    path = write_policy(tmp_path, {"me": (granted, ["payments"])}, {me: ["me"]})
    payments = submit(plain_def("payments", "pay"))
    web = submit(plain_def("web", "site"))
    common = ["--db", db_url, "--policy", str(path), "--json"]

    code = cli.main(["show", str(payments), *common])
    out, err = capsys.readouterr()
    if has_view:
        assert code == cli.EXIT_OK
        assert json.loads(out)["id"] == payments
    else:
        assert code == cli.EXIT_REFUSED
        assert err.strip() == f"show: {me} lacks action.job.view_monitor on project payments"

    code = cli.main(["show", str(web), *common])
    out, err = capsys.readouterr()
    assert code == cli.EXIT_REFUSED, "view_monitor on payments does not reach project web"
    assert err.strip() == f"show: {me} lacks action.job.view_monitor on project web"

    assert cli.main(["jobs", *common]) == cli.EXIT_OK
    listed = [job["id"] for job in json.loads(capsys.readouterr().out)]
    assert listed == ([payments] if has_view else [])


def test_a_user_the_policy_does_not_name_may_do_nothing(jobs: Jobs, store: Store) -> None:
    policy = make_policy({"ops": (ALL_PERMISSIONS, ["*"])}, {"alice": ["ops"]})
    stranger = as_user(store, "stranger", policy)
    job_id = jobs.in_status(Status.READY, project="payments")
    before = snapshot(store)

    reasons = stranger.allowed(job_id)

    assert reasons == {
        action: lacks(action, "stranger", ACTIONS[action].permission, "payments") for action in ACTIONS
    }
    for action in ACTIONS:
        with pytest.raises(Refused):
            perform(stranger, action, job_id)
    with pytest.raises(Refused):
        stranger.submit(definition(plain_def("payments")))
    with pytest.raises((Refused, PermissionRefused)):
        stranger.queue_pause()
    assert snapshot(store) == before


# -- project scopes ----------------------------------------------------------------------------------------

JOB_PERMISSIONS = [p.value for p in Perm if p.value.startswith("action.job.")]


def test_a_role_scoped_to_a_project_cannot_act_on_another(jobs: Jobs, store: Store) -> None:
    policy = make_policy(
        {"payments_ops": (JOB_PERMISSIONS, ["payments"]), "all_ops": (JOB_PERMISSIONS, ["*"])},
        {"alice": ["payments_ops"], "root": ["all_ops"]},
    )
    alice, root = as_user(store, "alice", policy), as_user(store, "root", policy)
    web = jobs.in_status(Status.READY, project="web")
    payments = jobs.in_status(Status.READY, project="payments")
    before = snapshot(store)

    for action in ("cancel", "reschedule", "delete"):
        assert alice.allowed(web)[action] == lacks(action, "alice", ACTIONS[action].permission, "web")
    with pytest.raises(Refused, match=r"^cancel: alice lacks action\.job\.cancel on project web$"):
        alice.cancel(web)
    with pytest.raises(Refused, match=r"^submit: alice lacks action\.job\.create on project web$"):
        alice.submit(definition(plain_def("web")))
    assert snapshot(store) == before

    alice.cancel(payments)
    assert status_of(store, payments) == Status.CANCELED
    root.cancel(web)  # "*" is every project
    assert status_of(store, web) == Status.CANCELED
    assert root.allowed(jobs.in_status(Status.READY, project="hr"))["cancel"] is None


# -- approvers ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_listed_approvers_decide_without_approve_all(decision: str, jobs: Jobs, store: Store) -> None:
    policy = make_policy(
        {
            "release": ([Perm.VIEW.value], ["*"]),
            "ops": ([p for p in ALL_PERMISSIONS if p != Perm.APPROVE_ALL.value], ["*"]),
        },
        {"carol": [], "dave": ["release"], "erin": ["ops"]},
    )
    approvers = '["carol", "role:release"]'
    refused_message = lacks(decision, "erin", Perm.APPROVE_ALL, "payments")
    erin = as_user(store, "erin", policy)
    # Both jobs wait for approval before anyone decides, so no op runs while the database is compared.
    waiting = {
        user: jobs.run(approval_def("payments", approvers=approvers), Status.APPROVAL)
        for user in ("carol", "dave")  # listed by name, listed by role
    }

    for user, job_id in waiting.items():
        before = snapshot(store)
        assert erin.allowed(job_id)[decision] == refused_message
        with pytest.raises(Refused) as refused:
            perform(erin, decision, job_id, "me too")
        assert str(refused.value) == refused_message
        assert snapshot(store) == before

        approver = as_user(store, user, policy)
        assert approver.allowed(job_id)[decision] is None
        perform(approver, decision, job_id, "decided")
        expected = Status.READY if decision == "approve" else Status.REJECTED
        assert status_of(store, job_id) == expected
        assert audit_rows(store, job_id)[-1][1:3] == (user, decision)
        # Being an approver grants nothing else.
        assert approver.allowed(job_id)["delete"] == lacks("delete", user, Perm.DELETE, "payments")


# -- impersonation -----------------------------------------------------------------------------------------


def test_impersonation_needs_action_admin_impersonate(jobs: Jobs, store: Store) -> None:
    me = permissions.login_name()
    policy = make_policy({"ops": ([Perm.CANCEL.value], ["*"])}, {me: ["ops"], "bob": ["ops"]})

    with pytest.raises(PermissionRefused) as refused:
        Actor.resolve(policy, "bob")

    assert str(refused.value) == f"--as bob: {me} lacks action.admin.impersonate"
    assert Actor.resolve(policy) == Actor(me, policy)
    assert Actor.resolve(policy, me) == Actor(me, policy), "acting as oneself needs no permission"


def test_an_impersonator_acts_and_is_audited_as_the_other_user(jobs: Jobs, store: Store) -> None:
    me = permissions.login_name()
    policy = make_policy(
        {"admin": ([Perm.IMPERSONATE.value], ["*"]), "ops": ([Perm.CANCEL.value], ["*"])},
        {me: ["admin"], "bob": ["ops"]},
    )
    actor = Actor.resolve(policy, "bob")
    assert actor == Actor("bob", policy)
    job_id = jobs.in_status(Status.READY, project="payments")

    Actions(store, actor).cancel(job_id, "on behalf of bob")

    assert audit_rows(store, job_id)[-1][1:6] == ("bob", "cancel", "READY", "CANCELED", "on behalf of bob")
    # The impersonated user's own permissions apply, not the impersonator's.
    other = jobs.in_status(Status.FINISHED, project="payments")
    with pytest.raises(Refused, match=r"^rerun: bob lacks action\.job\.restart on project payments$"):
        Actions(store, actor).rerun(other, "PRE")


def test_the_cli_as_option_impersonates_only_for_holders(
    jobs: Jobs, store: Store, tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    me = permissions.login_name()
    job_id = jobs.in_status(Status.READY, project="payments")
    args = ["cancel", str(job_id), "--db", db_url, "--as", "bob"]

    without = write_policy(tmp_path, {"ops": ([Perm.CANCEL.value], ["*"])}, {me: ["ops"], "bob": ["ops"]})
    assert cli.main([*args, "--policy", str(without)]) == cli.EXIT_REFUSED
    assert capsys.readouterr().err.strip() == f"cancel --as bob: {me} lacks action.admin.impersonate"
    assert status_of(store, job_id) == Status.READY

    with_it = write_policy(
        tmp_path,
        {"admin": ([Perm.IMPERSONATE.value], ["*"]), "ops": ([Perm.CANCEL.value], ["*"])},
        {me: ["admin"], "bob": ["ops"]},
    )
    assert cli.main([*args, "--policy", str(with_it)]) == cli.EXIT_OK
    assert status_of(store, job_id) == Status.CANCELED
    assert audit_rows(store, job_id)[-1][1:3] == ("bob", "cancel")


# -- what the dashboard enables ----------------------------------------------------------------------------


def test_allowed_gives_none_or_the_reason_for_every_action(jobs: Jobs, store: Store) -> None:
    policy = make_policy(
        {"restarter": ([Perm.RESTART.value, Perm.VIEW.value], ["payments"])}, {"alice": ["restarter"]}
    )
    alice = as_user(store, "alice", policy)
    job_id = jobs.in_status(Status.READY, project="payments")

    reasons = alice.allowed(job_id)

    assert set(reasons) == set(ACTIONS)
    assert reasons["rerun"] is None
    assert reasons["reschedule"] is None
    assert reasons["cancel"] == "cancel: alice lacks action.job.cancel on project payments"
    assert reasons["delete"] == "delete: alice lacks action.job.delete on project payments"
    assert reasons["rollback"] == "rollback: alice lacks action.job.rollback on project payments"
    assert reasons["approve"] == lacks("approve", "alice", Perm.APPROVE_ALL, "payments")
    assert reasons["trap_retry"] == f"trap retry: job {job_id} is READY; allowed from TRAPPED, TRAP_PAUSED"
    assert reasons["retry"] == f"retry: job {job_id} is READY; allowed from ABEND, PARTIAL, ERROR"
    assert alice.allowed(424242) == {}

    # Every reason given is exactly what doing it says, and doing it changes nothing.
    before = snapshot(store)
    for action, reason in reasons.items():
        if reason is None:
            continue
        with pytest.raises(Refused) as refused:
            perform(alice, action, job_id)
        assert str(refused.value) == reason
    assert snapshot(store) == before
    # And what is enabled works.
    alice.reschedule(job_id, "+1h")
    alice.rerun(job_id, "PRE")
    assert job_of(store, job_id).exec == 2


# -- refusals and impersonation in the audit trail (issue 14, item 3) --------------------------------------


def _audit_json(store: Store, job_id: int) -> list[dict[str, object]]:
    from jobtui.engine.service.views import audit_json

    return audit_json(store, job_id)


def test_a_refused_action_is_audited_and_leaves_the_job_as_it_was(jobs: Jobs, store: Store) -> None:
    job_id = jobs.in_status(Status.FINISHED, project="payments")
    before = len(_audit_json(store, job_id))
    policy = make_policy({"ops": ([Perm.CANCEL.value], ["*"])}, {"carol": ["ops"]})

    with pytest.raises(Refused) as refused:
        Actions(store, Actor("carol", policy)).cancel(job_id, "stop it")

    rows = _audit_json(store, job_id)
    assert len(rows) == before + 1
    row = rows[-1]
    assert row["refused"] is True
    assert (row["who"], row["action"], row["from"], row["to"]) == ("carol", "cancel", "FINISHED", None)
    assert row["comment"] == str(refused.value)
    assert row["by"] is None
    assert status_of(store, job_id) == "FINISHED"


def test_a_permission_refusal_of_the_queue_is_audited_on_the_queues_trail(store: Store) -> None:
    policy = make_policy({"viewer": ([Perm.VIEW.value], ["*"])}, {"dave": ["viewer"]})
    with pytest.raises(PermissionRefused):
        Actions(store, Actor("dave", policy)).queue_pause("lunch")
    row = _audit_json(store, 0)[-1]
    assert (row["who"], row["action"], row["refused"]) == ("dave", "queue pause", True)
    assert "dave lacks action.queue.admin" in str(row["comment"])


def test_a_refused_view_is_audited(jobs: Jobs, store: Store) -> None:
    from jobtui.engine.service.reads import Reads

    job_id = jobs.in_status(Status.FINISHED, project="payments")
    policy = make_policy({"web": ([Perm.VIEW.value], ["web"])}, {"erin": ["web"]})
    with pytest.raises(PermissionRefused):
        Reads(store, Actor("erin", policy)).detail(job_id, "show")
    row = _audit_json(store, job_id)[-1]
    assert (row["who"], row["action"], row["refused"]) == ("erin", "show", True)


def test_an_impersonated_action_records_the_real_user_as_by(jobs: Jobs, store: Store) -> None:
    me = permissions.login_name()
    policy = make_policy(
        {"admin": ([Perm.IMPERSONATE.value], ["*"]), "ops": ([Perm.CANCEL.value], ["*"])},
        {me: ["admin", "ops"], "bob": ["ops"]},
    )
    job_id = jobs.in_status(Status.READY, project="payments")
    Actions(store, Actor.resolve(policy, "bob")).cancel(job_id, "on behalf of bob")
    row = _audit_json(store, job_id)[-1]
    assert (row["who"], row["by"], row["action"], row["refused"]) == ("bob", me, "cancel", False)
    # Acting as oneself is no impersonation.
    other = jobs.in_status(Status.READY, project="payments")
    Actions(store, Actor.resolve(policy)).cancel(other)
    assert _audit_json(store, other)[-1]["by"] is None
