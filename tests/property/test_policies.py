"""Random policies: whatever roles and users a policy file names, every read and every action decides
exactly as its roles say, the same way for the listing, one job's detail and the actions (issue 14)."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from functools import cache
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobtui.engine.db.store import Store
from jobtui.engine.domain.permissions import Actor, PermissionRefused
from jobtui.engine.domain.states import Perm
from jobtui.engine.formats.policy_file import parse_policy
from jobtui.engine.read.listing import JobFilter, JobListing, JobSort, scope_of
from jobtui.engine.service.actions import Actions
from jobtui.engine.service.reads import Reads
from tests.support.helpers import definition

PROJECTS = ("web", "ops", "payments")
PERMISSIONS = [p.value for p in Perm]
USERS = ("alice", "bob")

ROLES = st.dictionaries(
    st.sampled_from(["r1", "r2", "r3"]),
    st.tuples(
        st.lists(st.sampled_from(PERMISSIONS), unique=True, max_size=4),
        st.lists(st.sampled_from([*PROJECTS, "*"]), unique=True, min_size=1, max_size=2),
    ),
    max_size=3,
)


@st.composite
def policies(draw: st.DrawFn) -> tuple[str, dict[str, tuple[list[str], list[str]]], dict[str, list[str]]]:
    roles = draw(ROLES)
    names = st.lists(st.sampled_from(sorted(roles)), unique=True, max_size=2) if roles else st.just([])
    users = {user: draw(names) for user in USERS}
    lines = []
    for name, (actions, projects) in roles.items():
        lines += [
            f"[roles.{name}]",
            f"actions = {actions!r}".replace("'", '"'),
            f"projects = {projects!r}".replace("'", '"'),
        ]
    lines.append("[users]")
    lines += [f"{user} = {names!r}".replace("'", '"') for user, names in users.items()]
    return "\n".join(lines) + "\n", roles, users


def grants(
    roles: dict[str, tuple[list[str], list[str]]], names: list[str], permission: str, project: str
) -> bool:
    """The rule, stated independently: some role of the user names the permission and the project (or *)."""
    return any(
        permission in roles[name][0] and (project in roles[name][1] or "*" in roles[name][1])
        for name in names
        if name in roles
    )


@cache
def shared_store() -> tuple[Store, dict[str, int]]:
    """One database with one job per project, built once: each example only reads it."""
    folder = Path(tempfile.mkdtemp(prefix="jobtui-policies-"))
    atexit.register(shutil.rmtree, folder, True)
    store = Store(f"sqlite:///{folder / 'jobs.db'}")
    actions = Actions(store, Actor("tester"))
    jobs = {
        project: actions.submit(
            definition(f'name = "{project}-job"\nproject = "{project}"\n[[run]]\nrun = "true"\n')
        )
        for project in PROJECTS
    }
    return store, jobs


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(policy=policies(), user=st.sampled_from(USERS))
def test_every_decision_follows_the_roles(
    policy: tuple[str, dict[str, tuple[list[str], list[str]]], dict[str, list[str]]], user: str
) -> None:
    text, roles, users = policy
    actor = Actor(user, parse_policy(text, "random.toml"))
    for permission in PERMISSIONS:
        for project in PROJECTS:
            assert actor.may(permission, project) == grants(roles, users[user], permission, project)

    store, jobs = shared_store()
    viewable = {p for p in PROJECTS if grants(roles, users[user], Perm.VIEW.value, p)}
    # The listing (driver-level) and its counts.
    listing = JobListing(store.reader, scope_of(actor))
    listed = {row.project for row in listing.window(JobFilter(), JobSort(), 0, 50)}
    assert listed == viewable
    assert listing.count(JobFilter()) == len(viewable)
    # One job's detail through the scoped read path, refused exactly where the listing hides it.
    reads = Reads(store, actor)
    for project, job_id in jobs.items():
        try:
            reads.detail(job_id, "show")
            shown = True
        except PermissionRefused as refused:
            shown = False
            assert str(refused) == f"show: {user} lacks {Perm.VIEW.value} on project {project}"
        assert shown == (project in viewable)
    # The actions a job offers: cancel (READY jobs) exactly when the roles grant it.
    for project, job_id in jobs.items():
        allowed = Actions(store, actor).allowed(job_id)
        assert (allowed["cancel"] is None) == grants(roles, users[user], Perm.CANCEL.value, project)
